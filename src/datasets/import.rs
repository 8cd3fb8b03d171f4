//! Importing samples and labels into a dataset or a labeling task (`ImportDataInfo`).

use std::collections::HashSet;
use std::path::Path;

use rusqlite::params;

use super::formats::{self, Found};
use super::label::{label_names, Labeller};
use super::objects::{self, Kept};
use super::{get, DataError, Result};
use crate::store::{now, Store};

/// Which of what was found is kept, and how (`ImportDataInfo`).
#[derive(Debug, Clone)]
pub struct ImportRules {
    /// `import_samples`: false only labels samples the dataset already holds.
    pub samples: bool,
    /// `import_annotations`: false imports the samples without their labels.
    pub annotations: bool,
    /// `import_annotated`: labels imported go to be confirmed by a person (they do not count
    /// as labelled until `wf label set` confirms them).
    pub to_confirm: bool,
    /// `included_labels`: only samples with one of these labels.
    pub included: Vec<String>,
    /// `excluded_labels`: no sample with one of these labels.
    pub excluded: Vec<String>,
    /// The labeling task the labels go to (its own, and the dataset's when it syncs).
    pub task: Option<String>,
    /// Set when the import must stop (the step was stopped): nothing is recorded then.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Told how far the import is, as it goes (a terminal's progress bar).
    pub progress: Option<ImportProgress>,
}

/// What an import is doing, for a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Copying the samples' bytes into the home (the long part).
    Keeping,
    /// Recording samples, names and labels.
    Recording,
}

/// Called with the stage, the samples done and the samples in all, as an import goes: at
/// its start, every few hundred samples, and at the end of each stage.
#[derive(Clone)]
pub struct ImportProgress(pub std::sync::Arc<dyn Fn(Stage, usize, usize) + Send + Sync>);

impl std::fmt::Debug for ImportProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportProgress")
    }
}

impl ImportProgress {
    fn tell(p: Option<&ImportProgress>, stage: Stage, done: usize, all: usize) {
        if let Some(p) = p {
            (p.0)(stage, done, all);
        }
    }
}

/// Samples kept between two progress reports.
const KEEP_CHUNK: usize = 512;

impl Default for ImportRules {
    fn default() -> Self {
        ImportRules {
            samples: true,
            annotations: true,
            to_confirm: false,
            included: Vec::new(),
            excluded: Vec::new(),
            task: None,
            stop: None,
            progress: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Samples found in the source (after the label filters).
    pub found: usize,
    /// Samples new to the dataset.
    pub added: usize,
    /// Samples given labels.
    pub labelled: usize,
}

/// Imports what a reader found into `dataset`, by the rules. Sample bytes are kept first;
/// then one transaction records samples, names and labels, so a process killed during an
/// import leaves the dataset as it was before or as it is after.
pub fn import(
    store: &Store,
    dataset: &str,
    found: Vec<Found>,
    rules: &ImportRules,
) -> Result<Imported> {
    get(store, dataset)?;
    let sync = match &rules.task {
        Some(t) => super::label::task_syncs(store, dataset, t)?,
        None => true,
    };
    let found: Vec<Found> = found
        .into_iter()
        .filter(|f| {
            let names = f
                .annotations
                .as_deref()
                .map(label_names)
                .unwrap_or_default();
            (rules.included.is_empty() || names.iter().any(|n| rules.included.contains(n)))
                && !names.iter().any(|n| rules.excluded.contains(n))
        })
        .collect();
    let mut report = Imported {
        found: found.len(),
        ..Imported::default()
    };
    let known: HashSet<String> = if rules.samples {
        HashSet::new()
    } else {
        let mut stmt = store
            .conn()
            .prepare("SELECT hash FROM samples WHERE dataset = ?1")?;
        let rows = stmt.query_map([dataset], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let progress = rules.progress.as_ref();
    let all = found.len();
    let kept: Vec<Kept> = if progress.is_none() {
        objects::keep(&store.home, found, rules.stop.as_deref())?
    } else {
        // In chunks, to say how far it is between them.
        ImportProgress::tell(progress, Stage::Keeping, 0, all);
        let mut kept = Vec::with_capacity(all);
        let mut rest = found.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Found> = rest.by_ref().take(KEEP_CHUNK).collect();
            kept.extend(objects::keep(&store.home, chunk, rules.stop.as_deref())?);
            ImportProgress::tell(progress, Stage::Keeping, kept.len(), all);
        }
        kept
    };
    ImportProgress::tell(progress, Stage::Recording, 0, kept.len());
    let conn = store.conn();
    let tx = conn.unchecked_transaction()?;
    {
        let at = now();
        let mut add = tx.prepare_cached(
            "INSERT OR IGNORE INTO samples(dataset, hash, ext, size, name, usage, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut name = tx.prepare_cached(
            "INSERT OR IGNORE INTO sample_names(dataset, name, hash) VALUES (?1, ?2, ?3)",
        )?;
        let mut labels = Labeller::new(&tx)?;
        let mut labelled: HashSet<&str> = HashSet::new();
        for (i, k) in kept.iter().enumerate() {
            if i % KEEP_CHUNK == 0 && i > 0 {
                ImportProgress::tell(progress, Stage::Recording, i, kept.len());
            }
            if rules.samples {
                report.added += add.execute(params![
                    dataset,
                    k.hash,
                    k.ext,
                    k.size as i64,
                    k.found.name,
                    k.found.usage,
                    at
                ])?;
            } else if !known.contains(&k.hash) {
                continue;
            }
            name.execute(params![dataset, k.found.name, k.hash])?;
            let Some(a) = k.found.annotations.as_deref().filter(|_| rules.annotations) else {
                continue;
            };
            if let Some(t) = &rules.task {
                labels.put(dataset, t, &k.hash, a, !rules.to_confirm)?;
            }
            if sync {
                labels.put(dataset, "", &k.hash, a, !rules.to_confirm)?;
            }
            labelled.insert(&k.hash);
        }
        report.labelled = labelled.len();
    }
    tx.commit()?;
    ImportProgress::tell(progress, Stage::Recording, kept.len(), kept.len());
    Ok(report)
}

/// Reads a source for a dataset of `data_type`: a manifest file, or a folder in `format`.
pub fn read_samples(
    source: &Path,
    manifest: bool,
    data_type: formats::DataType,
    opts: &formats::ReadOpts,
    obs_root: &Path,
) -> Result<Vec<Found>> {
    if let Some(f) = opts.format {
        f.fits(data_type)?;
    }
    if manifest || source.is_file() {
        let file = if source.is_dir() {
            let m = source.join("manifest.json");
            if m.is_file() {
                m
            } else {
                return Err(DataError::Invalid(format!(
                    "`{}` is a folder without manifest.json; a manifest import needs a manifest file",
                    source.display()
                )));
            }
        } else {
            source.to_path_buf()
        };
        return Ok(formats::read_manifest(&file, Some(obs_root))?);
    }
    if !source.is_dir() {
        return Err(DataError::NotFound(format!(
            "`{}` does not exist",
            source.display()
        )));
    }
    Ok(formats::read_dir(source, data_type, opts)?)
}
