//! The kinds of step, one per step class of the reference. Each kind has one backend
//! (`src/backends/`); the text is what definitions and records call it.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Job,
    Condition,
    CreateDataset,
    Labeling,
    DatasetImport,
    ReleaseDataset,
    Model,
    Service,
    MrsJob,
}

impl StepKind {
    pub const ALL: [StepKind; 9] = [
        StepKind::Job,
        StepKind::Condition,
        StepKind::CreateDataset,
        StepKind::Labeling,
        StepKind::DatasetImport,
        StepKind::ReleaseDataset,
        StepKind::Model,
        StepKind::Service,
        StepKind::MrsJob,
    ];

    /// The kind of a step class (`JobStep`, ...); `None` for classes that are not steps.
    pub fn of_class(class: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.class() == class)
    }

    pub fn class(self) -> &'static str {
        match self {
            StepKind::Job => "JobStep",
            StepKind::Condition => "ConditionStep",
            StepKind::CreateDataset => "CreateDatasetStep",
            StepKind::Labeling => "LabelingStep",
            StepKind::DatasetImport => "DatasetImportStep",
            StepKind::ReleaseDataset => "ReleaseDatasetStep",
            StepKind::Model => "ModelStep",
            StepKind::Service => "ServiceStep",
            StepKind::MrsJob => "MrsJobStep",
        }
    }

    /// The type recorded in definitions and execution records.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Job => "job",
            StepKind::Condition => "condition",
            StepKind::CreateDataset => "create_dataset",
            StepKind::Labeling => "labeling",
            StepKind::DatasetImport => "dataset_import",
            StepKind::ReleaseDataset => "release_dataset",
            StepKind::Model => "model",
            StepKind::Service => "service",
            StepKind::MrsJob => "mrs_job",
        }
    }

    pub fn parse(text: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for StepKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
