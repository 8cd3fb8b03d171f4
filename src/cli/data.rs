//! `wf datasets`, `wf dataset show|create|export` and `wf label TASK show|set|import`: the
//! local dataset service from the command line (README, "Datasets").

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};

use super::exit;
use crate::datasets::formats::{DataType, Format, ReadOpts};
use crate::datasets::import::{ImportProgress, Stage};
use crate::datasets::label::{parse_label_file, task_info, task_samples};
use crate::datasets::{self, DataError, DataRef, ImportRules};
use crate::store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::open_store as open;

fn fail(e: DataError) -> i32 {
    errln!("error: {e}");
    exit::FAILED
}

fn usage(msg: &str) -> i32 {
    errln!("error: {msg}");
    exit::USAGE
}

#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    /// Print a JSON array, one object a dataset
    #[arg(long)]
    pub json: bool,
}

/// `wf datasets`.
pub fn datasets(home: Option<&Path>, a: DatasetsArgs) -> i32 {
    if super::no_records(home) {
        errln!("no datasets yet; `wf dataset create NAME --from DIR` makes one, and so does a CreateDatasetStep");
        return exit::OK;
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let list = match datasets::datasets_json(&store) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if a.json {
        super::print_json(&Value::Array(list));
        return exit::OK;
    }
    if list.is_empty() {
        errln!("no datasets yet; `wf dataset create NAME --from DIR` makes one, and so does a CreateDatasetStep");
        return exit::OK;
    }
    outln!(
        "{:<24} {:<12} {:>9} {:>9} {:>8}  LATEST",
        "NAME",
        "TYPE",
        "SAMPLES",
        "LABELLED",
        "VERSIONS"
    );
    for d in list {
        outln!(
            "{:<24} {:<12} {:>9} {:>9} {:>8}  {}",
            d["name"].as_str().unwrap_or(""),
            d["data_type"].as_str().unwrap_or(""),
            d["samples"].as_i64().unwrap_or(0),
            d["labelled"].as_i64().unwrap_or(0),
            d["versions"].as_i64().unwrap_or(0),
            d["latest_version"].as_str().unwrap_or("-")
        );
    }
    exit::OK
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// A dataset (samples, labels, tasks, versions), or one version of it
    #[command(
        after_help = "Examples:\n  wf dataset show flowers\n  wf dataset show flowers@V002 --json"
    )]
    Show {
        /// NAME or NAME@VERSION
        dataset: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a dataset from a folder (or add the files it lacks), importing labels
    #[command(
        after_help = "Formats: MA_IMAGE_CLASSIFICATION_V1 MA_IMAGENET_V1 MA_PASCAL_VOC_V1 YOLO MA_IMAGE_SEGMENTATION_V1\n         MA_TEXT_CLASSIFICATION_COMBINE_V1 MA_TEXT_CLASSIFICATION_V1 MA_AUDIO_CLASSIFICATION_DIR_V1\n         MANIFEST (a manifest file, JSON lines)\n\nExamples:\n  wf dataset create flowers --from ./flowers --type IMAGE --format MA_IMAGENET_V1\n  wf dataset create notes --from ./notes --type TEXT"
    )]
    Create {
        name: String,
        /// The folder (or manifest file) to read
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Data type: IMAGE, TEXT, AUDIO, TABULAR, VIDEO, FREE_FORMAT (default: the
        /// existing dataset's, else the one --format describes, else FREE_FORMAT)
        #[arg(long = "type", value_name = "T")]
        data_type: Option<String>,
        /// The label format of the folder (none: the files, unlabelled)
        #[arg(long, value_name = "F")]
        format: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Release a version of a dataset (or of what a labeling task sees), as a
    /// ReleaseDatasetStep does: its samples and confirmed labels as they are now
    #[command(
        after_help = "Examples:\n  wf dataset release flowers --ratio 0.8     # 80% TRAIN, 20% EVAL\n  wf dataset release flowers/round1\n  wf dataset release flowers --json"
    )]
    Release {
        /// NAME, or NAME/TASK for the labels the task sees
        dataset: String,
        /// The share of samples in TRAIN, from 0 to 1 (train_evaluate_sample_ratio); the
        /// rest are EVAL
        #[arg(long, value_name = "R", default_value = "1.00")]
        ratio: String,
        /// Print the version as one JSON object (as `wf dataset show NAME@VERSION --json`)
        #[arg(long)]
        json: bool,
    },
    /// Write a version as a job sees it: manifest.json and data/
    #[command(after_help = "Example:\n  wf dataset export flowers@V001 ./flowers-v1")]
    Export {
        /// NAME@VERSION (NAME alone: its latest version)
        dataset: String,
        /// A new (or empty) folder
        dir: PathBuf,
    },
}

