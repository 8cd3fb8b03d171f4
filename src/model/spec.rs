//! Each step kind's arguments as a typed spec, read once from the step's object after
//! validation: the backends plan from these, never from the object by key.
//!
//! A field holds what the script wrote, with the catalog's default applied here, once.
//! What is only known when the workflow runs (a placeholder's value, a storage's root, an
//! earlier step's output) stays a [`Val`] inside its typed field ([`Arg`] for a keyword read
//! as text or a flag), resolved at plan time through `PlanCtx::values`.
//!
//! Adding a step kind is three things: its backend module under `src/backends/` (planning
//! from its spec), its spec here (a struct, a [`StepSpec`] arm and its `TryFrom<&Obj>`
//! reading), and its class's line in `catalog.wfapi` (with its line of
//! [`StepKind`](super::kind::StepKind)). A keyword the reading expects and does not find is
//! a bug in validation: the reading fails with an error naming the step and the keyword.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use super::kind::StepKind;
use super::val::{Obj, Val};

/// A keyword's value as written (or the catalog's default), for a property read as text or
/// as a flag at plan time; `key` names it in messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub key: &'static str,
    pub val: Option<Val>,
}

impl Arg {
    /// Whether the keyword was given (or has a default).
    pub fn is_given(&self) -> bool {
        self.val.is_some()
    }
}

/// A step's input: its name and the data object it names (resolved at plan time).
#[derive(Debug, Clone, PartialEq)]
pub struct DataInput {
    pub name: String,
    pub data: Val,
}

/// A hyperparameter of an algorithm: its name and value (resolved at plan time).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub value: Val,
}

/// The spec of a step, one arm per kind (the dataset service's four kinds share one).
#[derive(Debug, Clone, PartialEq)]
pub enum StepSpec {
    Job(JobSpec),
    Condition(ConditionSpec),
    Dataset(DatasetStepSpec),
    Model(ModelSpec),
    Service(ServiceSpec),
    MrsJob(MrsJobSpec),
}

/// Why a step's object could not be read as its spec: a rule validation should have held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub step: String,
    pub key: String,
    pub why: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step `{}`: `{}` {} (a rule the workflow's check missed)",
            self.step, self.key, self.why
        )
    }
}

impl std::error::Error for SpecError {}

