//! Running a `.rhai` script in the sandbox and getting its workflow.
//!
//! | file          | holds                                                             |
//! |---------------|-------------------------------------------------------------------|
//! | `engine.rs`   | the engine: limits, reserved-word fixes, `wf` everywhere, loading   |
//! | `resolver.rs` | `import`: beside the script, then the shipped `stdlib/`, no escape  |
//! | `diag.rs`     | diagnostics and their rendering                                     |
//! | `errors.rs`   | Rhai's errors turned into diagnostics that name the limit or name   |

pub use crate::diag;
pub mod engine;
pub mod errors;
pub mod resolver;
