//! Released workflows (README, "The running state"): each name has versions of its definition (a changed
//! structure makes a new one; the latest is what runs) and one configuration: values for
//! its placeholders, storage roots, flavors, a scene, tags, notifications, and how many of
//! its executions may run at once.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use crate::model::definition;
use crate::model::workflow::Workflow;
use crate::store::{now, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// What was asked does not fit (a bad configuration): nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// What was asked collides with what others did at the same time: nothing changed.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::store::Classify for RegistryError {
    fn kind(&self) -> crate::store::ErrorKind {
        use crate::store::ErrorKind;
        match self {
            RegistryError::Invalid(_) => ErrorKind::Invalid,
            RegistryError::NotFound(_) => ErrorKind::NotFound,
            RegistryError::Conflict(_) => ErrorKind::Conflict,
            RegistryError::Store(s) => s.kind(),
        }
    }
}

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, RegistryError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub name: String,
    pub version: i64,
    /// False when the structure was the latest version's already.
    pub new: bool,
}

/// A definition without where each object was written, so that moving code or comments
/// does not make a new version.
fn structure(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "at")
                .map(|(k, x)| (k.clone(), structure(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(structure).collect()),
        other => other.clone(),
    }
}

fn digest(v: &Value) -> String {
    crate::datasets::objects::hash_bytes(structure(v).to_string().as_bytes())
}

/// Stores `w` as the next version of its name, unless its structure is the latest's.
pub fn release(
    store: &Store,
    w: &Workflow,
    base_dir: &Path,
    source: Option<&Path>,
) -> Result<Released> {
    let def = definition::to_json(w);
    let dg = digest(&def);
    let conn = store.conn();
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let at = now();
    let latest: Option<(i64, String)> = tx
        .query_row(
            "SELECT version, digest FROM workflow_versions WHERE workflow = ?1 ORDER BY version DESC LIMIT 1",
            [&w.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((v, d)) = &latest {
        if *d == dg {
            return Ok(Released {
                name: w.name.clone(),
                version: *v,
                new: false,
            });
        }
    }
    let version = latest.map(|(v, _)| v + 1).unwrap_or(1);
    let desc = def
        .pointer("/workflow/desc")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    tx.execute(
        "INSERT INTO workflows(name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(name) DO UPDATE SET description = excluded.description, updated_at = excluded.updated_at",
        params![w.name, desc, at],
    )?;
    tx.execute(
        "INSERT INTO workflow_versions(workflow, version, definition, digest, base_dir, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            w.name,
            version,
            def.to_string(),
            dg,
            base_dir.to_string_lossy(),
            source.map(|s| s.to_string_lossy().into_owned()),
            at
        ],
    )?;
    tx.commit()?;
    Ok(Released {
        name: w.name.clone(),
        version,
        new: true,
    })
}

/// The latest version of a released workflow: its number, definition (JSON text) and the
/// folder its relative paths are relative to.
pub fn latest(store: &Store, name: &str) -> Result<(i64, String, PathBuf)> {
    store
        .conn()
        .query_row(
            "SELECT version, definition, base_dir FROM workflow_versions WHERE workflow = ?1 ORDER BY version DESC LIMIT 1",
            [name],
            |r| Ok((r.get(0)?, r.get::<_, String>(1)?, PathBuf::from(r.get::<_, String>(2)?))),
        )
        .optional()?
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!(
        "no released workflow `{name}`; `wf release SCRIPT` releases one, `wf workflows` lists them"
    ))
}

