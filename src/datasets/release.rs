//! Released versions: an immutable manifest of the samples as they were, labelled samples
//! split into TRAIN and EVAL; and the folders of samples jobs are given.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use super::formats::{self, Annotation};
use super::label::{annotation_kind, task_info};
use super::objects::{self, hash_bytes};
use super::{dataset_dir, get, DataError, Result};
use crate::store::{now, private_dir, private_file, Store};

/// `DatasetVersionConfig` as the service takes it.
#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    pub version_name: Option<String>,
    /// `version_format`: `Default`; CarbonData is refused.
    pub version_format: String,
    pub ratio: f64,
    pub clear_hard_property: bool,
    pub remove_sample_usage: bool,
    /// `label_task_type`: keep the annotations of this kind.
    pub label_task_type: Option<String>,
    pub description: String,
    /// Who releases it (`EXECUTION/STEP`): a step that runs again after its runner died
    /// finds the version it made instead of making another.
    pub made_by: Option<String>,
}

impl Default for ReleaseSpec {
    fn default() -> Self {
        ReleaseSpec {
            version_name: None,
            version_format: "Default".into(),
            ratio: 1.0,
            clear_hard_property: true,
            remove_sample_usage: true,
            label_task_type: None,
            description: String::new(),
            made_by: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub version: String,
    pub samples: u64,
    pub train: u64,
    pub eval: u64,
    pub path: PathBuf,
}

/// `train_evaluate_sample_ratio`: a number in [0, 1] (text or number).
pub fn parse_ratio(text: &str) -> Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(DataError::Invalid(format!(
            "`train_evaluate_sample_ratio` is `{text}`, not a number from 0 to 1 (\"0.8\" puts 80% in TRAIN)"
        ))),
    }
}

/// One sample as a version sees it.
struct Row {
    hash: String,
    ext: String,
    name: String,
    usage: String,
    annotations: Option<Vec<Annotation>>,
}