pub fn dataset(home: Option<&Path>, c: DatasetCommand) -> i32 {
    match c {
        DatasetCommand::Show { dataset, json } => show(home, &dataset, json),
        DatasetCommand::Create {
            name,
            from,
            data_type,
            format,
            json,
        } => create(
            home,
            &name,
            &from,
            data_type.as_deref(),
            format.as_deref(),
            json,
        ),
        DatasetCommand::Release {
            dataset,
            ratio,
            json,
        } => release(home, &dataset, &ratio, json),
        DatasetCommand::Export { dataset, dir } => export(home, &dataset, &dir),
    }
}

fn release(home: Option<&Path>, text: &str, ratio: &str, as_json: bool) -> i32 {
    let r = match parse_ref(text) {
        Ok(r) => r,
        Err(c) => return c,
    };
    if let Some(v) = &r.version {
        return usage(&format!(
            "`{text}` names the released version `{v}`, and versions never change: release the dataset, `{}`",
            r.dataset
        ));
    }
    let ratio = match datasets::release::parse_ratio(ratio) {
        Ok(x) => x,
        Err(e) => return usage(&format!("--ratio: {e}")),
    };
    if super::no_records(home) {
        errln!(
            "error: no dataset `{}` in this home; `wf datasets` lists them",
            r.dataset
        );
        return exit::FAILED;
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    if let Err(e) = datasets::check_ref(&store, &r) {
        return fail(e);
    }
    let spec = datasets::ReleaseSpec {
        ratio,
        ..datasets::ReleaseSpec::default()
    };
    let rel = match datasets::release(&store, &r.dataset, r.task.as_deref(), &spec) {
        Ok(rel) => rel,
        Err(e) => return fail(e),
    };
    if as_json {
        match datasets::version_json(&store, &r.dataset, &rel.version) {
            Ok(v) => super::print_json(&v),
            Err(e) => return fail(e),
        }
    } else {
        outln!("{}@{}", r.dataset, rel.version);
        errln!(
            "released `{}@{}`: {} sample{}, {} TRAIN, {} EVAL",
            r.dataset,
            rel.version,
            rel.samples,
            if rel.samples == 1 { "" } else { "s" },
            rel.train,
            rel.eval
        );
    }
    exit::OK
}

fn parse_ref(text: &str) -> Result<DataRef, i32> {
    DataRef::from_text(text).map_err(|e| usage(&e.to_string()))
}

fn show(home: Option<&Path>, text: &str, as_json: bool) -> i32 {
    let r = match parse_ref(text) {
        Ok(r) => r,
        Err(c) => return c,
    };
    if r.task.is_some() {
        return usage(&format!(
            "`{text}` names a labeling task: `wf label {text} show` shows it"
        ));
    }
    if super::no_records(home) {
        errln!(
            "error: no dataset `{}` in this home; `wf datasets` lists them",
            r.dataset
        );
        return exit::FAILED;
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let v = match &r.version {
        Some(ver) => datasets::version_json(&store, &r.dataset, ver),
        None => datasets::dataset_json(&store, &r.dataset),
    };
    let v = match v {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if as_json {
        super::print_json(&v);
        return exit::OK;
    }
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let labels = |l: &Value| -> String {
        l.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "none".into())
    };
    if r.version.is_some() {
        outln!(
            "{}@{} ({}): {} samples, {} TRAIN, {} EVAL",
            s("name"),
            s("version_name"),
            s("data_type"),
            v["samples"],
            v["train"],
            v["eval"]
        );
        outln!("labels:   {}", labels(&v["labels"]));
        outln!("released: {}", s("created_at"));
        outln!("folder:   {}", s("path"));
        return exit::OK;
    }
    outln!(
        "{} ({}): {} samples, {} labelled, {} unlabelled",
        s("name"),
        s("data_type"),
        v["samples"],
        v["labelled"],
        v["unlabelled"]
    );
    outln!("labels:   {}", labels(&v["labels"]));
    let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
    if !tasks.is_empty() {
        outln!("tasks:");
        for t in tasks {
            outln!(
                "  {:<20} {:<22} {} labelled, {} unlabelled",
                t["task_name"].as_str().unwrap_or(""),
                t["task_type"].as_str().unwrap_or(""),
                t["labelled"],
                t["unlabelled"]
            );
        }
    }
    let versions = v["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        outln!("versions: none released");
    } else {
        outln!("versions:");
        for x in versions {
            outln!(
                "  {:<8} {:>7} samples {:>7} TRAIN {:>7} EVAL  {}",
                x["version_name"].as_str().unwrap_or(""),
                x["samples"],
                x["train"],
                x["eval"],
                x["created_at"].as_str().unwrap_or("")
            );
        }
    }
    exit::OK
}

fn create(
    home: Option<&Path>,
    name: &str,
    from: &Path,
    data_type: Option<&str>,
    format: Option<&str>,
    as_json: bool,
) -> i32 {
    let given = match data_type {
        None => None,
        Some(text) => match DataType::parse(text) {
            Some(t) => Some(t),
            None => {
                return usage(&format!(
                    "--type `{text}`: it takes IMAGE, TEXT, AUDIO, TABULAR, VIDEO or FREE_FORMAT"
                ))
            }
        },
    };
    if let Err(e) = datasets::valid_name("dataset", name) {
        return usage(&e.to_string());
    }
    let manifest = format.is_some_and(|f| f.eq_ignore_ascii_case("MANIFEST"));
    let label_format = match format.filter(|_| !manifest).map(Format::parse) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => return usage(&format!("--format: {e}")),
    };
    if !from.exists() {
        return usage(&format!("--from `{}` does not exist", from.display()));
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // Without --type: the dataset's own type when it exists, else the one the format is for.
    let existing = match datasets::info(&store, name) {
        Ok(d) => d.map(|d| d.data_type),
        Err(e) => return fail(e),
    };
    let t = given
        .or(existing)
        .or_else(|| label_format.and_then(implied_type))
        .unwrap_or(DataType::FreeFormat);
    let mut opts = ReadOpts::default();
    if let Some(f) = label_format {
        if let Err(e) = f.fits(t) {
            return usage(&format!("--format: {e}"));
        }
        opts.format = Some(f);
    }
    let bar = ImportBar::on_terminal();
    if let Some(b) = &bar {
        b.reading(from);
    }
    let found =
        match datasets::import::read_samples(from, manifest, t, &opts, &store.home.join("obs")) {
            Ok(f) => f,
            Err(e) => {
                drop(bar);
                return fail(e);
            }
        };
    let made = match datasets::create(&store, name, t, "") {
        Ok((_, made)) => made,
        Err(e) => {
            drop(bar);
            return fail(e);
        }
    };
    let rules = ImportRules {
        progress: bar.as_ref().map(ImportBar::hook),
        ..ImportRules::default()
    };
    let got = datasets::import(&store, name, found, &rules);
    drop(bar);
    let got = match got {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    if as_json {
        match datasets::dataset_json(&store, name) {
            Ok(v) => super::print_json(&v),
            Err(e) => return fail(e),
        }
    } else {
        errln!(
            "{} dataset `{name}`: {} new sample{} of {} found, {} labelled",
            if made { "created" } else { "added to" },
            got.added,
            if got.added == 1 { "" } else { "s" },
            got.found,
            got.labelled
        );
    }
    exit::OK
}

/// A long import's progress on a terminal: what it is doing, how many samples of how many,
/// how fast, and how long is left. Cleared when dropped; none when stderr is not a terminal
/// (a pipe or a file gets only the summary).
struct ImportBar {
    bar: ProgressBar,
}

impl ImportBar {
    fn on_terminal() -> Option<ImportBar> {
        use std::io::IsTerminal;
        (std::io::stderr().is_terminal() && std::env::var_os("WF_PLAIN_PROGRESS").is_none())
            .then(|| ImportBar::new(ProgressDrawTarget::stderr()))
    }

    fn new(target: ProgressDrawTarget) -> ImportBar {
        let bar = ProgressBar::with_draw_target(None, target);
        ImportBar { bar }
    }

    /// While the folder is read: a spinner, as the count is not known yet.
    fn reading(&self, from: &Path) {
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar.set_message(format!("reading {}", from.display()));
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(120));
    }

    fn update(&self, stage: Stage, done: usize, all: usize) {
        if self.bar.length() != Some(all as u64) || self.bar.message() != stage_word(stage) {
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{msg:9} [{bar:30}] {human_pos}/{human_len} samples  {rate}  {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", s.per_sec());
                    },
                )
                .progress_chars("=> "),
            );
            self.bar.set_length(all as u64);
            self.bar.set_message(stage_word(stage));
            self.bar.reset_eta();
        }
        self.bar.set_position(done as u64);
    }

    fn hook(&self) -> ImportProgress {
        let bar = ImportBar {
            bar: self.bar.clone(),
        };
        ImportProgress(std::sync::Arc::new(move |stage, done, all| {
            bar.update(stage, done, all)
        }))
    }
}

