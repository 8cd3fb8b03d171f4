//! The data half of the pipeline on the local dataset service (README, "Datasets"):
//! CreateDatasetStep, DatasetImportStep, LabelingStep and ReleaseDatasetStep.
//!
//! Planning resolves names, folders and properties (a bad value fails the step before
//! anything is imported); the work runs on a blocking thread against the home's records.
//! Every output records `outputs.NAME.dataset` as the contract says.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::args::{self, flag, text};
use crate::datasets::formats::{DataType, Format, ReadOpts};
use crate::datasets::import::read_samples;
use crate::datasets::release::parse_ratio;
use crate::datasets::{self, DataRef, ImportRules, ReleaseSpec, TaskSpec};
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, StepError, Work};
use crate::model::spec::{
    Arg, CreateDatasetSpec, DataInput, DatasetImportSpec, DatasetStepSpec, FormatSpec,
    LabelingSpec, ReleaseDatasetSpec, StepSpec,
};
use crate::model::workflow::Step;
use crate::store::Store;

pub struct DatasetBackend;

/// What a step's input names: a dataset (or version, or task), or a folder or file.
enum Source {
    Data(DataRef),
    Path(PathBuf),
}

fn source(ctx: &PlanCtx, input: &DataInput) -> Result<Source, StepError> {
    let data = &input.data;
    let name = &input.name;
    let v = &ctx.values;
    match v
        .data_ref(data)
        .map_err(|e| format!("input `{name}`: {e}"))?
    {
        Some(r) => Ok(Source::Data(r)),
        None => Ok(Source::Path(
            v.path(data).map_err(|e| format!("input `{name}`: {e}"))?,
        )),
    }
}

fn label_names(ctx: &PlanCtx, labels: &[Arg]) -> Result<Vec<String>, StepError> {
    let mut out = Vec::new();
    for l in labels {
        if let Some(n) = text(ctx, l)? {
            out.push(n);
        }
    }
    Ok(out)
}

/// How to read a folder: the first `AnnotationFormatConfig`, and the separators.
fn read_opts(
    ctx: &PlanCtx,
    configs: &[FormatSpec],
    label_format: Option<&(Arg, Arg)>,
) -> Result<(ReadOpts, Vec<String>), StepError> {
    let mut opts = ReadOpts::default();
    let mut included = Vec::new();
    if configs.len() > 1 {
        // Several formats: the first that names one is read.
    }
    if let Some(c) = configs.iter().find(|c| c.format_name.is_given()) {
        let f = text(ctx, &c.format_name)?.unwrap_or_default();
        opts.format = Some(Format::parse(&f)?);
        if let Some(p) = &c.parameters {
            opts.difficult_only = flag(ctx, &p.difficult_only, false)?;
            included = label_names(ctx, &p.included_labels)?;
            if let Some(s) = text(ctx, &p.label_separator)? {
                opts.label_separator = one_char("label_separator", &s)?;
            }
            if let Some(s) = text(ctx, &p.sample_label_separator)? {
                opts.sample_label_separator = one_char("sample_label_separator", &s)?;
            }
        }
    }
    if let Some((label_sep, sample_sep)) = label_format {
        if let Some(s) = text(ctx, label_sep)? {
            opts.label_separator = one_char("text_label_separator", &s)?;
        }
        if let Some(s) = text(ctx, sample_sep)? {
            opts.sample_label_separator = one_char("text_sample_separator", &s)?;
        }
    }
    Ok((opts, included))
}

/// A separator: one character, written plainly or escaped (`\t`).
fn one_char(key: &str, s: &str) -> Result<char, StepError> {
    crate::model::validate::one_char_separator(s).ok_or_else(|| {
        StepError::Invalid(format!("`{key}` is `{s}`: a separator is one character"))
    })
}

fn data_type(ctx: &PlanCtx, a: &Arg) -> Result<DataType, StepError> {
    let t = text(ctx, a)?.unwrap_or_else(|| "FREE_FORMAT".into());
    // IMAGE_CLASSIFICATION is accepted for an image dataset (see the catalog).
    let t = if t == "IMAGE_CLASSIFICATION" {
        "IMAGE".into()
    } else {
        t
    };
    DataType::parse(&t).ok_or_else(|| {
        StepError::Invalid(format!(
            "`data_type` is `{t}`; it takes IMAGE, TEXT, AUDIO, TABULAR, VIDEO or FREE_FORMAT"
        ))
    })
}