/// The samples of a dataset with the labels `task` sees (or the dataset's own), confirmed
/// ones only, ordered by hash.
fn rows(store: &Store, dataset: &str, task: Option<&str>) -> Result<Vec<Row>> {
    let conn = store.conn();
    let mut stmt = conn.prepare(
        "SELECT s.hash, s.ext, s.name, s.usage,
                coalesce((SELECT annotation FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = ?2 AND a.confirmed = 1),
                         (SELECT annotation FROM annotations a WHERE a.dataset = s.dataset AND a.hash = s.hash AND a.scope = '' AND a.confirmed = 1))
           FROM samples s WHERE s.dataset = ?1 ORDER BY s.hash",
    )?;
    let scope = task.unwrap_or("");
    let out = stmt
        .query_map([dataset, scope], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .map(|row| {
            let (hash, ext, name, usage, a) = row?;
            let annotations = match a {
                Some(text) => {
                    let v: Value = serde_json::from_str(&text).map_err(|e| {
                        crate::store::StoreError::Corrupt(format!("labels of a sample: {e}"))
                    })?;
                    let list = formats::annotations_from_json(&v).map_err(|e| {
                        crate::store::StoreError::Corrupt(format!("labels of a sample: {e}"))
                    })?;
                    (!list.is_empty()).then_some(list)
                }
                None => None,
            };
            Ok(Row {
                hash,
                ext,
                name,
                usage,
                annotations,
            })
        })
        .collect::<Result<Vec<Row>>>()?;
    Ok(out)
}

/// TRAIN for `round(ratio × N)` of the labelled samples, stratified by first label (largest
/// remainders), by hash order within a label: the same samples always split alike.
fn split(rows: &mut [Row], ratio: f64, keep_usage: bool) -> (u64, u64) {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut fixed_train = 0u64;
    let mut labelled = 0u64;
    for (i, r) in rows.iter_mut().enumerate() {
        let Some(a) = &r.annotations else {
            r.usage.clear();
            continue;
        };
        labelled += 1;
        if keep_usage && (r.usage == "TRAIN" || r.usage == "EVAL") {
            fixed_train += u64::from(r.usage == "TRAIN");
            continue;
        }
        let mut names: Vec<&str> = a.iter().map(|x| x.name.as_str()).collect();
        names.sort_unstable();
        groups.entry(names[0].to_string()).or_default().push(i);
    }
    let total_train = ((ratio * labelled as f64).round() as u64).saturating_sub(fixed_train);
    let free: u64 = groups.values().map(|g| g.len() as u64).sum();
    let total_train = total_train.min(free);
    // Quotas by largest remainder, so that they sum to the total.
    let exact: Vec<(String, f64)> = groups
        .iter()
        .map(|(k, g)| {
            let share = if free == 0 {
                0.0
            } else {
                total_train as f64 * g.len() as f64 / free as f64
            };
            (k.clone(), share)
        })
        .collect();
    let mut quota: BTreeMap<String, u64> = exact
        .iter()
        .map(|(k, x)| (k.clone(), x.floor() as u64))
        .collect();
    let mut left = total_train - quota.values().sum::<u64>();
    let mut order: Vec<&(String, f64)> = exact.iter().collect();
    order.sort_by(|a, b| {
        (b.1 - b.1.floor())
            .partial_cmp(&(a.1 - a.1.floor()))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    for (k, _) in order {
        if left == 0 {
            break;
        }
        *quota.get_mut(k).expect("every group has a quota") += 1;
        left -= 1;
    }
    for (k, members) in &groups {
        let q = quota[k] as usize;
        for (j, &i) in members.iter().enumerate() {
            rows[i].usage = if j < q { "TRAIN" } else { "EVAL" }.into();
        }
    }
    let train = rows.iter().filter(|r| r.usage == "TRAIN").count() as u64;
    let eval = rows.iter().filter(|r| r.usage == "EVAL").count() as u64;
    (train, eval)
}

pub fn versions_dir(home: &Path, dataset: &str) -> PathBuf {
    dataset_dir(home, dataset).join("versions")
}

fn write_manifest(dir: &Path, lines: &[Value]) -> std::io::Result<()> {
    let f = private_file(&dir.join("manifest.json"), false)?;
    f.set_len(0)?;
    let mut w = std::io::BufWriter::new(f);
    for l in lines {
        serde_json::to_writer(&mut w, l)?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn manifest_lines(rows: &[Row], clear_hard: bool) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let file = objects::file_name(&r.hash, &r.name, &r.ext);
            let mut a = r.annotations.clone();
            if clear_hard {
                for x in a.iter_mut().flatten() {
                    x.hard = false;
                    if let Some(Value::Object(p)) = &mut x.property {
                        p.remove("@modelarts:hard");
                    }
                }
            }
            let mut line = formats::manifest_line(&format!("data/{file}"), &r.usage, a.as_deref());
            if let Value::Object(m) = &mut line {
                m.insert("id".into(), json!(r.hash));
            }
            line
        })
        .collect()
}

/// Releases a version of the dataset (or of what a task sees) as it is now.
pub fn release(
    store: &Store,
    dataset: &str,
    task: Option<&str>,
    spec: &ReleaseSpec,
) -> Result<Released> {
    get(store, dataset)?;
    if !spec.version_format.eq_ignore_ascii_case("default") {
        return Err(DataError::Invalid(format!(
            "version format `{}` is not made here: only `Default` versions (a manifest of the samples); CarbonData needs ModelArts",
            spec.version_format
        )));
    }
    let task_type = match (task, &spec.label_task_type) {
        (_, Some(t)) => Some(t.clone()),
        (Some(t), None) => Some(task_info(store, dataset, t)?.0),
        (None, None) => None,
    };
    if let Some(v) = &spec.version_name {
        super::valid_name("version", v)?;
    }
    let conn = store.conn();
    // Taken first, so two releases at once get distinct names.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    if let Some(by) = &spec.made_by {
        let done: Option<(String, i64, i64, i64)> = tx
            .query_row(
                "SELECT name, samples, train, eval FROM dataset_versions WHERE dataset = ?1 AND made_by = ?2",
                [dataset, by],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((name, samples, train, eval)) = done {
            let path = versions_dir(&store.home, dataset).join(&name);
            return Ok(Released {
                version: name,
                samples: samples as u64,
                train: train as u64,
                eval: eval as u64,
                path,
            });
        }
    }
    let seq: i64 = tx.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM dataset_versions WHERE dataset = ?1",
        [dataset],
        |r| r.get(0),
    )?;
    let name = spec
        .version_name
        .clone()
        .unwrap_or_else(|| format!("V{seq:03}"));
    if tx
        .query_row(
            "SELECT 1 FROM dataset_versions WHERE dataset = ?1 AND name = ?2",
            [dataset, &name],
            |_| Ok(()),
        )
        .optional()?
        .is_some()
    {
        return Err(DataError::Conflict(format!(
            "dataset `{dataset}` already has a version `{name}`; versions never change: give another `version_name`"
        )));
    }
    let mut rows = rows(store, dataset, task)?;
    if let Some(t) = &task_type {
        let kind = annotation_kind(t);
        let any_kind = matches!(t.as_str(), "FREE_FORMAT" | "TABLE" | "DATASET_TABULAR");
        if !any_kind {
            for r in rows.iter_mut() {
                if let Some(a) = &mut r.annotations {
                    a.retain(|x| x.kind == kind);
                    if a.is_empty() {
                        r.annotations = None;
                    }
                }
            }
        }
    }
    let (train, eval) = split(&mut rows, spec.ratio, !spec.remove_sample_usage);
    let mut labels: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        if let Some(a) = &r.annotations {
            let mut names: Vec<&str> = a.iter().map(|x| x.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                *labels.entry(n.to_string()).or_default() += 1;
            }
        }
    }
    let lines = manifest_lines(&rows, spec.clear_hard_property);
    let home = &store.home;
    let vdir = versions_dir(home, dataset);
    let io = |e: std::io::Error| {
        DataError::io(
            format!("cannot write version `{name}` of `{dataset}`"),
            &vdir,
            e,
        )
    };
    private_dir(&vdir).map_err(io)?;
    let final_dir = vdir.join(&name);
    let tmp = vdir.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    private_dir(&tmp).map_err(io)?;
    write_manifest(&tmp, &lines).map_err(io)?;
    // A folder of this name that no record points at was left by a release killed before
    // it committed: it is not a version.
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io)?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io)?;
    tx.execute(
        "INSERT INTO dataset_versions(dataset, name, seq, task, task_type, ratio, samples, train, eval, labels, description, made_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            dataset,
            name,
            seq,
            task,
            task_type,
            spec.ratio,
            rows.len() as i64,
            train as i64,
            eval as i64,
            json!(labels).to_string(),
            spec.description,
            spec.made_by,
            now()
        ],
    )?;
    tx.commit()?;
    Ok(Released {
        version: name,
        samples: rows.len() as u64,
        train,
        eval,
        path: final_dir,
    })
}

