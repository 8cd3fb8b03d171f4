//! The local counterparts of the reference's step kinds, one module per kind, each a
//! [`Backend`](crate::exec::backend::Backend) the scheduler drives.
//!
//! | module         | step kind                                                          |
//! |----------------|--------------------------------------------------------------------|
//! | `job/`         | JobStep: child processes in their own process groups, with logs     |
//! | `condition.rs` | ConditionStep: evaluated in process                                 |
//! | `model.rs`     | ModelStep: a version in the home's model registry (`crate::models`) |
//! | `service.rs`   | ServiceStep: a supervised local HTTP service (`crate::services`)    |
//! | `mrs.rs`       | MrsJobStep: `spark-submit` to a registered cluster or `local[*]`     |
//! | `dataset.rs`   | CreateDataset, DatasetImport, Labeling, ReleaseDataset steps on the |
//! |                | local dataset service (`crate::datasets`)                           |
//!
//! Adding a kind: a module here implementing `Backend`, and its arm in [`backend`].

mod args;
pub mod condition;
pub mod dataset;
pub mod job;
pub mod model;
pub mod mrs;
pub mod service;

use crate::exec::backend::Backend;
use crate::model::kind::StepKind;

/// The backend of each step kind on this machine; `None` where there is none yet.
pub fn backend(kind: StepKind) -> Option<&'static dyn Backend> {
    match kind {
        StepKind::Job => Some(&job::JobBackend),
        StepKind::Condition => Some(&condition::ConditionBackend),
        StepKind::CreateDataset
        | StepKind::Labeling
        | StepKind::DatasetImport
        | StepKind::ReleaseDataset => Some(&dataset::DatasetBackend),
        StepKind::Model => Some(&model::ModelBackend),
        StepKind::MrsJob => Some(&mrs::MrsBackend),
        StepKind::Service => Some(&service::ServiceBackend),
    }
}
