//! `wf`: ML workflows as code. A `.rhai` script builds a workflow with the `wf` namespace
//! (the ModelArts Workflow SDK, name for name); `wf` checks it, draws it and runs it here.
//!
//! See `ARCHITECTURE.md` for the map of modules and the words they use.

pub mod backends;
pub mod bindings;
pub mod catalog;
pub mod cli;
pub mod datasets;
pub mod diag;
pub mod exec;
pub mod gallery;
pub mod kernel;
pub mod loader;
pub mod model;
pub mod models;
pub mod notify;
pub mod pools;
pub mod registry;
pub mod repl;
pub mod script;
pub mod serve;
pub mod services;
pub mod session;
pub mod store;
