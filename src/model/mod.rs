//! What a script builds, independent of how it runs.
//!
//! | file            | holds                                                        |
//! |-----------------|--------------------------------------------------------------|
//! | `val.rs`        | values and objects, each with the place that created it       |
//! | `workflow.rs`   | the workflow read as steps, dependencies, parameters, storages |
//! | `validate.rs`   | every rule of the reference, all errors at once               |
//! | `graph.rs`      | the step DAG (petgraph): order, cycles, dot and mermaid       |
//! | `definition.rs` | the JSON definition, written and read back                    |
//! | `kind.rs`       | the kinds of step, one backend each                           |
//! | `spec.rs`       | each kind's arguments as a typed spec, what backends plan from |
//! | `status.rs`     | execution and step statuses, read strictly                    |

pub mod definition;
pub mod graph;
pub mod kind;
pub mod spec;
pub mod status;
pub mod val;
pub mod validate;
pub mod workflow;