/// What the step does, resolved.
enum Job {
    Create {
        dataset: String,
        data_type: DataType,
        description: String,
        from: PathBuf,
        manifest: bool,
        opts: ReadOpts,
        rules: ImportRules,
        work_dirs: Vec<PathBuf>,
    },
    Import {
        target: DataRef,
        from: PathBuf,
        manifest: bool,
        opts: ReadOpts,
        rules: ImportRules,
    },
    Label {
        dataset: String,
        task: String,
        spec: TaskSpec,
        exec: String,
        step: String,
    },
    Release {
        source: DataRef,
        spec: ReleaseSpec,
    },
}

struct DataWork {
    home: PathBuf,
    /// A person is at the terminal: a labeling step waits for the labels instead of pausing.
    interactive: bool,
    outputs: Vec<String>,
    job: Job,
}

fn plan_create(
    s: &CreateDatasetSpec,
    ctx: &PlanCtx,
) -> Result<(Job, Map<String, Value>), StepError> {
    let dataset = text(ctx, &s.dataset_name)?.ok_or("`dataset_name` is not given")?;
    datasets::valid_name("dataset", &dataset)?;
    let data_type = data_type(ctx, &s.data_type)?;
    let description = text(ctx, &s.description)?.unwrap_or_default();
    let mut inputs = Map::new();
    let mut from = None;
    for i in &s.inputs {
        match source(ctx, i)? {
            Source::Path(p) => {
                inputs.insert(i.name.clone(), json!({ "path": p.to_string_lossy() }));
                from.get_or_insert(p);
            }
            Source::Data(r) => {
                return Err(format!(
                "input `{}` is the dataset `{r}`; a dataset is created from a folder (an OBS path)",
                i.name
            )
                .into())
            }
        }
    }
    let from = from.ok_or("the step has no input folder")?;
    let mut work_dirs = Vec::new();
    for (name, p) in &s.work_paths {
        work_dirs.push(
            ctx.values
                .path(p)
                .map_err(|e| format!("output `{name}`: {e}"))?,
        );
    }
    let (mut opts, mut rules, mut manifest) = (ReadOpts::default(), ImportRules::default(), false);
    if let Some(ic) = &s.import_config {
        rules.annotations = flag(ctx, &ic.import_annotations, true)?;
        manifest = text(ctx, &ic.import_type)?.is_some_and(|t| t.eq_ignore_ascii_case("MANIFEST"));
        let (o2, included) = read_opts(ctx, &ic.formats, None)?;
        opts = o2;
        rules.included = included;
    }
    if let Some(f) = opts.format {
        f.fits(data_type)?;
    }
    Ok((
        Job::Create {
            dataset,
            data_type,
            description,
            from,
            manifest,
            opts,
            rules,
            work_dirs,
        },
        inputs,
    ))
}

fn plan_import(
    s: &DatasetImportSpec,
    ctx: &PlanCtx,
) -> Result<(Job, Map<String, Value>), StepError> {
    let mut inputs = Map::new();
    let (mut target, mut from) = (None, None);
    for i in &s.inputs {
        match source(ctx, i)? {
            Source::Data(r) => {
                inputs.insert(i.name.clone(), json!({ "dataset": r.to_string() }));
                if target.replace(r).is_some() {
                    return Err(
                        "the step has two datasets as inputs: give one target and one folder"
                            .into(),
                    );
                }
            }
            Source::Path(p) => {
                inputs.insert(i.name.clone(), json!({ "path": p.to_string_lossy() }));
                if from.replace(p).is_some() {
                    return Err("the step has two folders as inputs: give one target dataset and one folder".into());
                }
            }
        }
    }
    let target = target.ok_or("the step has no dataset or labeling task to import into")?;
    let from = from.ok_or("the step has no folder or manifest to import from")?;
    if target.version.is_some() {
        return Err(format!(
            "`{target}` is a released version, and versions never change: import into the dataset"
        )
        .into());
    }
    let mut rules = ImportRules {
        task: target.task.clone(),
        ..ImportRules::default()
    };
    let (mut opts, mut manifest) = (ReadOpts::default(), false);
    if let Some(p) = &s.properties {
        rules.annotations = flag(ctx, &p.import_annotations, true)?;
        rules.samples = flag(ctx, &p.import_samples, true)?;
        rules.to_confirm = flag(ctx, &p.import_annotated, false)?;
        rules.excluded = label_names(ctx, &p.excluded_labels)?;
        manifest = text(ctx, &p.import_type)?.is_some_and(|t| t.eq_ignore_ascii_case("MANIFEST"));
        let (o2, mut included) = read_opts(ctx, &p.formats, p.label_format.as_ref())?;
        opts = o2;
        included.extend(label_names(ctx, &p.included_labels)?);
        rules.included = included;
    }
    Ok((
        Job::Import {
            target,
            from,
            manifest,
            opts,
            rules,
        },
        inputs,
    ))
}

