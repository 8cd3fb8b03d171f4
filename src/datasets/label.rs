//! Labeling tasks: made on a dataset with the labels to use; a task sees each sample's
//! labels as its own, else the dataset's. People label with `wf label TASK set|import`.

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::formats::Annotation;
use super::{get, valid_name, DataError, Result};
use crate::store::{now, Store, StoreError};

/// `LabelTaskProperties` as the service keeps them.
#[derive(Debug, Clone, Default)]
pub struct TaskSpec {
    pub task_type: String,
    pub labels: Vec<String>,
    pub auto_sync: bool,
    pub properties: Value,
    pub description: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub labelled: u64,
    pub unlabelled: u64,
}

/// `IMAGE_CLASSIFICATION` → `modelarts/image_classification`.
pub fn annotation_kind(task_type: &str) -> String {
    format!("modelarts/{}", task_type.to_ascii_lowercase())
}

/// Makes the task, or uses it (adding labels it lacks). A task of another type is refused.
/// True when it was made.
pub fn ensure_task(store: &Store, dataset: &str, task: &str, spec: &TaskSpec) -> Result<bool> {
    valid_name("labeling task", task)?;
    get(store, dataset)?;
    let conn = store.conn();
    let existing: Option<(String, String)> = conn
        .query_row(
            "SELECT task_type, labels FROM label_tasks WHERE dataset = ?1 AND name = ?2",
            [dataset, task],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match existing {
        Some((t, labels)) => {
            if !spec.task_type.is_empty() && t != spec.task_type {
                return Err(DataError::Conflict(format!(
                    "labeling task `{dataset}/{task}` exists as {t}, not {}",
                    spec.task_type
                )));
            }
            let mut have: Vec<String> = serde_json::from_str(&labels).unwrap_or_default();
            let before = have.len();
            for l in &spec.labels {
                if !have.contains(l) {
                    have.push(l.clone());
                }
            }
            if have.len() != before {
                conn.execute(
                    "UPDATE label_tasks SET labels = ?3 WHERE dataset = ?1 AND name = ?2",
                    params![dataset, task, json!(have).to_string()],
                )?;
            }
            Ok(false)
        }
        None => {
            conn.execute(
                "INSERT INTO label_tasks(dataset, name, task_type, labels, auto_sync, properties, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    dataset,
                    task,
                    spec.task_type,
                    json!(spec.labels).to_string(),
                    spec.auto_sync,
                    spec.properties.to_string(),
                    spec.description,
                    now()
                ],
            )?;
            Ok(true)
        }
    }
}

pub(super) fn task_syncs(store: &Store, dataset: &str, task: &str) -> Result<bool> {
    store
        .conn()
        .query_row(
            "SELECT auto_sync FROM label_tasks WHERE dataset = ?1 AND name = ?2",
            [dataset, task],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| {
            DataError::NotFound(format!("dataset `{dataset}` has no labeling task `{task}`"))
        })
}

