//! The sandbox a `.rhai` script runs in (the `wf` surface is registered on it by
//! `crate::bindings`; `crate::loader` runs a script and keeps its workflow).
//!
//! | file          | holds                                                             |
//! |---------------|-------------------------------------------------------------------|
//! | `engine.rs`   | the engine: limits, the meter, reserved words, where errors point   |
//! | `resolver.rs` | `import`: beside the script, then the shipped `stdlib/`, no escape  |
//! | `errors.rs`   | Rhai's errors turned into diagnostics that name the limit or name   |

pub mod engine;
pub mod errors;
pub mod resolver;