impl From<SpecError> for String {
    fn from(e: SpecError) -> String {
        e.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Job

#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub algorithm: AlgorithmSpec,
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<JobOutput>,
    pub resource: ResourceSpec,
    /// `spec.log_export_path.obs_url`.
    pub log_export: Option<Val>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlgorithmSpec {
    pub source: AlgorithmSource,
    /// Given on the step: they override a registered algorithm's.
    pub parameters: Vec<Param>,
    /// `environments`, when given as a dict.
    pub environments: IndexMap<String, Val>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlgorithmSource {
    /// `BaseAlgorithm`: the code is named on the step.
    Base {
        code_dir: Option<Val>,
        boot_file: Option<Val>,
        command: Option<Val>,
    },
    /// `Algorithm` (by `algorithm_id`) or `AIGalleryAlgorithm` (by `subscription_id`):
    /// registered here.
    Registered { id: String },
    /// Another class: refused when planned.
    Other { class: &'static str },
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    pub name: String,
    pub to: OutputTo,
}

/// Where a job's output goes.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputTo {
    /// `obs_config.obs_path` (and its `metric_file`, which MRS jobs read).
    Obs { path: Val, metric_file: Option<Val> },
    /// `metrics_config.metric_files`: the first one.
    Metrics { first: Option<Val> },
    /// A folder in the home.
    Home,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
    /// A flavor id, `POOL:FLAVOR`, a dict or a placeholder for one of them.
    pub flavor: Option<Val>,
    /// `node_count`, 1 when not given.
    pub node_count: Val,
}

// ---------------------------------------------------------------------------------------------
// Condition

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionSpec {
    /// Joined by AND.
    pub conditions: Vec<Arc<Obj>>,
}

// ---------------------------------------------------------------------------------------------
// Dataset steps

#[derive(Debug, Clone, PartialEq)]
pub enum DatasetStepSpec {
    Create(CreateDatasetSpec),
    Import(DatasetImportSpec),
    Labeling(LabelingSpec),
    Release(ReleaseDatasetSpec),
}

impl DatasetStepSpec {
    pub fn outputs(&self) -> &[String] {
        match self {
            DatasetStepSpec::Create(s) => &s.outputs,
            DatasetStepSpec::Import(s) => &s.outputs,
            DatasetStepSpec::Labeling(s) => &s.outputs,
            DatasetStepSpec::Release(s) => &s.outputs,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateDatasetSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    /// The outputs' `config.obs_path`: work folders.
    pub work_paths: Vec<(String, Val)>,
    pub dataset_name: Arg,
    pub data_type: Arg,
    pub description: Arg,
    pub import_config: Option<ImportConfigSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportConfigSpec {
    pub import_annotations: Arg,
    pub import_type: Arg,
    pub formats: Vec<FormatSpec>,
}

/// An `AnnotationFormatConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatSpec {
    pub format_name: Arg,
    pub parameters: Option<FormatParams>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FormatParams {
    pub difficult_only: Arg,
    /// The labels' names.
    pub included_labels: Vec<Arg>,
    pub label_separator: Arg,
    pub sample_label_separator: Arg,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetImportSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    pub properties: Option<ImportInfoSpec>,
}

/// An `ImportDataInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportInfoSpec {
    pub import_annotations: Arg,
    pub import_samples: Arg,
    pub import_annotated: Arg,
    pub excluded_labels: Vec<Arg>,
    pub included_labels: Vec<Arg>,
    pub import_type: Arg,
    pub formats: Vec<FormatSpec>,
    /// `label_format`: its `text_label_separator` and `text_sample_separator`.
    pub label_format: Option<(Arg, Arg)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelingSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    pub properties: Option<LabelPropsSpec>,
}

/// A `LabelTaskProperties`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelPropsSpec {
    pub task_type: Arg,
    pub task_name: Arg,
    pub labels: Vec<Arg>,
    pub auto_sync_dataset: Arg,
    pub properties: Option<Val>,
    pub description: Arg,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseDatasetSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    /// The first output's `dataset_version_config`.
    pub version: Option<VersionConfigSpec>,
}

/// A `DatasetVersionConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionConfigSpec {
    pub version_name: Arg,
    pub version_format: Arg,
    pub train_evaluate_sample_ratio: Arg,
    pub clear_hard_property: Arg,
    pub remove_sample_usage: Arg,
    pub label_task_type: Arg,
    pub description: Arg,
}

// ---------------------------------------------------------------------------------------------
// Model

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    /// The first output's `model_config`; `None` when the step has no output.
    pub config: Option<ModelConfigSpec>,
}

/// A `ModelConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfigSpec {
    pub model_name: Arg,
    pub model_version: Arg,
    pub model_type: Arg,
    pub runtime: Arg,
    /// Every keyword given but `template`, kept in the registry as written.
    pub fields: Vec<(&'static str, Val)>,
    pub template: Option<TemplateSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub template_id: Arg,
    pub infer_format: Arg,
    /// `input_id` and `input` of each `TemplateInputs`.
    pub inputs: Vec<(Arg, Val)>,
}

// ---------------------------------------------------------------------------------------------
// Service

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<String>,
    /// The first output's `service_config`.
    pub config: Option<ServiceConfigSpec>,
    /// The step policy's `poll_interval_seconds`, when the step has a policy.
    pub poll_interval: Option<Arg>,
}

/// A `ServiceConfig` (or `TripartiteServiceConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfigSpec {
    pub infer_type: Arg,
    pub service_name: Arg,
    pub envs: Option<Val>,
    pub additional_properties: Option<Val>,
    /// Every keyword given but `envs`, recorded as written.
    pub fields: Vec<(&'static str, Val)>,
}

// ---------------------------------------------------------------------------------------------
// MRS job

#[derive(Debug, Clone, PartialEq)]
pub struct MrsJobSpec {
    pub cluster_id: Option<Val>,
    pub boot_file: Option<Val>,
    pub parameters: Vec<Param>,
    pub environments: IndexMap<String, Val>,
    pub inputs: Vec<DataInput>,
    pub outputs: Vec<JobOutput>,
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Reads one object of a step, naming the step in its errors.
struct Reader<'a> {
    step: &'a str,
    obj: &'a Obj,
}

impl<'a> Reader<'a> {
    fn of<'b>(&self, obj: &'b Obj) -> Reader<'b>
    where
        'a: 'b,
    {
        Reader {
            step: self.step,
            obj,
        }
    }

