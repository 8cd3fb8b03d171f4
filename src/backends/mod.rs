//! The local counterparts of the reference's phase kinds, one module per kind.
//!
//! | file     | phase kind                                                       |
//! |----------|------------------------------------------------------------------|
//! | `job.rs` | JobStep: child processes in their own process group, with logs    |

pub mod job;