/// A task's type and labels.
pub fn task_info(store: &Store, dataset: &str, task: &str) -> Result<(String, Vec<String>, bool)> {
    let row: Option<(String, String, bool)> = store
        .conn()
        .query_row(
            "SELECT task_type, labels, auto_sync FROM label_tasks WHERE dataset = ?1 AND name = ?2",
            [dataset, task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (t, labels, sync) = row.ok_or_else(|| {
        DataError::NotFound(format!("dataset `{dataset}` has no labeling task `{task}`"))
    })?;
    let labels = serde_json::from_str(&labels)
        .map_err(|e| StoreError::Corrupt(format!("task `{dataset}/{task}` labels: {e}")))?;
    Ok((t, labels, sync))
}

/// How many of the dataset's samples the task sees labelled (by the task or the dataset,
/// confirmed) and unlabelled.
pub fn task_counts(store: &Store, dataset: &str, task: &str) -> Result<TaskCounts> {
    let (total, labelled): (i64, i64) = store.conn().query_row(
        "SELECT count(*), count(a.hash) FROM samples s
           LEFT JOIN (SELECT DISTINCT hash FROM annotations
                       WHERE dataset = ?1 AND scope IN ('', ?2) AND confirmed = 1) a
             ON a.hash = s.hash
          WHERE s.dataset = ?1",
        [dataset, task],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(TaskCounts {
        labelled: labelled as u64,
        unlabelled: (total - labelled) as u64,
    })
}

/// The sample a person means: a name it was imported under, else a unique prefix (4 or
/// more characters) of its content hash.
pub fn find_sample(store: &Store, dataset: &str, text: &str) -> Result<String> {
    let conn = store.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT hash FROM sample_names WHERE dataset = ?1 AND name = ?2",
    )?;
    let by_name: Vec<String> = stmt
        .query_map([dataset, text], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    match by_name.len() {
        1 => return Ok(by_name.into_iter().next().unwrap_or_default()),
        0 => {}
        n => {
            return Err(DataError::Invalid(format!(
                "`{text}` names {n} different samples of dataset `{dataset}` (the file changed between imports); give a prefix of the hash `wf label ... show` prints"
            )))
        }
    }
    let hex = text.len() >= 4 && text.chars().all(|c| c.is_ascii_hexdigit());
    if hex {
        let lower = text.to_ascii_lowercase();
        let mut stmt = conn.prepare_cached(
            "SELECT hash FROM samples WHERE dataset = ?1 AND hash >= ?2 AND hash < ?3 LIMIT 2",
        )?;
        let found: Vec<String> = stmt
            .query_map(params![dataset, lower, format!("{lower}g")], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        match found.len() {
            1 => return Ok(found.into_iter().next().unwrap_or_default()),
            0 => {}
            _ => {
                return Err(DataError::Invalid(format!(
                    "`{text}` is the start of several samples' hashes; give more of it"
                )))
            }
        }
    }
    Err(DataError::NotFound(format!(
        "dataset `{dataset}` has no sample `{text}`; `wf label DATASET/TASK show` lists them"
    )))
}

/// Labels samples of a task: `(sample, labels)` pairs, checked against the task's labels
/// (when it has any), all or none recorded. Returns how many samples were labelled.
pub fn set_labels(
    store: &Store,
    dataset: &str,
    task: &str,
    items: &[(String, Vec<String>)],
) -> Result<usize> {
    let (task_type, known, sync) = task_info(store, dataset, task)?;
    let kind = annotation_kind(&task_type);
    let mut resolved = Vec::with_capacity(items.len());
    for (sample, labels) in items {
        if labels.is_empty() {
            return Err(DataError::Invalid(format!(
                "sample `{sample}`: no label given"
            )));
        }
        if !known.is_empty() {
            if let Some(bad) = labels.iter().find(|l| !known.contains(l)) {
                return Err(DataError::Invalid(format!(
                    "`{bad}` is not a label of task `{dataset}/{task}`; its labels are {}",
                    known.join(", ")
                )));
            }
        }
        resolved.push((find_sample(store, dataset, sample)?, labels));
    }
    let conn = store.conn();
    let tx = conn.unchecked_transaction()?;
    {
        let mut l = Labeller::new(&tx)?;
        for (hash, labels) in &resolved {
            let a: Vec<Annotation> = labels
                .iter()
                .map(|n| Annotation {
                    name: n.clone(),
                    kind: kind.clone(),
                    annotated_by: "human".into(),
                    loc: None,
                    property: None,
                    hard: false,
                })
                .collect();
            l.put(dataset, task, hash, &a, true)?;
            if sync {
                l.put(dataset, "", hash, &a, true)?;
            }
        }
    }
    tx.commit()?;
    Ok(resolved.len())
}

/// Reads `wf label TASK import FILE`: lines `sample<TAB>label[,label]` (blank lines and
/// `#` comments skipped), or a manifest (JSON lines) whose `source` names the samples.
pub fn parse_label_file(text: &str, file: &str) -> Result<Vec<(String, Vec<String>)>> {
    let invalid = DataError::Invalid;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let at = || format!("{file}:{}", i + 1);
        if line.trim_start().starts_with('{') {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| invalid(format!("{}: not a manifest line: {e}", at())))?;
            let source = v
                .get("source")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{}: a manifest line without `source`", at())))?;
            let names: Vec<String> = v
                .get("annotation")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("name").and_then(Value::as_str))
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                continue;
            }
            let sample = source.rsplit('/').next().unwrap_or(source);
            out.push((sample.to_string(), names));
            continue;
        }
        let Some((sample, labels)) = line.split_once('\t') else {
            return Err(invalid(format!(
                "{}: expected `sample<TAB>label[,label]`, got `{line}`",
                at()
            )));
        };
        let labels: Vec<String> = labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if sample.trim().is_empty() || labels.is_empty() {
            return Err(invalid(format!(
                "{}: a sample and at least one label are needed",
                at()
            )));
        }
        out.push((sample.trim().to_string(), labels));
    }
    Ok(out)
}

