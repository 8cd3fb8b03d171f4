//! The integration tests, in one binary: one link of the test code instead of six, and one
//! harness (`test`) through which every test starts `wf`.
//!
//! `cargo test --test integration run::` runs one module's tests; `UPDATE_GOLDEN=1 cargo test`
//! rewrites the golden files of `invalid` and `scripts`. The suites that need tools beyond
//! Rust and Python 3 (tmux, Chromium, Spark, Jupyter, Ray, Slurm) get them through `tools`,
//! which installs what it can and otherwise skips them loudly.

mod test;
mod tools;

mod api;
mod console;
mod datasets;
mod faults;
mod gallery;
mod invalid;
mod kernel;
mod layers;
mod notify;
mod pools;
mod repl;
mod run;
mod scripts;
mod serve;
mod services;
mod spark;
mod surface;