    fn fail(&self, key: &str, why: &str) -> SpecError {
        SpecError {
            step: self.step.to_string(),
            key: key.to_string(),
            why: why.to_string(),
        }
    }

    /// The keyword as given, without a default.
    fn given(&self, key: &str) -> Option<Val> {
        self.obj.args.get(key).cloned()
    }

    /// The keyword as given, else the catalog's default.
    fn arg(&self, key: &'static str) -> Arg {
        Arg {
            key,
            val: self.obj.get(key),
        }
    }

    fn obj(&self, key: &str) -> Option<Arc<Obj>> {
        self.obj.args.get(key).and_then(Val::as_obj).cloned()
    }

    fn required_obj(&self, key: &str) -> Result<Arc<Obj>, SpecError> {
        self.obj(key)
            .ok_or_else(|| self.fail(key, "is not given as an object"))
    }

    /// The objects of a keyword that is one object or a list of them (default applied).
    fn objs(&self, key: &str) -> Vec<Arc<Obj>> {
        self.obj
            .get(key)
            .as_ref()
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
            .cloned()
            .collect()
    }

    fn names(&self, key: &str) -> Vec<String> {
        self.objs(key)
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }

    fn inputs(&self) -> Vec<DataInput> {
        self.objs("inputs")
            .iter()
            .map(|i| DataInput {
                name: i.name().to_string(),
                data: i.args.get("data").cloned().unwrap_or(Val::Null),
            })
            .collect()
    }

    fn params(&self, key: &str) -> Vec<Param> {
        self.objs(key)
            .iter()
            .map(|p| Param {
                name: p.name().to_string(),
                value: p.args.get("value").cloned().unwrap_or(Val::Null),
            })
            .collect()
    }

    fn environments(&self) -> IndexMap<String, Val> {
        match self.given("environments") {
            Some(Val::Map(m)) => m,
            _ => IndexMap::new(),
        }
    }

    /// The `name` of each `Label` of a keyword.
    fn labels(&self, key: &str) -> Vec<Arg> {
        self.objs(key)
            .iter()
            .map(|l| self.of(l).arg("name"))
            .collect()
    }

    fn formats(&self) -> Vec<FormatSpec> {
        self.objs("annotation_format_config")
            .iter()
            .map(|c| {
                let r = self.of(c);
                FormatSpec {
                    format_name: r.arg("format_name"),
                    parameters: r.obj("parameters").map(|p| {
                        let r = self.of(&p);
                        FormatParams {
                            difficult_only: r.arg("difficult_only"),
                            included_labels: r.labels("included_labels"),
                            label_separator: r.arg("label_separator"),
                            sample_label_separator: r.arg("sample_label_separator"),
                        }
                    }),
                }
            })
            .collect()
    }

    /// Where each output goes (`obs_config`, `metrics_config`, else the home).
    fn job_outputs(&self) -> Vec<JobOutput> {
        self.objs("outputs")
            .iter()
            .map(|out| {
                let r = self.of(out);
                let to = if let Some(cfg) = r.obj("obs_config") {
                    OutputTo::Obs {
                        path: cfg.args.get("obs_path").cloned().unwrap_or(Val::Null),
                        metric_file: cfg.args.get("metric_file").cloned(),
                    }
                } else if let Some(cfg) = r.obj("metrics_config") {
                    OutputTo::Metrics {
                        first: cfg
                            .args
                            .get("metric_files")
                            .and_then(|v| v.items().first().cloned()),
                    }
                } else {
                    OutputTo::Home
                };
                JobOutput {
                    name: out.name().to_string(),
                    to,
                }
            })
            .collect()
    }
}

