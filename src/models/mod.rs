//! The local model registry (README, "Models and services"): model names with versions that count up from
//! `0.0.1`, each an immutable copy of its files under `HOME/models/NAME/VERSION/`, with
//! every `ModelConfig` field kept in the records (schema 4).

pub mod templates;

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use crate::store::{now, private_dir, Classify, ErrorKind, Store, StoreError};

pub use templates::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// What was asked does not fit (a name, a version, files that are not there).
    #[error("{0}")]
    Invalid(String),
    /// No such model, or no such version of it.
    #[error("{0}")]
    NotFound(String),
    /// A version that exists already, or one a service serves.
    #[error("{0}")]
    Conflict(String),
    /// The model's files could not be copied into the registry.
    #[error("cannot copy the files of model `{name}`: {source}")]
    Files {
        name: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for ModelError {
    fn kind(&self) -> ErrorKind {
        match self {
            ModelError::Invalid(_) => ErrorKind::Invalid,
            ModelError::NotFound(_) => ErrorKind::NotFound,
            ModelError::Conflict(_) => ErrorKind::Conflict,
            ModelError::Files { .. } => ErrorKind::Internal,
            ModelError::Template(e) => e.kind(),
            ModelError::Store(e) => e.kind(),
        }
    }
}

impl ModelError {
    /// The registry refused what was asked (a name, a version, files, a version taken): the
    /// same registration is refused again, so retrying cannot help.
    pub fn recurs(&self) -> bool {
        matches!(
            self,
            ModelError::Invalid(_) | ModelError::Conflict(_) | ModelError::Files { .. }
        )
    }
}

/// For callers that still carry failures as their message.
impl From<ModelError> for String {
    fn from(e: ModelError) -> String {
        e.to_string()
    }
}

impl From<rusqlite::Error> for ModelError {
    fn from(e: rusqlite::Error) -> Self {
        ModelError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;

/// A registered version.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub model_type: String,
    pub runtime: String,
    pub config: Value,
    pub source: Value,
    pub path: PathBuf,
    pub created_at: String,
}

impl ModelVersion {
    pub fn to_json(&self) -> Value {
        json!({
            "model_name": self.name,
            "model_version": self.version,
            "model_type": self.model_type,
            "runtime": self.runtime,
            "config": self.config,
            "source": self.source,
            "path": self.path.to_string_lossy(),
            "created_at": self.created_at,
        })
    }
}

/// What is registered.
#[derive(Debug, Clone, Default)]
pub struct NewModel {
    pub name: String,
    pub version: Option<String>,
    pub model_type: String,
    pub runtime: String,
    /// Every `ModelConfig` field as given.
    pub config: Value,
    /// Where the files came from (a folder, a job's output, an image, a template).
    pub source: Value,
    /// `EXECUTION/STEP`: a step run again after its runner died finds its version.
    pub made_by: Option<String>,
}

pub fn models_dir(home: &Path) -> PathBuf {
    home.join("models")
}

/// Model names: 1 to 64 letters, digits, `_`, `-` and `.`.
pub fn check_name(name: &str) -> Result<()> {
    if crate::model::validate::valid_model_name(name) {
        Ok(())
    } else {
        Err(ModelError::Invalid(format!(
            "`{name}` is not a model name: 1 to 64 letters, digits, `_`, `-` or `.`"
        )))
    }
}

/// `x.y.z`, three numbers below 100 without leading zeros (a semantic version with no
/// pre-release or build part): the parts, or an error naming the value.
pub fn parse_version(v: &str) -> std::result::Result<[u32; 3], String> {
    let bad =
        || format!("`{v}` is not a model version: write three numbers, such as 0.0.1 or 1.2.0");
    let parsed = semver::Version::parse(v).map_err(|_| bad())?;
    if !parsed.pre.is_empty() || !parsed.build.is_empty() {
        return Err(bad());
    }
    let part = |n: u64| u32::try_from(n).ok().filter(|n| *n < 100).ok_or_else(bad);
    Ok([
        part(parsed.major)?,
        part(parsed.minor)?,
        part(parsed.patch)?,
    ])
}

/// The version after `v`: the last part counts up, carrying past 99.
fn next_version(v: [u32; 3]) -> [u32; 3] {
    let [mut a, mut b, mut c] = v;
    c += 1;
    if c > 99 {
        c = 0;
        b += 1;
    }
    if b > 99 {
        b = 0;
        a += 1;
    }
    [a, b, c]
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<ModelVersion> {
    let config: String = r.get(4)?;
    let source: String = r.get(5)?;
    let path: String = r.get(6)?;
    Ok(ModelVersion {
        name: r.get(0)?,
        version: r.get(1)?,
        model_type: r.get(2)?,
        runtime: r.get(3)?,
        config: serde_json::from_str(&config).unwrap_or(Value::Null),
        source: serde_json::from_str(&source).unwrap_or(Value::Null),
        path: PathBuf::from(path),
        created_at: r.get(7)?,
    })
}

const COLUMNS: &str = "name, version, model_type, runtime, config, source, path, created_at";

/// Every version of every model (or of one), oldest first.
pub fn list(store: &Store, name: Option<&str>) -> Result<Vec<ModelVersion>> {
    let mut stmt = store.conn().prepare(&format!(
        "SELECT {COLUMNS} FROM models WHERE ?1 IS NULL OR name = ?1 ORDER BY name, seq"
    ))?;
    let rows = stmt.query_map([name], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One version, the latest when `version` is `None`; an error naming what is missing.
pub fn get(store: &Store, name: &str, version: Option<&str>) -> Result<ModelVersion> {
    let all = list(store, Some(name))?;
    if all.is_empty() {
        return Err(ModelError::NotFound(format!(
            "no model `{name}` in this home; `wf models` lists them"
        )));
    }
    match version {
        None => Ok(all.into_iter().last().expect("not empty")),
        Some(v) => {
            let have: Vec<String> = all.iter().map(|m| m.version.clone()).collect();
            all.into_iter().find(|m| m.version == v).ok_or_else(|| {
                ModelError::NotFound(format!(
                    "model `{name}` has no version `{v}` (it has {})",
                    have.join(", ")
                ))
            })
        }
    }
}

/// Copies `from` (a folder, or one file) into `to`, which must not exist.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut n = 0;
    if from.is_file() {
        private_dir(to)?;
        let name = from.file_name().unwrap_or_default();
        crate::store::private_copy(from, &to.join(name))?;
        return Ok(1);
    }
    for e in walkdir::WalkDir::new(from).follow_links(true) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(from).unwrap_or(e.path());
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            private_dir(&dest)?;
        } else if e.file_type().is_file() {
            crate::store::private_copy(e.path(), &dest)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Registers a version of a model from the files in `from` (none for an image-only model):
/// the files are copied aside, then renamed into place, then recorded, so a version that is
/// listed is whole.
pub fn register(store: &Store, m: &NewModel, from: Option<&Path>) -> Result<ModelVersion> {
    check_name(&m.name)?;
    if let Some(v) = &m.version {
        parse_version(v).map_err(ModelError::Invalid)?;
    }
    if let Some(f) = from {
        if !f.exists() {
            return Err(ModelError::Invalid(format!(
                "the model's files `{}` do not exist",
                f.display()
            )));
        }
    }
    let conn = store.conn();
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    if let Some(by) = &m.made_by {
        let done: Option<String> = tx
            .query_row(
                "SELECT version FROM models WHERE name = ?1 AND made_by = ?2",
                [&m.name, by],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(v) = done {
            drop(tx);
            return get(store, &m.name, Some(&v));
        }
    }
    let versions: Vec<String> = {
        let mut stmt = tx.prepare("SELECT version FROM models WHERE name = ?1")?;
        let rows = stmt.query_map([&m.name], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let version = match &m.version {
        Some(v) => {
            if versions.contains(v) {
                return Err(ModelError::Conflict(format!(
                    "model `{}` already has version {v}, and versions never change: give another `model_version`, or none to count up",
                    m.name
                )));
            }
            v.clone()
        }
        None => {
            let max = versions.iter().filter_map(|v| parse_version(v).ok()).max();
            let [a, b, c] = match max {
                Some(v) => next_version(v),
                None => [0, 0, 1],
            };
            format!("{a}.{b}.{c}")
        }
    };
    let seq: i64 = tx.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM models WHERE name = ?1",
        [&m.name],
        |r| r.get(0),
    )?;
    let dir = models_dir(&store.home).join(&m.name);
    let io = |source: std::io::Error| ModelError::Files {
        name: m.name.clone(),
        source,
    };
    private_dir(&dir).map_err(io)?;
    let path = dir.join(&version);
    let tmp = dir.join(format!(".{version}.tmp-{}", uuid::Uuid::new_v4().simple()));
    match from {
        Some(f) => {
            if let Err(e) = copy_tree(f, &tmp) {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(io(e));
            }
        }
        None => private_dir(&tmp).map_err(io)?,
    }
    // A folder of this version that no record points at was left by a registration killed
    // before it committed.
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    let at = now();
    tx.execute(
        "INSERT INTO models(name, version, seq, model_type, runtime, config, source, path, made_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            m.name,
            version,
            seq,
            m.model_type,
            m.runtime,
            m.config.to_string(),
            m.source.to_string(),
            path.to_string_lossy(),
            m.made_by,
            at
        ],
    )?;
    tx.commit()?;
    Ok(ModelVersion {
        name: m.name.clone(),
        version,
        model_type: m.model_type.clone(),
        runtime: m.runtime.clone(),
        config: m.config.clone(),
        source: m.source.clone(),
        path,
        created_at: at,
    })
}

/// Deletes a version and its files; refused while a service serves it.
pub fn delete(store: &Store, name: &str, version: &str) -> Result<ModelVersion> {
    let m = get(store, name, Some(version))?;
    let users: Vec<String> = {
        let mut stmt = store.conn().prepare(
            "SELECT v.service FROM service_versions v JOIN services s ON s.name = v.service
              WHERE v.model_name = ?1 AND v.model_version = ?2 AND s.status NOT IN ('stopped', 'failed')",
        )?;
        let rows = stmt.query_map([name, version], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if !users.is_empty() {
        return Err(ModelError::Conflict(format!(
            "model {name}@{version} is served by {}: `wf service stop` it first",
            users.join(", ")
        )));
    }
    store.conn().execute(
        "DELETE FROM models WHERE name = ?1 AND version = ?2",
        [name, version],
    )?;
    let _ = std::fs::remove_dir_all(&m.path);
    Ok(m)
}

#[cfg(test)]
mod version_tests {
    use super::parse_version;

    #[test]
    fn versions_are_three_numbers_below_a_hundred() {
        assert_eq!(parse_version("1.0.0"), Ok([1, 0, 0]));
        assert_eq!(parse_version("0.0.1"), Ok([0, 0, 1]));
        assert_eq!(parse_version("10.99.3"), Ok([10, 99, 3]));
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1.2.x",
            "01.2.3",
            "1.02.3",
            "1.2.00",
            "100.0.0",
            "1.2.3-rc1",
            "1.2.3+build",
            " 1.2.3",
            "v1.2.3",
            "1..3",
            "-1.2.3",
            "99999999999.0.0",
        ] {
            assert_eq!(
                parse_version(bad),
                Err(format!(
                    "`{bad}` is not a model version: write three numbers, such as 0.0.1 or 1.2.0"
                )),
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(version: &str) -> NewModel {
        NewModel {
            name: "m".into(),
            version: Some(version.into()),
            model_type: "PyTorch".into(),
            config: json!({}),
            source: json!({}),
            ..NewModel::default()
        }
    }

    /// What the registry refuses is refused again (a retry cannot help); what is missing is
    /// not found; each keeps its message.
    #[test]
    fn refusals_recur_and_lookups_are_not_found() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        register(&store, &model("0.0.1"), None).unwrap();
        let taken = register(&store, &model("0.0.1"), None).unwrap_err();
        assert!(
            matches!(taken, ModelError::Conflict(_)) && taken.recurs(),
            "{taken}"
        );
        assert!(taken
            .to_string()
            .starts_with("model `m` already has version 0.0.1"));
        let bad = register(&store, &model("1.2"), None).unwrap_err();
        assert!(
            matches!(bad, ModelError::Invalid(_)) && bad.recurs(),
            "{bad}"
        );
        let missing = get(&store, "m", Some("9.9.9")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "model `m` has no version `9.9.9` (it has 0.0.1)"
        );
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert!(!missing.recurs());
    }
}