impl Drop for ImportBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn stage_word(stage: Stage) -> &'static str {
    match stage {
        Stage::Keeping => "copying",
        Stage::Recording => "recording",
    }
}

/// The data type a label format describes (`MA_IMAGENET_V1`: IMAGE).
fn implied_type(f: Format) -> Option<DataType> {
    [DataType::Image, DataType::Text, DataType::Audio]
        .into_iter()
        .find(|t| f.fits(*t).is_ok())
}

fn export(home: Option<&Path>, text: &str, dir: &Path) -> i32 {
    let r = match parse_ref(text) {
        Ok(r) => r,
        Err(c) => return c,
    };
    if super::no_records(home) {
        errln!(
            "error: no dataset `{}` in this home; `wf datasets` lists them",
            r.dataset
        );
        return exit::FAILED;
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let version = match &r.version {
        Some(v) => v.clone(),
        None => match datasets::get(&store, &r.dataset)
            .and_then(|_| datasets::latest_version(&store, &r.dataset))
        {
            Ok(Some(v)) => v,
            Ok(None) => {
                return fail(DataError::Invalid(format!(
                "dataset `{}` has no released version to export; a ReleaseDatasetStep releases one",
                r.dataset
            )))
            }
            Err(e) => return fail(e),
        },
    };
    if let Err(e) = datasets::check_ref(
        &store,
        &DataRef {
            version: Some(version.clone()),
            ..r.clone()
        },
    ) {
        return fail(e);
    }
    match datasets::release::export(&store, &r.dataset, &version, dir) {
        Ok(n) => {
            errln!(
                "exported {}@{version}: {n} samples to {}",
                r.dataset,
                dir.display()
            );
            exit::OK
        }
        Err(e) => fail(e),
    }
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "A sample answers to every file name it was imported under, and to a unique prefix of its hash.\n\nExamples:\n  wf label flowers/round1 show\n  wf label flowers/round1 set rose_01.jpg rose\n  wf label flowers/round1 import labels.tsv     # lines: sample<TAB>label[,label]"
)]
pub struct LabelArgs {
    /// The labeling task: DATASET/TASK
    pub task: String,
    #[command(subcommand)]
    pub action: LabelAction,
}