impl StepSpec {
    /// Reads a step's object as the spec of its kind.
    pub fn read(kind: StepKind, obj: &Obj) -> Result<StepSpec, SpecError> {
        let step = obj.name();
        let r = Reader { step, obj };
        Ok(match kind {
            StepKind::Job => StepSpec::Job(read_job(&r)?),
            StepKind::Condition => StepSpec::Condition(ConditionSpec {
                conditions: r.objs("conditions"),
            }),
            StepKind::CreateDataset => StepSpec::Dataset(DatasetStepSpec::Create(read_create(&r)?)),
            StepKind::DatasetImport => StepSpec::Dataset(DatasetStepSpec::Import(read_import(&r))),
            StepKind::Labeling => StepSpec::Dataset(DatasetStepSpec::Labeling(read_labeling(&r))),
            StepKind::ReleaseDataset => {
                StepSpec::Dataset(DatasetStepSpec::Release(read_release(&r)))
            }
            StepKind::Model => StepSpec::Model(read_model(&r)),
            StepKind::Service => StepSpec::Service(read_service(&r)),
            StepKind::MrsJob => StepSpec::MrsJob(read_mrs(&r)?),
        })
    }

    /// The flavor a step asks for as written (a job's `spec.resource.flavor`).
    pub fn flavor(&self) -> Option<&Val> {
        match self {
            StepSpec::Job(j) => j.resource.flavor.as_ref(),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            StepSpec::Job(_) => "job",
            StepSpec::Condition(_) => "condition",
            StepSpec::Dataset(_) => "dataset",
            StepSpec::Model(_) => "model",
            StepSpec::Service(_) => "service",
            StepSpec::MrsJob(_) => "mrs_job",
        }
    }
}

impl TryFrom<&Obj> for StepSpec {
    type Error = SpecError;

    fn try_from(obj: &Obj) -> Result<StepSpec, SpecError> {
        let kind = StepKind::of_class(obj.class()).ok_or_else(|| SpecError {
            step: obj.name().to_string(),
            key: "$class".into(),
            why: format!("is `{}`, not a step class", obj.class()),
        })?;
        StepSpec::read(kind, obj)
    }
}

fn read_job(r: &Reader) -> Result<JobSpec, SpecError> {
    let algo = r.required_obj("algorithm")?;
    let a = r.of(&algo);
    let source = match algo.class() {
        "BaseAlgorithm" => AlgorithmSource::Base {
            code_dir: a.given("code_dir"),
            boot_file: a.given("boot_file"),
            command: a.given("command"),
        },
        "Algorithm" => AlgorithmSource::Registered {
            id: algo.str_arg("algorithm_id").unwrap_or("").to_string(),
        },
        "AIGalleryAlgorithm" => AlgorithmSource::Registered {
            id: algo.str_arg("subscription_id").unwrap_or("").to_string(),
        },
        other => AlgorithmSource::Other { class: other },
    };
    let spec = r.required_obj("spec")?;
    let resource = r.of(&spec).required_obj("resource")?;
    let res = r.of(&resource);
    let log_export = spec
        .args
        .get("log_export_path")
        .and_then(Val::as_obj)
        .and_then(|l| l.args.get("obs_url").cloned());
    Ok(JobSpec {
        algorithm: AlgorithmSpec {
            source,
            parameters: a.params("parameters"),
            environments: a.environments(),
        },
        inputs: r.inputs(),
        outputs: r.job_outputs(),
        resource: ResourceSpec {
            flavor: res.given("flavor"),
            node_count: res.given("node_count").unwrap_or(Val::Int(1)),
        },
        log_export,
    })
}

fn read_create(r: &Reader) -> Result<CreateDatasetSpec, SpecError> {
    let props = r.required_obj("properties")?;
    let p = r.of(&props);
    let work_paths = r
        .objs("outputs")
        .iter()
        .filter_map(|out| {
            let path = out
                .args
                .get("config")
                .and_then(Val::as_obj)
                .and_then(|c| c.args.get("obs_path").cloned())?;
            Some((out.name().to_string(), path))
        })
        .collect();
    Ok(CreateDatasetSpec {
        inputs: r.inputs(),
        outputs: r.names("outputs"),
        work_paths,
        dataset_name: p.arg("dataset_name"),
        data_type: p.arg("data_type"),
        description: p.arg("description"),
        import_config: p.obj("import_config").map(|ic| {
            let c = r.of(&ic);
            ImportConfigSpec {
                import_annotations: c.arg("import_annotations"),
                import_type: c.arg("import_type"),
                formats: c.formats(),
            }
        }),
    })
}

