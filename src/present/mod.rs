//! What is shown: below the front-ends (the command line, the REPL, the kernel, the server)
//! and above the records. Each front-end prints or sends what these functions make; none of
//! them imports another front-end.
//!
//! | file        | holds                                                                  |
//! |-------------|------------------------------------------------------------------------|
//! | `term.rs`   | terminal helpers: stdout on a closing pipe, colour, escapes, tables    |
//! | `summary.rs`| a workflow's summary: steps, parameters, storages                      |
//! | `record.rs` | records as text: executions, one execution, why a step has no log      |
//! | `dag.rs`    | the DAG's layout (coordinates), drawn by the kernel and the console    |

pub mod dag;
pub mod record;
pub mod summary;
pub mod term;