/// `(hash, file)` of each line of a manifest written here.
fn manifest_files(manifest: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| DataError::io(format!("cannot read `{}`", manifest.display()), manifest, e))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| {
            crate::store::StoreError::Corrupt(format!("`{}`: {e}", manifest.display()))
        })?;
        let hash = v.get("id").and_then(Value::as_str).unwrap_or("");
        let source = v.get("source").and_then(Value::as_str).unwrap_or("");
        let file = source.strip_prefix("data/").unwrap_or(source);
        if hash.len() == 64 && !file.is_empty() {
            out.push((hash.to_string(), file.to_string()));
        }
    }
    Ok(out)
}

/// The folder of a released version, its `data/` made on first use.
pub fn version_folder(store: &Store, dataset: &str, version: &str) -> Result<PathBuf> {
    let dir = versions_dir(&store.home, dataset).join(version);
    let manifest = dir.join("manifest.json");
    if !manifest.is_file() {
        return Err(DataError::Invalid(format!(
            "version `{version}` of dataset `{dataset}` has lost its manifest `{}`",
            manifest.display()
        )));
    }
    if !dir.join("data").is_dir() {
        let files = manifest_files(&manifest)?;
        objects::materialize(&store.home, &dir, &files)?;
    }
    Ok(dir)
}

/// A folder of the dataset (or of what a task sees) as it is now, all samples with their
/// labels and the usage they have, kept by its content so that it never changes under a
/// job that uses it.
pub fn snapshot(store: &Store, dataset: &str, task: Option<&str>) -> Result<PathBuf> {
    let rows = rows(store, dataset, task)?;
    let lines = manifest_lines(&rows, false);
    let mut text = String::new();
    for l in &lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    let id = &hash_bytes(text.as_bytes())[..16];
    let dir = dataset_dir(&store.home, dataset).join("snapshots").join(id);
    let io = |e: std::io::Error| {
        DataError::io(format!("cannot write a snapshot of `{dataset}`"), &dir, e)
    };
    if !dir.join("manifest.json").is_file() {
        let tmp = dir.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        private_dir(&tmp).map_err(io)?;
        write_manifest(&tmp, &lines).map_err(io)?;
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    let files: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.hash.clone(), objects::file_name(&r.hash, &r.name, &r.ext)))
        .collect();
    objects::materialize(&store.home, &dir, &files)?;
    Ok(dir)
}

/// Writes a version's folder (`manifest.json` and `data/`) to `dest`, which must not exist
/// or be empty.
pub fn export(store: &Store, dataset: &str, version: &str, dest: &Path) -> Result<u64> {
    let src = version_folder(store, dataset, version)?;
    if dest.exists()
        && std::fs::read_dir(dest)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(DataError::Conflict(format!(
            "`{}` exists and is not empty; export into a new folder",
            dest.display()
        )));
    }
    let io = |e: std::io::Error| {
        DataError::io(format!("cannot export into `{}`", dest.display()), dest, e)
    };
    std::fs::create_dir_all(dest.join("data")).map_err(io)?;
    std::fs::copy(src.join("manifest.json"), dest.join("manifest.json")).map_err(io)?;
    let mut n = 0;
    for e in std::fs::read_dir(src.join("data")).map_err(io)? {
        let e = e.map_err(io)?;
        // Copied, not linked: the folder is the user's to change.
        std::fs::copy(e.path(), dest.join("data").join(e.file_name())).map_err(io)?;
        n += 1;
    }
    Ok(n)
}