fn read_import(r: &Reader) -> DatasetImportSpec {
    DatasetImportSpec {
        inputs: r.inputs(),
        outputs: r.names("outputs"),
        properties: r.obj("properties").map(|props| {
            let p = r.of(&props);
            ImportInfoSpec {
                import_annotations: p.arg("import_annotations"),
                import_samples: p.arg("import_samples"),
                import_annotated: p.arg("import_annotated"),
                excluded_labels: p.labels("excluded_labels"),
                included_labels: p.labels("included_labels"),
                import_type: p.arg("import_type"),
                formats: p.formats(),
                label_format: p.obj("label_format").map(|lf| {
                    let l = r.of(&lf);
                    (
                        l.arg("text_label_separator"),
                        l.arg("text_sample_separator"),
                    )
                }),
            }
        }),
    }
}

fn read_labeling(r: &Reader) -> LabelingSpec {
    LabelingSpec {
        inputs: r.inputs(),
        outputs: r.names("outputs"),
        properties: r.obj("properties").map(|props| {
            let p = r.of(&props);
            LabelPropsSpec {
                task_type: p.arg("task_type"),
                task_name: p.arg("task_name"),
                labels: p.labels("labels"),
                auto_sync_dataset: p.arg("auto_sync_dataset"),
                properties: p.obj.get("properties"),
                description: p.arg("description"),
            }
        }),
    }
}

fn read_release(r: &Reader) -> ReleaseDatasetSpec {
    let cfg = r
        .objs("outputs")
        .iter()
        .find_map(|out| r.of(out).obj("dataset_version_config"));
    ReleaseDatasetSpec {
        inputs: r.inputs(),
        outputs: r.names("outputs"),
        version: cfg.map(|c| {
            let c = r.of(&c);
            VersionConfigSpec {
                version_name: c.arg("version_name"),
                version_format: c.arg("version_format"),
                train_evaluate_sample_ratio: c.arg("train_evaluate_sample_ratio"),
                clear_hard_property: c.arg("clear_hard_property"),
                remove_sample_usage: c.arg("remove_sample_usage"),
                label_task_type: c.arg("label_task_type"),
                description: c.arg("description"),
            }
        }),
    }
}

fn read_model(r: &Reader) -> ModelSpec {
    let outs = r.objs("outputs");
    let config = outs
        .first()
        .and_then(|o| r.of(o).obj("model_config"))
        .map(|cfg| {
            let c = r.of(&cfg);
            ModelConfigSpec {
                model_name: c.arg("model_name"),
                model_version: c.arg("model_version"),
                model_type: c.arg("model_type"),
                runtime: c.arg("runtime"),
                fields: cfg
                    .args
                    .iter()
                    .filter(|(k, _)| **k != "template")
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
                template: c.obj("template").map(|t| {
                    let tr = r.of(&t);
                    TemplateSpec {
                        template_id: tr.arg("template_id"),
                        infer_format: tr.arg("infer_format"),
                        inputs: tr
                            .objs("template_inputs")
                            .iter()
                            .map(|ti| {
                                (
                                    r.of(ti).arg("input_id"),
                                    ti.args.get("input").cloned().unwrap_or(Val::Null),
                                )
                            })
                            .collect(),
                    }
                }),
            }
        });
    ModelSpec {
        inputs: r.inputs(),
        outputs: outs.iter().map(|o| o.name().to_string()).collect(),
        config,
    }
}

fn read_service(r: &Reader) -> ServiceSpec {
    let config = r
        .objs("outputs")
        .iter()
        .find_map(|x| r.of(x).obj("service_config"))
        .map(|cfg| {
            let c = r.of(&cfg);
            ServiceConfigSpec {
                infer_type: c.arg("infer_type"),
                service_name: c.arg("service_name"),
                envs: c.given("envs"),
                additional_properties: c.given("additional_properties"),
                fields: cfg
                    .args
                    .iter()
                    .filter(|(k, _)| **k != "envs")
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
            }
        });
    ServiceSpec {
        inputs: r.inputs(),
        outputs: r.names("outputs"),
        config,
        poll_interval: r
            .obj("policy")
            .map(|p| r.of(&p).arg("poll_interval_seconds")),
    }
}