#[derive(Subcommand, Debug)]
pub enum LabelAction {
    /// The task's samples and their labels
    Show {
        #[arg(long)]
        json: bool,
        /// Only the samples without labels
        #[arg(long)]
        unlabelled: bool,
    },
    /// Label one sample
    Set {
        /// A file name it was imported under, or a prefix of its hash
        sample: String,
        /// Its labels
        #[arg(required = true)]
        labels: Vec<String>,
    },
    /// Label samples from a file: lines `sample<TAB>label[,label]`, or a manifest
    Import { file: PathBuf },
}

pub fn label(home: Option<&Path>, a: LabelArgs) -> i32 {
    let Some((ds, task)) = a
        .task
        .split_once('/')
        .filter(|(d, t)| !d.is_empty() && !t.is_empty())
    else {
        return usage(&format!(
            "`{}` is not a labeling task: write DATASET/TASK",
            a.task
        ));
    };
    if super::no_records(home) {
        errln!("error: no dataset `{ds}` in this home; `wf datasets` lists them");
        return exit::FAILED;
    }
    let store = match open(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let r = DataRef {
        dataset: ds.into(),
        version: None,
        task: Some(task.into()),
    };
    if let Err(e) = datasets::check_ref(&store, &r) {
        return fail(e);
    }
    match a.action {
        LabelAction::Show { json, unlabelled } => label_show(&store, ds, task, json, unlabelled),
        LabelAction::Set { sample, labels } => {
            let labels: Vec<String> = labels
                .iter()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            match datasets::set_labels(&store, ds, task, &[(sample.clone(), labels.clone())]) {
                Ok(_) => {
                    report_left(
                        &store,
                        ds,
                        task,
                        &format!("labelled `{sample}`: {}", labels.join(", ")),
                    );
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
        LabelAction::Import { file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => return usage(&format!("cannot read `{}`: {e}", file.display())),
            };
            let items = match parse_label_file(&text, &file.display().to_string()) {
                Ok(i) => i,
                Err(e) => return fail(e),
            };
            match datasets::set_labels(&store, ds, task, &items) {
                Ok(n) => {
                    report_left(
                        &store,
                        ds,
                        task,
                        &format!("labelled {n} sample{}", if n == 1 { "" } else { "s" }),
                    );
                    exit::OK
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn report_left(store: &Store, ds: &str, task: &str, done: &str) {
    match datasets::task_counts(store, ds, task) {
        Ok(c) if c.unlabelled == 0 => errln!("{done}; every sample of {ds}/{task} is labelled"),
        Ok(c) => errln!(
            "{done}; {} of {} still unlabelled",
            c.unlabelled,
            c.labelled + c.unlabelled
        ),
        Err(_) => errln!("{done}"),
    }
}

fn label_show(store: &Store, ds: &str, task: &str, as_json: bool, only_unlabelled: bool) -> i32 {
    let (task_type, labels, sync) = match task_info(store, ds, task) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let samples = match task_samples(store, ds, task) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let labelled = samples.iter().filter(|s| !s.labels.is_empty()).count();
    let shown = samples
        .iter()
        .filter(|s| !only_unlabelled || s.labels.is_empty());
    if as_json {
        let v = json!({
            "dataset_name": ds,
            "task_name": task,
            "task_type": task_type,
            "labels": labels,
            "auto_sync_dataset": sync,
            "labelled": labelled,
            "unlabelled": samples.len() - labelled,
            "samples": shown.map(|s| json!({
                "id": s.hash,
                "name": s.name,
                "labels": s.labels,
                "to_confirm": s.to_confirm,
            })).collect::<Vec<_>>(),
        });
        super::print_json(&v);
        return exit::OK;
    }
    // Names are the files' and the labellers': their control characters are shown escaped.
    let esc = super::escape_control;
    outln!(
        "{}/{} ({task_type}): {labelled} labelled, {} unlabelled{}",
        esc(ds),
        esc(task),
        samples.len() - labelled,
        if labels.is_empty() {
            String::new()
        } else {
            format!("; labels: {}", esc(&labels.join(", ")))
        }
    );
    for s in shown {
        let l = if !s.labels.is_empty() {
            s.labels.join(",")
        } else if !s.to_confirm.is_empty() {
            format!("({} to confirm)", s.to_confirm.join(","))
        } else {
            "-".into()
        };
        outln!("{}  {:<32} {}", &s.hash[..12], esc(&s.name), esc(&l));
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_bar_follows_the_import_stage_by_stage() {
        let b = ImportBar::new(ProgressDrawTarget::hidden());
        let hook = b.hook();
        (hook.0)(Stage::Keeping, 0, 50_000);
        assert_eq!(b.bar.length(), Some(50_000));
        assert_eq!(b.bar.message(), "copying");
        (hook.0)(Stage::Keeping, 12_288, 50_000);
        assert_eq!(b.bar.position(), 12_288);
        (hook.0)(Stage::Recording, 0, 49_000);
        assert_eq!(
            (b.bar.message(), b.bar.position(), b.bar.length()),
            ("recording".to_string(), 0, Some(49_000))
        );
        (hook.0)(Stage::Recording, 49_000, 49_000);
        assert_eq!(b.bar.position(), 49_000);
        drop(b);
    }

    #[test]
    fn an_import_reports_its_counts_as_it_goes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("files");
        std::fs::create_dir_all(&src).unwrap();
        for i in 0..1100 {
            std::fs::write(src.join(format!("{i}.txt")), format!("sample {i}\n")).unwrap();
        }
        let store = Store::open(&dir.path().join("home")).unwrap();
        let found = datasets::import::read_samples(
            &src,
            false,
            DataType::FreeFormat,
            &ReadOpts::default(),
            &store.home.join("obs"),
        )
        .unwrap();
        datasets::create(&store, "many", DataType::FreeFormat, "").unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let rules = ImportRules {
            progress: Some(ImportProgress(std::sync::Arc::new(move |st, d, a| {
                s.lock().unwrap().push((st, d, a))
            }))),
            ..ImportRules::default()
        };
        let got = datasets::import(&store, "many", found, &rules).unwrap();
        assert_eq!(got.added, 1100);
        let seen = seen.lock().unwrap().clone();
        let keeping: Vec<usize> = seen
            .iter()
            .filter(|(st, _, a)| *st == Stage::Keeping && *a == 1100)
            .map(|(_, d, _)| *d)
            .collect();
        assert_eq!(keeping, [0, 512, 1024, 1100]);
        assert_eq!(seen.last(), Some(&(Stage::Recording, 1100, 1100)));
    }
}