/// The step's one input, which must name a dataset or a labeling task (`what` takes one).
fn data_input<'a>(
    given: &'a [DataInput],
    ctx: &PlanCtx,
    what: &str,
) -> Result<(&'a DataInput, DataRef), StepError> {
    let input = given
        .first()
        .ok_or("the step has no input dataset or labeling task")?;
    match source(ctx, input)? {
        Source::Data(r) => Ok((input, r)),
        Source::Path(p) => Err(format!(
            "input `{}` is the folder `{}`; {what} takes a dataset or a labeling task",
            input.name,
            p.display()
        )
        .into()),
    }
}

fn plan_label(
    step: &Step,
    s: &LabelingSpec,
    ctx: &PlanCtx,
) -> Result<(Job, Map<String, Value>), StepError> {
    let (input, r) = data_input(&s.inputs, ctx, "a labeling step")?;
    let props = s.properties.as_ref();
    let task_type = match props {
        Some(p) => text(ctx, &p.task_type)?.unwrap_or_default(),
        None => String::new(),
    };
    let given = match props {
        Some(p) => text(ctx, &p.task_name)?,
        None => None,
    };
    let task = match (&r.task, given) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t,
        (None, None) => {
            return Err(format!(
                "`task_name` is needed: the input `{}` is the dataset `{r}`, not a task",
                input.name
            )
            .into())
        }
    };
    datasets::valid_name("labeling task", &task)?;
    let spec = match props {
        Some(p) => TaskSpec {
            task_type,
            labels: label_names(ctx, &p.labels)?,
            auto_sync: flag(ctx, &p.auto_sync_dataset, true)?,
            properties: match &p.properties {
                Some(v) => ctx.values.json(v)?,
                None => json!({}),
            },
            description: text(ctx, &p.description)?.unwrap_or_default(),
        },
        None => TaskSpec {
            auto_sync: true,
            properties: json!({}),
            ..TaskSpec::default()
        },
    };
    let mut inputs = Map::new();
    inputs.insert(input.name.clone(), json!({ "dataset": r.to_string() }));
    Ok((
        Job::Label {
            dataset: r.dataset,
            task,
            spec,
            exec: ctx.exec_id().to_string(),
            step: step.name.clone(),
        },
        inputs,
    ))
}

fn plan_release(
    step: &Step,
    s: &ReleaseDatasetSpec,
    ctx: &PlanCtx,
) -> Result<(Job, Map<String, Value>), StepError> {
    let (input, r) = data_input(&s.inputs, ctx, "a release")?;
    let mut spec = ReleaseSpec::default();
    if let Some(c) = &s.version {
        spec.version_name = text(ctx, &c.version_name)?;
        spec.version_format = text(ctx, &c.version_format)?.unwrap_or_else(|| "Default".into());
        let ratio = text(ctx, &c.train_evaluate_sample_ratio)?.unwrap_or_else(|| "1.00".into());
        spec.ratio = parse_ratio(&ratio)?;
        spec.clear_hard_property = flag(ctx, &c.clear_hard_property, true)?;
        spec.remove_sample_usage = flag(ctx, &c.remove_sample_usage, true)?;
        spec.label_task_type = text(ctx, &c.label_task_type)?;
        spec.description = text(ctx, &c.description)?.unwrap_or_default();
    }
    spec.made_by = Some(format!("{}/{}", ctx.exec_id(), step.name));
    if !spec.version_format.eq_ignore_ascii_case("default") {
        return Err(format!(
            "`version_format` is `{}`: only `Default` versions are made here; CarbonData needs ModelArts",
            spec.version_format
        ).into());
    }
    let mut inputs = Map::new();
    inputs.insert(input.name.clone(), json!({ "dataset": r.to_string() }));
    let source = DataRef { version: None, ..r };
    Ok((Job::Release { source, spec }, inputs))
}