pub fn exists(store: &Store, name: &str) -> Result<bool> {
    Ok(store
        .conn()
        .query_row(
            "SELECT 1 FROM workflows WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The configuration of a released workflow.
pub fn config(store: &Store, name: &str) -> Result<Value> {
    let text: String = store
        .conn()
        .query_row(
            "SELECT config FROM workflows WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| not_found(name))?;
    Ok(serde_json::from_str(&text).unwrap_or_else(|_| json!({})))
}

/// The fields a configuration takes, each checked for its shape.
const CONFIG_FIELDS: &[(&str, &str)] = &[
    ("parameters", "an object of placeholder values"),
    ("storages", "an object of storage roots"),
    ("flavors", "an object of flavors by step"),
    ("scene", "a scene's name, or null"),
    ("tags", "a list of strings"),
    ("notifications", "a list of {url, events, secret}"),
    ("max_concurrent", "a whole number of executions, at least 1"),
];

/// Replaces the given fields of the configuration (a field given as null is removed).
pub fn set_config(store: &Store, name: &str, patch: &Value) -> Result<Value> {
    let Value::Object(p) = patch else {
        return Err(RegistryError::Invalid(
            "the configuration is a JSON object".into(),
        ));
    };
    let mut cfg = match config(store, name)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, v) in p {
        let Some((_, what)) = CONFIG_FIELDS.iter().find(|(f, _)| f == k) else {
            return Err(RegistryError::Invalid(format!(
                "`{k}` is not a configuration field; they are {}",
                CONFIG_FIELDS
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let ok = match (k.as_str(), v) {
            (_, Value::Null) => true,
            ("parameters" | "storages" | "flavors", Value::Object(_)) => true,
            ("storages", _) => false,
            ("scene", Value::String(_)) => true,
            ("tags", Value::Array(a)) => a.iter().all(Value::is_string),
            ("notifications", Value::Array(_)) => true,
            ("max_concurrent", Value::Number(n)) => n.as_u64().is_some_and(|n| n >= 1),
            _ => false,
        };
        if !ok {
            return Err(RegistryError::Invalid(format!(
                "`{k}` takes {what}, got {v}"
            )));
        }
        // Each value as the CLI checks it, so that what is kept can run.
        match (k.as_str(), v) {
            ("tags", Value::Array(a)) => a.iter().try_for_each(check_tag)?,
            ("notifications", Value::Array(a)) => a
                .iter()
                .enumerate()
                .try_for_each(|(i, n)| check_notification(i, n))?,
            ("flavors", Value::Object(f)) => check_flavors(store, name, f)?,
            _ => {}
        }
        if v.is_null() {
            cfg.remove(k);
        } else {
            cfg.insert(k.clone(), v.clone());
        }
    }
    let cfg = Value::Object(cfg);
    store.conn().execute(
        "UPDATE workflows SET config = ?2, updated_at = ?3 WHERE name = ?1",
        params![name, cfg.to_string(), now()],
    )?;
    Ok(cfg)
}

/// A tag: 1 to 64 characters, none of them control characters (as execution tags).
fn check_tag(t: &Value) -> Result<()> {
    let t = t.as_str().unwrap_or("");
    if t.trim().is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
        return Err(RegistryError::Invalid(format!(
            "`tags`: {}: a tag is 1 to 64 characters, none of them control characters",
            json!(t)
        )));
    }
    Ok(())
}

/// A notification as `wf notify add` takes it: `{url, events, secret}`.
fn check_notification(i: usize, n: &Value) -> Result<()> {
    let field = format!("notifications[{i}]");
    let bad = |m: String| Err(RegistryError::Invalid(m));
    let Value::Object(m) = n else {
        return bad(format!(
            "`{field}` is an object {{url, events, secret}}, not {n}"
        ));
    };
    if let Some(k) = m
        .keys()
        .find(|k| !["url", "events", "secret"].contains(&k.as_str()))
    {
        return bad(format!(
            "`{field}` has an unknown field `{k}`; its fields are url, events, secret"
        ));
    }
    match m.get("url") {
        Some(Value::String(u)) => {
            crate::notify::check_url(u).or_else(|e| bad(format!("`{field}.url`: {e}")))?
        }
        _ => return bad(format!("`{field}.url` is the receiver's URL, a string")),
    }
    let events: Vec<String> = match m.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(other) => {
            return bad(format!(
                "`{field}.events` is a list of events ({}), not {other}",
                crate::notify::EVENTS.join(", ")
            ))
        }
    };
    crate::notify::check_events(&events).or_else(|e| bad(format!("`{field}.events`: {e}")))?;
    match m.get("secret") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(other) => {
            return bad(format!(
                "`{field}.secret` is a non-empty string, not {other}"
            ))
        }
    }
    Ok(())
}

/// The names of the job steps of a definition (those whose flavor a configuration may set).
fn job_steps(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("$class").and_then(Value::as_str) == Some("wf.steps.JobStep")
                && m.get("spec").and_then(|s| s.get("resource")).is_some()
            {
                if let Some(n) = m.get("name").and_then(Value::as_str) {
                    out.push(n.to_string());
                }
            }
            m.values().for_each(|x| job_steps(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| job_steps(x, out)),
        _ => {}
    }
}

/// Flavors by step: each step a job step of the workflow's latest version, each flavor one of
/// this machine's or `POOL:FLAVOR` of a pool added (its flavor checked when it can be reached).
fn check_flavors(store: &Store, name: &str, flavors: &Map<String, Value>) -> Result<()> {
    let (_, def, _) = latest(store, name)?;
    let def: Value = serde_json::from_str(&def).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut jobs = Vec::new();
    job_steps(&def, &mut jobs);
    let machine = crate::pools::flavors::Machine::detect();
    for (step, flavor) in flavors {
        let field = format!("flavors.{step}");
        if !jobs.contains(step) {
            return Err(RegistryError::Invalid(format!(
                "`{field}`: `{step}` is not a job step of `{name}`; its job steps are: {}",
                if jobs.is_empty() {
                    "none".to_string()
                } else {
                    jobs.join(", ")
                }
            )));
        }
        let Some(id) = flavor.as_str() else {
            return Err(RegistryError::Invalid(format!(
                "`{field}` is a flavor's id, a string, not {flavor}"
            )));
        };
        if let Some((pool, f)) = crate::pools::split_ref(id) {
            let pool = crate::pools::named(store, pool)
                .map_err(|e| RegistryError::Invalid(format!("`{field}`: {e}")))?;
            if let Err(crate::pools::FlavorError::Unknown(e)) = pool.flavor(f) {
                return Err(RegistryError::Invalid(format!("`{field}`: {e}")));
            }
        } else if machine.flavor(id).is_none() {
            return Err(RegistryError::Invalid(format!(
                "`{field}`: no flavor `{id}` on this machine; its flavors are: {} (`wf flavors` lists them)",
                machine.flavor_ids()
            )));
        }
    }
    Ok(())
}

/// `GET /api/workflows`, `wf workflows --json`: one object a workflow.
pub fn list(store: &Store, search: Option<&str>, tag: Option<&str>) -> Result<Vec<Value>> {
    let mut stmt = store.conn().prepare(
        "SELECT w.name, w.description, w.config, w.created_at, w.updated_at,
                (SELECT max(version) FROM workflow_versions v WHERE v.workflow = w.name),
                (SELECT count(*) FROM executions e WHERE e.workflow = w.name),
                (SELECT json_object('execution_id', e.id, 'status', e.status, 'created_at', e.created_at)
                   FROM executions e WHERE e.workflow = w.name ORDER BY e.created_at DESC, e.rowid DESC LIMIT 1)
           FROM workflows w ORDER BY w.name",
    )?;
    let rows = stmt.query_map([], |r| {
        let config: String = r.get(2)?;
        Ok(json!({
            "name": r.get::<_, String>(0)?,
            "description": r.get::<_, String>(1)?,
            "tags": serde_json::from_str::<Value>(&config).ok().and_then(|c| c.get("tags").cloned()).unwrap_or(json!([])),
            "created_at": r.get::<_, String>(3)?,
            "updated_at": r.get::<_, String>(4)?,
            "latest_version": r.get::<_, Option<i64>>(5)?,
            "executions": r.get::<_, i64>(6)?,
            "last_execution": r.get::<_, Option<String>>(7)?
                .and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        }))
    })?;
    let mut out: Vec<Value> = rows.collect::<rusqlite::Result<_>>()?;
    if let Some(q) = search.filter(|q| !q.is_empty()) {
        let q = q.to_lowercase();
        out.retain(|w| {
            w["name"].as_str().unwrap_or("").to_lowercase().contains(&q)
                || w["description"]
                    .as_str()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains(&q)
        });
    }
    if let Some(t) = tag.filter(|t| !t.is_empty()) {
        out.retain(|w| {
            w["tags"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == t))
        });
    }
    Ok(out)
}

/// `GET /api/workflows/NAME`: its versions, latest definition and configuration.
pub fn show(store: &Store, name: &str) -> Result<Value> {
    let mut w = list(store, None, None)?
        .into_iter()
        .find(|w| w["name"] == name)
        .ok_or_else(|| not_found(name))?;
    let mut stmt = store.conn().prepare(
        "SELECT version, digest, base_dir, source, created_at FROM workflow_versions WHERE workflow = ?1 ORDER BY version",
    )?;
    let versions: Vec<Value> = stmt
        .query_map([name], |r| {
            Ok(json!({
                "version": r.get::<_, i64>(0)?,
                "digest": r.get::<_, String>(1)?,
                "base_dir": r.get::<_, String>(2)?,
                "source": r.get::<_, Option<String>>(3)?,
                "created_at": r.get::<_, String>(4)?,
            }))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (_, def, _) = latest(store, name)?;
    w["versions"] = Value::Array(versions);
    w["definition"] = serde_json::from_str(&def).unwrap_or(Value::Null);
    w["configuration"] = config(store, name)?;
    Ok(w)
}

/// `POST /api/workflows/NAME/copy`: the latest version and the configuration under
/// `NAME_copy` (then `NAME_copy2`, ...). Returns the new name. The name is chosen and taken in
/// one write transaction, so copies made at the same time get names of their own.
pub fn copy(store: &Store, name: &str) -> Result<String> {
    const TRIES: usize = 5;
    for _ in 0..TRIES {
        match copy_once(store, name) {
            Err(RegistryError::Store(StoreError::Sql(e))) if is_unique_violation(&e) => continue,
            other => return other,
        }
    }
    Err(RegistryError::Conflict(format!(
        "`{name}` is being copied by others at the same time and no free name was found; try again"
    )))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn copy_once(store: &Store, name: &str) -> Result<String> {
    let conn = store.conn();
    // Taken before anything is read: the free name found is still free at the insert.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let (_, def, base) = latest(store, name)?;
    let cfg = config(store, name)?;
    let mut new = format!("{name}_copy");
    let mut n = 2;
    while exists(store, &new)? {
        new = format!("{name}_copy{n}");
        n += 1;
    }
    if new.len() > 64 {
        return Err(RegistryError::Invalid(format!(
            "`{new}` would be longer than a workflow name may be (64)"
        )));
    }
    let mut def: Value =
        serde_json::from_str(&def).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    def["name"] = json!(new);
    if let Some(w) = def.get_mut("workflow").and_then(Value::as_object_mut) {
        w.insert("name".into(), json!(new));
    }
    let at = now();
    tx.execute(
        "INSERT INTO workflows(name, description, config, created_at, updated_at)
         SELECT ?2, description, ?3, ?4, ?4 FROM workflows WHERE name = ?1",
        params![name, new, cfg.to_string(), at],
    )?;
    tx.execute(
        "INSERT INTO workflow_versions(workflow, version, definition, digest, base_dir, source, created_at)
         VALUES (?1, 1, ?2, ?3, ?4, NULL, ?5)",
        params![new, def.to_string(), digest(&def), base.to_string_lossy(), at],
    )?;
    tx.commit()?;
    Ok(new)
}

/// Deletes a released workflow and its versions (its executions' records stay).
pub fn delete(store: &Store, name: &str) -> Result<()> {
    if !exists(store, name)? {
        return Err(not_found(name));
    }
    let conn = store.conn();
    let tx = conn.unchecked_transaction()?;
    tx.execute("DELETE FROM workflow_versions WHERE workflow = ?1", [name])?;
    tx.execute("DELETE FROM notifications WHERE workflow = ?1", [name])?;
    tx.execute("DELETE FROM workflows WHERE name = ?1", [name])?;
    tx.commit()?;
    Ok(())
}
