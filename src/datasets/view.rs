//! What `wf datasets`, `wf dataset show` and the records show of datasets.

use serde_json::{json, Map, Value};

use super::label::task_counts;
use super::release::versions_dir;
use super::{get, DataError, Result};
use crate::store::Store;

pub fn sample_count(store: &Store, dataset: &str) -> Result<u64> {
    let n: i64 = store.conn().query_row(
        "SELECT count(*) FROM samples WHERE dataset = ?1",
        [dataset],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

pub fn version_samples(store: &Store, dataset: &str, version: &str) -> Result<u64> {
    let n: i64 = store.conn().query_row(
        "SELECT samples FROM dataset_versions WHERE dataset = ?1 AND name = ?2",
        [dataset, version],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

pub fn version_names(store: &Store, dataset: &str) -> Result<Vec<String>> {
    let mut stmt = store
        .conn()
        .prepare_cached("SELECT name FROM dataset_versions WHERE dataset = ?1 ORDER BY seq")?;
    let names = stmt
        .query_map([dataset], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

/// Label → count of the dataset's samples with it (confirmed labels, the dataset's own).
fn label_counts(store: &Store, dataset: &str) -> Result<Map<String, Value>> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT label, count(*) FROM sample_labels WHERE dataset = ?1 AND scope = '' GROUP BY label ORDER BY label",
    )?;
    let rows = stmt.query_map([dataset], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut m = Map::new();
    for row in rows {
        let (l, n) = row?;
        m.insert(l, n.into());
    }
    Ok(m)
}

fn labelled_count(store: &Store, dataset: &str) -> Result<u64> {
    let n: i64 = store.conn().query_row(
        "SELECT count(*) FROM annotations WHERE dataset = ?1 AND scope = '' AND confirmed = 1",
        [dataset],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

fn versions(store: &Store, dataset: &str) -> Result<Vec<Value>> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT name, samples, train, eval, labels, task, task_type, ratio, description, created_at
           FROM dataset_versions WHERE dataset = ?1 ORDER BY seq",
    )?;
    let home = store.home.clone();
    let rows = stmt.query_map([dataset], |r| {
        let name: String = r.get(0)?;
        let labels: String = r.get(4)?;
        Ok(json!({
            "version_name": name,
            "samples": r.get::<_, i64>(1)?,
            "train": r.get::<_, i64>(2)?,
            "eval": r.get::<_, i64>(3)?,
            "labels": serde_json::from_str::<Value>(&labels).unwrap_or(Value::Null),
            "task_name": r.get::<_, Option<String>>(5)?,
            "label_task_type": r.get::<_, Option<String>>(6)?,
            "train_evaluate_sample_ratio": r.get::<_, f64>(7)?,
            "description": r.get::<_, String>(8)?,
            "created_at": r.get::<_, String>(9)?,
            "path": versions_dir(&home, dataset).join(&name).to_string_lossy(),
        }))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn tasks(store: &Store, dataset: &str) -> Result<Vec<Value>> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT name, task_type, labels, auto_sync, description, created_at FROM label_tasks WHERE dataset = ?1 ORDER BY created_at, name",
    )?;
    let rows: Vec<(String, String, String, bool, String, String)> = stmt
        .query_map([dataset], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (name, t, labels, sync, description, created_at) in rows {
        let c = task_counts(store, dataset, &name)?;
        out.push(json!({
            "task_name": name,
            "task_type": t,
            "labels": serde_json::from_str::<Value>(&labels).unwrap_or(Value::Null),
            "auto_sync_dataset": sync,
            "labelled": c.labelled,
            "unlabelled": c.unlabelled,
            "description": description,
            "created_at": created_at,
        }));
    }
    Ok(out)
}

/// `wf dataset show NAME --json`.
pub fn dataset_json(store: &Store, name: &str) -> Result<Value> {
    let d = get(store, name)?;
    let samples = sample_count(store, name)?;
    let labelled = labelled_count(store, name)?;
    Ok(json!({
        "name": d.name,
        "data_type": d.data_type.as_str(),
        "description": d.description,
        "created_at": d.created_at,
        "samples": samples,
        "labelled": labelled,
        "unlabelled": samples - labelled.min(samples),
        "labels": label_counts(store, name)?,
        "tasks": tasks(store, name)?,
        "versions": versions(store, name)?,
        "path": super::dataset_dir(&store.home, name).to_string_lossy(),
    }))
}

/// `wf dataset show NAME@VERSION --json`.
pub fn version_json(store: &Store, name: &str, version: &str) -> Result<Value> {
    let d = get(store, name)?;
    let v = versions(store, name)?
        .into_iter()
        .find(|v| v["version_name"] == version)
        .ok_or_else(|| {
            let have = version_names(store, name).unwrap_or_default();
            DataError::NotFound(format!(
                "dataset `{name}` has no version `{version}`{}",
                if have.is_empty() {
                    " (it has no released version yet)".to_string()
                } else {
                    format!(" (it has {})", have.join(", "))
                }
            ))
        })?;
    let mut m = Map::new();
    m.insert("name".into(), json!(d.name));
    m.insert("data_type".into(), json!(d.data_type.as_str()));
    if let Value::Object(vm) = v {
        m.extend(vm);
    }
    Ok(Value::Object(m))
}

/// `wf datasets --json`: one object a dataset, by name.
pub fn datasets_json(store: &Store) -> Result<Vec<Value>> {
    let mut stmt = store.conn().prepare(
        "SELECT d.name, d.data_type, d.created_at,
                (SELECT count(*) FROM samples s WHERE s.dataset = d.name),
                (SELECT count(*) FROM annotations a WHERE a.dataset = d.name AND a.scope = '' AND a.confirmed = 1),
                (SELECT count(*) FROM dataset_versions v WHERE v.dataset = d.name),
                (SELECT name FROM dataset_versions v WHERE v.dataset = d.name ORDER BY seq DESC LIMIT 1),
                (SELECT count(*) FROM label_tasks t WHERE t.dataset = d.name)
           FROM datasets d ORDER BY d.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(json!({
            "name": r.get::<_, String>(0)?,
            "data_type": r.get::<_, String>(1)?,
            "created_at": r.get::<_, String>(2)?,
            "samples": r.get::<_, i64>(3)?,
            "labelled": r.get::<_, i64>(4)?,
            "versions": r.get::<_, i64>(5)?,
            "latest_version": r.get::<_, Option<String>>(6)?,
            "tasks": r.get::<_, i64>(7)?,
        }))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