impl Backend for DatasetBackend {
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let spec = match args::spec(step)? {
            StepSpec::Dataset(d) => d,
            _ => {
                return Err(format!("the dataset service does not run {} steps", step.kind).into())
            }
        };
        let (job, inputs) = match spec {
            DatasetStepSpec::Create(s) => plan_create(s, ctx)?,
            DatasetStepSpec::Import(s) => plan_import(s, ctx)?,
            DatasetStepSpec::Labeling(s) => plan_label(step, s, ctx)?,
            DatasetStepSpec::Release(s) => plan_release(step, s, ctx)?,
        };
        let outputs = spec.outputs().to_vec();
        Ok(Plan {
            inputs,
            flavor: None,
            work: Arc::new(DataWork {
                home: ctx.home().to_path_buf(),
                interactive: ctx.interactive,
                outputs,
                job,
            }),
        })
    }

    fn may_proceed(&self, store: &Store, detail: &Map<String, Value>) -> Result<(), StepError> {
        let (Some(ds), Some(task)) = (
            detail.get("dataset_name").and_then(Value::as_str),
            detail.get("task_name").and_then(Value::as_str),
        ) else {
            return Ok(());
        };
        let c = datasets::task_counts(store, ds, task).map_err(|e| e.to_string())?;
        if c.unlabelled > 0 {
            return Err(format!(
                "labeling task `{ds}/{task}` still has {} unlabelled sample{} of {}: label {} with `wf label {ds}/{task} set SAMPLE LABEL...` or `wf label {ds}/{task} import FILE` (`wf label {ds}/{task} show` lists them)",
                c.unlabelled,
                if c.unlabelled == 1 { "" } else { "s" },
                c.labelled + c.unlabelled,
                if c.unlabelled == 1 { "it" } else { "them" },
            ).into());
        }
        Ok(())
    }
}

impl Work for DataWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let mut told = false;
            // An import stops between files when the step is stopped.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let watcher = {
                let (stop, cancel) = (stop.clone(), attempt.cancel.clone());
                tokio::spawn(async move {
                    cancel.cancelled().await;
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                })
            };
            loop {
                let work = self.clone();
                let flag = stop.clone();
                let end = match tokio::task::spawn_blocking(move || work.run_blocking(flag)).await {
                    Ok(end) => end,
                    Err(e) => StepEnd::Failed(format!("the dataset service failed: {e}")),
                };
                // With a person at the terminal, a labeling step waits for the labels
                // (given from another terminal) rather than pausing the execution.
                if attempt.cancel.is_cancelled() && !matches!(end, StepEnd::Executed { .. }) {
                    watcher.abort();
                    return StepEnd::Stopped;
                }
                let StepEnd::Awaiting { reason, .. } = &end else {
                    watcher.abort();
                    return end;
                };
                if !self.interactive {
                    watcher.abort();
                    return end;
                }
                if !told {
                    let how = reason.split(", then").next().unwrap_or(reason);
                    attempt.say(format!("waiting for labels (Ctrl-C stops): {how}"));
                    told = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = attempt.cancel.cancelled() => {
                        watcher.abort();
                        return StepEnd::Stopped;
                    }
                }
            }
        })
    }
}

impl DataWork {
    fn run_blocking(&self, stop: Arc<std::sync::atomic::AtomicBool>) -> StepEnd {
        let store = match Store::open(&self.home) {
            Ok(s) => s,
            Err(e) => return StepEnd::Failed(e.to_string()),
        };
        match self.run_on(&store, stop) {
            Ok(end) => end,
            Err(e) => e.into(),
        }
    }