/// One sample of a task as `wf label TASK show` lists it.
#[derive(Debug, Clone)]
pub struct TaskSample {
    pub hash: String,
    pub name: String,
    pub labels: Vec<String>,
    /// Labels imported to be confirmed.
    pub to_confirm: Vec<String>,
}

pub fn task_samples(store: &Store, dataset: &str, task: &str) -> Result<Vec<TaskSample>> {
    let conn = store.conn();
    let mut stmt = conn.prepare(
        "SELECT s.hash, s.name,
                (SELECT annotation FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = ?2),
                (SELECT confirmed FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = ?2),
                (SELECT annotation FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = ''),
                (SELECT confirmed FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = '')
           FROM samples s WHERE s.dataset = ?1 ORDER BY s.name, s.hash",
    )?;
    let rows = stmt.query_map([dataset, task], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<bool>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<bool>>(5)?,
        ))
    })?;
    let names = |a: &Option<String>| -> Vec<String> {
        a.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|x| x.get("name").and_then(Value::as_str).map(String::from))
            .collect()
    };
    let mut out = Vec::new();
    for row in rows {
        let (hash, name, ta, tc, da, dc) = row?;
        // The task's own labels first, else the dataset's.
        let (a, confirmed) = if ta.is_some() { (ta, tc) } else { (da, dc) };
        let list = names(&a);
        let (labels, to_confirm) = if confirmed.unwrap_or(true) {
            (list, Vec::new())
        } else {
            (Vec::new(), list)
        };
        out.push(TaskSample {
            hash,
            name,
            labels,
            to_confirm,
        });
    }
    Ok(out)
}

pub(super) fn label_names(a: &[Annotation]) -> Vec<String> {
    let mut names: Vec<String> = a.iter().map(|x| x.name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// The annotation array as the records keep it (a manifest line's `annotation`).
pub fn annotation_json(a: &[Annotation]) -> String {
    super::formats::manifest_line("", "", Some(a))
        .get("annotation")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()))
        .to_string()
}

/// Writes annotations of samples in one scope ('' for the dataset, else a task).
pub(super) struct Labeller<'c> {
    put: rusqlite::CachedStatement<'c>,
    clear: rusqlite::CachedStatement<'c>,
    label: rusqlite::CachedStatement<'c>,
}

impl<'c> Labeller<'c> {
    pub fn new(tx: &'c rusqlite::Connection) -> rusqlite::Result<Labeller<'c>> {
        Ok(Labeller {
            put: tx.prepare_cached(
                "INSERT OR REPLACE INTO annotations(dataset, scope, hash, annotation, confirmed) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            clear: tx.prepare_cached(
                "DELETE FROM sample_labels WHERE dataset = ?1 AND scope = ?2 AND hash = ?3",
            )?,
            label: tx.prepare_cached(
                "INSERT OR IGNORE INTO sample_labels(dataset, scope, label, hash) VALUES (?1, ?2, ?3, ?4)",
            )?,
        })
    }

    /// Replaces the sample's annotations in `scope`. Labels to confirm are kept but not
    /// counted.
    pub fn put(
        &mut self,
        dataset: &str,
        scope: &str,
        hash: &str,
        a: &[Annotation],
        confirmed: bool,
    ) -> rusqlite::Result<()> {
        self.put
            .execute(params![dataset, scope, hash, annotation_json(a), confirmed])?;
        self.clear.execute(params![dataset, scope, hash])?;
        if confirmed {
            for n in label_names(a) {
                self.label.execute(params![dataset, scope, n, hash])?;
            }
        }
        Ok(())
    }
}
