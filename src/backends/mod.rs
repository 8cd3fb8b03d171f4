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
//! Each backend plans from the step's typed spec ([`crate::model::spec`]), never from its
//! object by key; `args.rs` reads a spec's keywords as text or flags with the run's values.
//! Adding a kind: a module here implementing `Backend`, its spec in `model::spec`, its
//! class's line in `catalog.wfapi`, and its arm in [`backend`].

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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::exec::backend::PreflightCtx;
    use crate::exec::error::{exit, ExecError};
    use crate::model::val::{Obj, Span, Val};
    use crate::model::workflow::Workflow;
    use crate::pools::flavors::Machine;

    fn obj(class: &str, args: Vec<(&'static str, Val)>) -> Val {
        Val::Obj(Arc::new(Obj {
            spec: Catalog::get().class(class).expect("class in catalog"),
            args: args.into_iter().collect(),
            at: Span::default(),
            tainted: false,
        }))
    }

    fn s(text: &str) -> Val {
        Val::Str(text.into())
    }

    /// A workflow of one job step `train` whose flavor is `flavor`.
    fn workflow(flavor: Val) -> Workflow {
        let resource = obj("JobResource", vec![("flavor", flavor)]);
        let step = obj(
            "JobStep",
            vec![
                ("name", s("train")),
                (
                    "algorithm",
                    obj("BaseAlgorithm", vec![("command", s("true"))]),
                ),
                ("spec", obj("JobSpec", vec![("resource", resource)])),
                ("outputs", obj("JobOutput", vec![("name", s("out"))])),
            ],
        );
        let w = obj(
            "Workflow",
            vec![("name", s("w")), ("desc", s("")), ("steps", step)],
        );
        Workflow::read(w.as_obj().expect("an object"))
    }

    fn preflight(w: &Workflow, values: &HashMap<String, Val>) -> Result<(), ExecError> {
        let machine = Machine {
            cpus: 2,
            memory_mib: 4096,
            gpus: 0,
        };
        let home = std::env::temp_dir();
        let ctx = PreflightCtx {
            workflow: w,
            values,
            machine: &machine,
            home: &home,
        };
        let step = w.step("train").expect("the step");
        backend(step.kind).expect("a backend").preflight(step, &ctx)
    }

    #[test]
    fn every_kind_has_a_backend_and_only_jobs_write_a_log() {
        for kind in StepKind::ALL {
            let b = backend(kind).unwrap_or_else(|| panic!("no backend for {kind}"));
            assert_eq!(
                b.writes_log(),
                matches!(kind, StepKind::Job | StepKind::MrsJob),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_job_flavor_this_machine_lacks_is_a_usage_error_before_anything_runs() {
        let w = workflow(s("gpu.huge"));
        let e = preflight(&w, &HashMap::new()).expect_err("an unknown flavor");
        assert_eq!(e.code(), exit::USAGE);
        assert!(
            e.to_string().starts_with(
                "step `train`: no flavor `gpu.huge` on this machine; its flavors are: cpu.small"
            ),
            "{e}"
        );
        assert!(preflight(&workflow(s("cpu.small")), &HashMap::new()).is_ok());
        let e = preflight(&workflow(s(" ")), &HashMap::new()).expect_err("an empty flavor");
        assert!(
            e.to_string()
                .starts_with("step `train`: the flavor is empty"),
            "{e}"
        );
    }

    #[test]
    fn a_flavor_placeholder_is_checked_with_its_value_and_left_when_it_has_none() {
        let ph = obj(
            "Placeholder",
            vec![
                ("name", s("flavor")),
                ("placeholder_type", {
                    let e = Catalog::get().enumeration("PlaceholderType").expect("enum");
                    let name = e.values.iter().find(|v| **v == "STR").expect("STR");
                    Val::Enum(crate::model::val::EnumVal { ty: e, name })
                }),
            ],
        );
        let w = workflow(ph);
        assert!(preflight(&w, &HashMap::new()).is_ok(), "no value yet");
        let values = HashMap::from([("flavor".to_string(), s("gpu.huge"))]);
        let e = preflight(&w, &values).expect_err("the value names no flavor");
        assert!(
            e.to_string().starts_with("-p flavor: no flavor `gpu.huge`"),
            "{e}"
        );
    }
}