fn read_mrs(r: &Reader) -> Result<MrsJobSpec, SpecError> {
    let algo = r.required_obj("mrs_algorithm")?;
    let a = r.of(&algo);
    Ok(MrsJobSpec {
        cluster_id: r.given("cluster_id"),
        boot_file: a.given("boot_file"),
        parameters: a.params("parameters"),
        environments: a.environments(),
        inputs: r.inputs(),
        outputs: r.job_outputs(),
    })
}

// ---------------------------------------------------------------------------------------------
// Data objects

/// A data object an input gives at plan time (after its placeholder has its value), read as
/// what it names; `Other` for the objects read as a path or a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum DataObj {
    SwrImage {
        swr_path: Arg,
    },
    ModelData {
        model_name: Arg,
        model_version: Arg,
    },
    GalleryModel {
        subscription_id: Arg,
        version_num: Arg,
    },
    ServiceData {
        service_id: Arg,
    },
    Other,
}

impl From<&Obj> for DataObj {
    fn from(o: &Obj) -> DataObj {
        let r = Reader { step: "", obj: o };
        match o.class() {
            "SWRImage" => DataObj::SwrImage {
                swr_path: r.arg("swr_path"),
            },
            "ModelData" => DataObj::ModelData {
                model_name: r.arg("model_name"),
                model_version: r.arg("model_version"),
            },
            "GalleryModel" => DataObj::GalleryModel {
                subscription_id: r.arg("subscription_id"),
                version_num: r.arg("version_num"),
            },
            "ServiceData" => DataObj::ServiceData {
                service_id: r.arg("service_id"),
            },
            _ => DataObj::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::catalog::Catalog;
    use crate::model::val::Span;

    fn obj(class: &str, args: Vec<(&'static str, Val)>) -> Arc<Obj> {
        Arc::new(Obj {
            spec: Catalog::get().class(class).expect("class in catalog"),
            args: args.into_iter().collect(),
            at: Span::default(),
            tainted: false,
        })
    }

    fn s(text: &str) -> Val {
        Val::Str(text.into())
    }

    fn job(spec: Option<Val>, outputs: Vec<Val>) -> Arc<Obj> {
        let algo = obj(
            "BaseAlgorithm",
            vec![
                ("boot_file", s("train.py")),
                (
                    "parameters",
                    Val::List(vec![Val::Obj(obj(
                        "AlgorithmParameters",
                        vec![("name", s("lr")), ("value", Val::Float(0.1))],
                    ))]),
                ),
            ],
        );
        let input = obj(
            "JobInput",
            vec![
                ("name", s("data")),
                (
                    "data",
                    Val::Obj(obj("OBSPath", vec![("obs_path", s("/d"))])),
                ),
            ],
        );
        let mut args = vec![
            ("name", s("train")),
            ("algorithm", Val::Obj(algo)),
            ("inputs", Val::Obj(input)),
            ("outputs", Val::List(outputs)),
        ];
        if let Some(spec) = spec {
            args.push(("spec", spec));
        }
        obj("JobStep", args)
    }

    fn job_spec(flavor: Val) -> Val {
        let resource = obj("JobResource", vec![("flavor", flavor)]);
        Val::Obj(obj("JobSpec", vec![("resource", Val::Obj(resource))]))
    }

    #[test]
    fn a_job_step_reads_as_its_algorithm_inputs_outputs_and_resource() {
        let metrics = obj(
            "JobOutput",
            vec![
                ("name", s("metrics")),
                (
                    "metrics_config",
                    Val::Obj(obj(
                        "MetricsConfig",
                        vec![(
                            "metric_files",
                            Val::List(vec![s("/m/a.json"), s("/m/b.json")]),
                        )],
                    )),
                ),
            ],
        );
        let plain = obj("JobOutput", vec![("name", s("model"))]);
        let o = job(
            Some(job_spec(s("cpu.small"))),
            vec![Val::Obj(metrics), Val::Obj(plain)],
        );
        let StepSpec::Job(j) = StepSpec::try_from(&*o).expect("a job spec") else {
            panic!("not a job spec");
        };
        assert_eq!(
            j.algorithm.source,
            AlgorithmSource::Base {
                code_dir: None,
                boot_file: Some(s("train.py")),
                command: None
            }
        );
        assert_eq!(j.algorithm.parameters[0].name, "lr");
        assert_eq!(j.inputs[0].name, "data");
        assert_eq!(
            j.outputs[0].to,
            OutputTo::Metrics {
                first: Some(s("/m/a.json"))
            }
        );
        assert_eq!(j.outputs[1].to, OutputTo::Home);
        assert_eq!(j.resource.flavor, Some(s("cpu.small")));
        // `node_count` not given: one node.
        assert_eq!(j.resource.node_count, Val::Int(1));
        assert_eq!(
            StepSpec::Job(j).flavor(),
            Some(&s("cpu.small")),
            "the flavor a preflight checks"
        );
    }

    #[test]
    fn a_step_missing_a_mandatory_keyword_is_an_error_naming_the_step_and_keyword() {
        let o = job(None, vec![]);
        let e = StepSpec::try_from(&*o).expect_err("no spec");
        assert_eq!((e.step.as_str(), e.key.as_str()), ("train", "spec"));
        assert!(e.to_string().starts_with("step `train`: `spec`"), "{e}");
        let not_a_step = obj("OBSPath", vec![("obs_path", s("/d"))]);
        assert_eq!(
            StepSpec::try_from(&*not_a_step)
                .expect_err("not a step")
                .key,
            "$class"
        );
    }

    #[test]
    fn catalog_defaults_are_applied_when_the_spec_is_read() {
        let out = obj(
            "ReleaseDatasetOutput",
            vec![
                ("name", s("v")),
                (
                    "dataset_version_config",
                    Val::Obj(obj("DatasetVersionConfig", vec![("version_name", s("v1"))])),
                ),
            ],
        );
        let o = obj(
            "ReleaseDatasetStep",
            vec![("name", s("release")), ("outputs", Val::Obj(out))],
        );
        let StepSpec::Dataset(DatasetStepSpec::Release(r)) = StepSpec::try_from(&*o).expect("spec")
        else {
            panic!("not a release spec");
        };
        let v = r.version.expect("the version config");
        assert_eq!(v.version_name.val, Some(s("v1")));
        assert_eq!(v.version_format.val, Some(s("Default")));
        assert_eq!(v.train_evaluate_sample_ratio.val, Some(s("1.00")));
        assert_eq!(v.clear_hard_property.val, Some(Val::Bool(true)));
        assert_eq!(v.description.val, None);
        assert_eq!(v.clear_hard_property.key, "clear_hard_property");
        assert_eq!(r.outputs, vec!["v".to_string()]);
    }

    #[test]
    fn a_service_config_keeps_every_field_but_its_environment() {
        let cfg = obj(
            "ServiceConfig",
            vec![
                ("service_name", s("svc")),
                (
                    "envs",
                    Val::Map([("A".to_string(), s("1"))].into_iter().collect()),
                ),
                ("description", s("d")),
            ],
        );
        let out = obj(
            "ServiceOutput",
            vec![("name", s("out")), ("service_config", Val::Obj(cfg))],
        );
        let o = obj(
            "ServiceStep",
            vec![("name", s("deploy")), ("outputs", Val::Obj(out))],
        );
        let StepSpec::Service(sv) = StepSpec::try_from(&*o).expect("spec") else {
            panic!("not a service spec");
        };
        let c = sv.config.expect("a config");
        assert_eq!(c.service_name.val, Some(s("svc")));
        assert_eq!(
            c.infer_type.val,
            Some(s("real-time")),
            "the catalog's default"
        );
        assert!(c.envs.is_some());
        let keys: Vec<&str> = c.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["service_name", "description"]);
        assert_eq!(sv.poll_interval, None, "no policy, no poll interval");
    }
}