    /// Every output records the dataset produced.
    fn executed(
        &self,
        store: &Store,
        r: &DataRef,
        path: PathBuf,
        note: String,
    ) -> Result<StepEnd, StepError> {
        let value = datasets::record_value(store, r, &path).map_err(|e| e.to_string())?;
        let outputs: IndexMap<String, Value> = self
            .outputs
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    json!({ "path": path.to_string_lossy(), "dataset": value }),
                )
            })
            .collect();
        Ok(StepEnd::Executed {
            outputs,
            metrics: IndexMap::new(),
            detail: Map::new(),
            note: Some(note),
        })
    }

    fn run_on(
        &self,
        store: &Store,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<StepEnd, StepError> {
        let home = &store.home;
        let e = |e: datasets::DataError| e.to_string();
        match &self.job {
            Job::Create {
                dataset,
                data_type,
                description,
                from,
                manifest,
                opts,
                rules,
                work_dirs,
            } => {
                let found = read_samples(from, *manifest, *data_type, opts, &home.join("obs"))?;
                let (_, made) =
                    datasets::create(store, dataset, *data_type, description).map_err(e)?;
                let rules = ImportRules {
                    stop: Some(stop.clone()),
                    ..rules.clone()
                };
                let got = datasets::import(store, dataset, found, &rules).map_err(e)?;
                let r = DataRef::dataset(dataset);
                for dir in work_dirs {
                    write_work_manifest(store, &r, dir)?;
                }
                let note = format!(
                    "{} dataset `{dataset}`: {} new sample{} of {} found, {} labelled",
                    if made { "created" } else { "used" },
                    got.added,
                    if got.added == 1 { "" } else { "s" },
                    got.found,
                    got.labelled
                );
                let path = work_dirs
                    .first()
                    .cloned()
                    .unwrap_or_else(|| datasets::dataset_dir(home, dataset));
                self.executed(store, &r, path, note)
            }
            Job::Import {
                target,
                from,
                manifest,
                opts,
                rules,
            } => {
                let d = datasets::get(store, &target.dataset).map_err(e)?;
                datasets::check_ref(store, target).map_err(e)?;
                let found = read_samples(from, *manifest, d.data_type, opts, &home.join("obs"))?;
                let rules = ImportRules {
                    stop: Some(stop.clone()),
                    ..rules.clone()
                };
                let got = datasets::import(store, &target.dataset, found, &rules).map_err(e)?;
                let note = format!(
                    "imported into `{target}`: {} new sample{} of {} found, {} labelled",
                    got.added,
                    if got.added == 1 { "" } else { "s" },
                    got.found,
                    got.labelled
                );
                self.executed(
                    store,
                    target,
                    datasets::dataset_dir(home, &target.dataset),
                    note,
                )
            }
            Job::Label {
                dataset,
                task,
                spec,
                exec,
                step,
            } => {
                datasets::get(store, dataset).map_err(e)?;
                datasets::ensure_task(store, dataset, task, spec).map_err(e)?;
                let c = datasets::task_counts(store, dataset, task).map_err(e)?;
                let r = DataRef {
                    dataset: dataset.clone(),
                    version: None,
                    task: Some(task.clone()),
                };
                if c.unlabelled > 0 {
                    let mut detail = Map::new();
                    detail.insert("dataset_name".into(), json!(dataset));
                    detail.insert("task_name".into(), json!(task));
                    detail.insert("labelled".into(), json!(c.labelled));
                    detail.insert("unlabelled".into(), json!(c.unlabelled));
                    let reason = format!(
                        "labeling task `{dataset}/{task}` has {} unlabelled sample{} of {}: label with `wf label {dataset}/{task} set SAMPLE LABEL...` or `wf label {dataset}/{task} import FILE`, then `wf proceed {exec} {step}`",
                        c.unlabelled,
                        if c.unlabelled == 1 { "" } else { "s" },
                        c.labelled + c.unlabelled
                    );
                    return Ok(StepEnd::Awaiting { reason, detail });
                }
                let note = format!(
                    "labeling task `{dataset}/{task}`: all {} samples labelled",
                    c.labelled
                );
                self.executed(store, &r, datasets::dataset_dir(home, dataset), note)
            }
            Job::Release { source, spec } => {
                let rel = datasets::release(store, &source.dataset, source.task.as_deref(), spec)
                    .map_err(e)?;
                let r = DataRef {
                    dataset: source.dataset.clone(),
                    version: Some(rel.version.clone()),
                    task: None,
                };
                let note = format!(
                    "released `{}@{}`: {} samples, {} TRAIN, {} EVAL",
                    source.dataset, rel.version, rel.samples, rel.train, rel.eval
                );
                self.executed(store, &r, rel.path, note)
            }
        }
    }
}

/// The dataset creation's output folder (its OBS work path) gets the dataset's manifest,
/// its sources the samples' files in the home.
fn write_work_manifest(store: &Store, r: &DataRef, dir: &std::path::Path) -> Result<(), StepError> {
    let snap = datasets::release::snapshot(store, &r.dataset, r.task.as_deref())
        .map_err(|e| e.to_string())?;
    let snap = std::path::absolute(&snap).unwrap_or(snap);
    let text = std::fs::read_to_string(snap.join("manifest.json"))
        .map_err(|e| format!("cannot read the dataset's manifest: {e}"))?;
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if let Some(s) = v.get("source").and_then(Value::as_str) {
            v["source"] = json!(snap.join(s).to_string_lossy());
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make `{}`: {e}", dir.display()))?;
    std::fs::write(dir.join("manifest.json"), out).map_err(|e| {
        StepError::Unavailable(format!(
            "cannot write `{}`: {e}",
            dir.join("manifest.json").display()
        ))
    })
}
