//! Running a workflow: an execution, its scheduler, and what each step resolves to.
//!
//! | file          | holds                                                              |
//! |---------------|--------------------------------------------------------------------|
//! | `metrics.rs`  | reading and validating a job's metrics file (the manual's formats)  |
//! | `params.rs`   | `-p NAME=VALUE` and parameter files, checked against placeholders   |
//! | `flavors.rs`  | this machine's resource flavors                                     |

pub mod decide;
pub mod dev;
pub mod flavors;
pub mod metrics;
pub mod params;
pub mod progress;
pub mod resolve;
pub mod runner;
