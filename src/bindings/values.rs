//! The values the `wf` surface hands a script besides objects: namespaces, enumerations,
//! a step's outputs, and the stand-in for a value whose construction already failed.

use std::sync::Arc;

use crate::catalog::{Catalog, EnumSpec};
use crate::diag::Span;
use crate::model::val::{Obj, Val};

/// A namespace value: `wf`, `wf.steps`, `wf.data`, ...
#[derive(Debug, Clone, Copy)]
pub struct Ns(pub &'static str);

/// An enumeration value: `wf.PlaceholderType`.
#[derive(Debug, Clone, Copy)]
pub struct EnumNs(pub &'static EnumSpec);

/// Stands for a value whose construction already failed and was reported, so that one
/// mistake does not cause a cascade of others.
#[derive(Debug, Clone, Copy)]
pub struct Invalid;

/// `step.outputs`
#[derive(Debug, Clone)]
pub struct Outputs(pub Arc<Obj>);

/// `step.outputs["name"]`
#[derive(Debug, Clone)]
pub struct OutputRef {
    pub step: Arc<Obj>,
    pub output: Arc<Obj>,
    pub at: Span,
}

impl OutputRef {
    /// What `.as_input()` gives: a reference to this output typed by what it holds.
    pub fn consumption(&self) -> Obj {
        let class = match self.step.class() {
            "JobStep" => {
                if self.output.args.contains_key("metrics_config") {
                    "MetricsConsumption"
                } else if self.output.args.contains_key("model_config")
                    && !self.output.args.contains_key("obs_config")
                {
                    "ModelConsumption"
                } else {
                    "OBSConsumption"
                }
            }
            "LabelingStep" => "LabelTaskConsumption",
            "CreateDatasetStep" | "DatasetImportStep" | "ReleaseDatasetStep" => {
                "DatasetConsumption"
            }
            "ModelStep" => "ModelConsumption",
            "ServiceStep" => "ServiceConsumption",
            _ => "OBSConsumption",
        };
        let spec = Catalog::get()
            .class(class)
            .expect("consumption classes are in the catalog");
        let mut args = indexmap::IndexMap::new();
        args.insert("step", Val::Str(self.step.name().into()));
        args.insert("output", Val::Str(self.output.name().into()));
        Obj {
            spec,
            args,
            at: self.at.clone(),
            tainted: false,
        }
    }
}
