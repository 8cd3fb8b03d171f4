//! Running a workflow: the engine that owns an execution's life, the scheduler that drives
//! it, the backend seam every step kind plugs into, and what a step resolves to.
//!
//! | file           | holds                                                               |
//! |----------------|---------------------------------------------------------------------|
//! | `engine.rs`    | prepare, lock, run, debug, resume, retry, proceed, stop; the runtime |
//! | `prepare.rs`   | a run's request checked into a setup; a setup rebuilt from records   |
//! | `scheduler.rs` | the scheduler: slots, flavors, attempts, retries, timeouts, stops    |
//! | `backend.rs`   | the `Backend` trait: plan, run an attempt, clean up                 |
//! | `decide.rs`    | pure wait/skip/run decisions, each with its sentence                |
//! | `resolve.rs`   | values, paths, selectors, metrics and conditions for one execution   |
//! | `events.rs`    | the event sink and its listeners; the prompter                      |
//! | `cancel.rs`    | the cancellation token, with the reason of who cancelled             |
//! | `signals.rs`   | Ctrl-C and SIGTERM as cancellation, for front-ends that want them    |
//! | `lock.rs`      | one runner per execution (`flock`)                                  |
//! | `error.rs`     | the engine's errors and the exit status of each                     |
//! | `metrics.rs`   | reading and validating a job's metrics file (the manual's formats)   |
//! | `params.rs`    | `-p NAME=VALUE` and parameter files, checked against placeholders    |

pub mod backend;
pub mod cancel;
pub mod decide;
pub mod engine;
pub mod error;
pub mod events;
pub mod lock;
pub mod metrics;
pub mod params;
pub mod prepare;
pub mod resolve;
pub mod scheduler;
pub mod signals;
pub mod slots;
