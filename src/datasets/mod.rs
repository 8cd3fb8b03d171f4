//! The local dataset service (README, "Datasets"): datasets of samples kept by content hash, their
//! labels, labeling tasks and immutable released versions, in the home's records (tables
//! of schema 3) and under `HOME/datasets/`.
//!
//! | module       | holds                                                               |
//! |--------------|---------------------------------------------------------------------|
//! | `formats`    | reading samples and labels from folders and manifests               |
//! | `objects`    | sample bytes by hash, and the folders of samples given to jobs      |
//! | `import`     | importing what a reader found into a dataset or task                |
//! | `label`      | labeling tasks and the labels people give                           |
//! | `release`    | versions: the TRAIN/EVAL split and the version's manifest           |
//! | `view`       | what `wf datasets`, `wf dataset show` and the records show          |
//!
//! Every change is one transaction of the records; sample bytes are written before the
//! transaction that points at them, so a process killed anywhere leaves no half-made
//! version and no sample counted twice (at worst, bytes no record points at).

pub mod formats;
pub mod import;
pub mod label;
pub mod objects;
pub mod release;
pub mod view;

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use crate::store::{now, Store, StoreError};
use formats::DataType;

pub use import::{import, ImportRules, Imported};
pub use label::{ensure_task, set_labels, task_counts, TaskCounts, TaskSpec};
pub use release::{release, ReleaseSpec, Released};
pub use view::{dataset_json, datasets_json, version_json};

/// What went wrong, by kind; each renders as the sentence the user reads.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Something named is missing: a dataset, a version, a sample, a labeling task.
    #[error("{0}")]
    NotFound(String),
    /// A value that does not fit: a name, a ratio, a label file, labels of no task.
    #[error("{0}")]
    Invalid(String),
    /// What is asked clashes with what is there: a dataset of another data type, a task
    /// of another type, a folder that is not empty.
    #[error("{0}")]
    Conflict(String),
    /// A file or folder that cannot be read or written.
    #[error("{doing}: {source}")]
    Io {
        /// What could not be done, naming what it was done to.
        doing: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// An import stopped on the way (`ImportRules::stop`).
    #[error("stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::store::Classify for DataError {
    fn kind(&self) -> crate::store::ErrorKind {
        use crate::store::ErrorKind;
        match self {
            DataError::NotFound(_) => ErrorKind::NotFound,
            DataError::Invalid(_) => ErrorKind::Invalid,
            DataError::Conflict(_) => ErrorKind::Conflict,
            DataError::Io { .. } | DataError::Stopped => ErrorKind::Internal,
            DataError::Store(e) => e.kind(),
        }
    }
}

impl DataError {
    pub(crate) fn io(doing: String, path: &Path, source: std::io::Error) -> DataError {
        DataError::Io {
            doing,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<formats::FormatError> for DataError {
    fn from(e: formats::FormatError) -> Self {
        use formats::FormatError as F;
        match e {
            F::Invalid(m) | F::Malformed(m) => DataError::Invalid(m),
            F::Io {
                doing,
                path,
                source,
            } => DataError::Io {
                doing,
                path,
                source,
            },
        }
    }
}

impl From<DataError> for String {
    fn from(e: DataError) -> String {
        e.to_string()
    }
}

impl From<rusqlite::Error> for DataError {
    fn from(e: rusqlite::Error) -> Self {
        DataError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, DataError>;

/// What a step input or a value names: a dataset, one of its versions, or a labeling task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    pub dataset: String,
    pub version: Option<String>,
    pub task: Option<String>,
}

impl DataRef {
    pub fn dataset(name: &str) -> DataRef {
        DataRef {
            dataset: name.into(),
            version: None,
            task: None,
        }
    }

    /// `NAME`, `NAME@VERSION` or `NAME/TASK`.
    pub fn from_text(text: &str) -> Result<DataRef> {
        let text = text.trim();
        let (ds, version, task) = if let Some((d, v)) = text.split_once('@') {
            (d, Some(v), None)
        } else if let Some((d, t)) = text.split_once('/') {
            (d, None, Some(t))
        } else {
            (text, None, None)
        };
        if ds.is_empty() || version == Some("") || task == Some("") {
            return Err(DataError::Invalid(format!(
                "`{text}` is not a dataset: write NAME, NAME@VERSION or NAME/TASK"
            )));
        }
        Ok(DataRef {
            dataset: ds.into(),
            version: version.map(Into::into),
            task: task.map(Into::into),
        })
    }
}

impl std::fmt::Display for DataRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.dataset)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        if let Some(t) = &self.task {
            write!(f, "/{t}")?;
        }
        Ok(())
    }
}

/// A dataset's row.
#[derive(Debug, Clone)]
pub struct DatasetInfo {
    pub name: String,
    pub data_type: DataType,
    pub description: String,
    pub created_at: String,
}

/// Dataset names: 1 to 100 letters, digits, `_` and `-` (the reference's rule).
pub fn valid_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DataError::Invalid(format!(
            "`{name}` is not a {what} name: 1 to 100 letters, digits, `_` or `-`"
        )))
    }
}

pub fn datasets_dir(home: &Path) -> PathBuf {
    home.join("datasets")
}

pub fn dataset_dir(home: &Path, name: &str) -> PathBuf {
    datasets_dir(home).join("sets").join(name)
}

pub fn info(store: &Store, name: &str) -> Result<Option<DatasetInfo>> {
    let row = store
        .conn()
        .query_row(
            "SELECT name, data_type, description, created_at FROM datasets WHERE name = ?1",
            [name],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(name, t, description, created_at)| {
        Ok(DatasetInfo {
            data_type: DataType::parse(&t).ok_or_else(|| {
                StoreError::Corrupt(format!("dataset `{name}` has data type `{t}`"))
            })?,
            name,
            description,
            created_at,
        })
    })
    .transpose()
}

/// The dataset, or an error naming it and how to see the ones there are.
pub fn get(store: &Store, name: &str) -> Result<DatasetInfo> {
    info(store, name)?.ok_or_else(|| {
        DataError::NotFound(format!(
            "no dataset `{name}` in this home; `wf datasets` lists them"
        ))
    })
}

/// Creates the dataset, or uses the one of that name. A dataset of another data type is
/// refused, unless the type asked for is the default FREE_FORMAT. True when it was made.
pub fn create(
    store: &Store,
    name: &str,
    data_type: DataType,
    description: &str,
) -> Result<(DatasetInfo, bool)> {
    valid_name("dataset", name)?;
    if let Some(d) = info(store, name)? {
        if d.data_type != data_type && data_type != DataType::FreeFormat {
            return Err(DataError::Conflict(format!(
                "dataset `{name}` exists with data type {}, not {}",
                d.data_type.as_str(),
                data_type.as_str()
            )));
        }
        return Ok((d, false));
    }
    let made = store.conn().execute(
        "INSERT OR IGNORE INTO datasets(name, data_type, description, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, data_type.as_str(), description, now()],
    )?;
    let d = get(store, name)?;
    Ok((d, made == 1))
}

/// A version's row, or an error naming what is missing.
pub fn version_exists(store: &Store, dataset: &str, version: &str) -> Result<bool> {
    Ok(store
        .conn()
        .query_row(
            "SELECT 1 FROM dataset_versions WHERE dataset = ?1 AND name = ?2",
            [dataset, version],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn latest_version(store: &Store, dataset: &str) -> Result<Option<String>> {
    Ok(store
        .conn()
        .query_row(
            "SELECT name FROM dataset_versions WHERE dataset = ?1 ORDER BY seq DESC LIMIT 1",
            [dataset],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn task_exists(store: &Store, dataset: &str, task: &str) -> Result<bool> {
    Ok(store
        .conn()
        .query_row(
            "SELECT 1 FROM label_tasks WHERE dataset = ?1 AND name = ?2",
            [dataset, task],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Checks that what `r` names exists, with an error naming the missing part.
pub fn check_ref(store: &Store, r: &DataRef) -> Result<()> {
    get(store, &r.dataset)?;
    if let Some(v) = &r.version {
        if !version_exists(store, &r.dataset, v)? {
            let have = view::version_names(store, &r.dataset)?;
            return Err(DataError::NotFound(format!(
                "dataset `{}` has no version `{v}`{}",
                r.dataset,
                if have.is_empty() {
                    " (it has no released version yet)".to_string()
                } else {
                    format!(" (it has {})", have.join(", "))
                }
            )));
        }
    }
    if let Some(t) = &r.task {
        if !task_exists(store, &r.dataset, t)? {
            return Err(DataError::NotFound(format!(
                "dataset `{}` has no labeling task `{t}`",
                r.dataset
            )));
        }
    }
    Ok(())
}

/// The folder a job is given for `r` (README, "Datasets"): `manifest.json` and `data/`. A
/// version's is kept with the version; a dataset without a version gives its latest
/// version, or a snapshot of its samples as they are when it has none; a task gives a
/// snapshot of the task's labels.
pub fn job_folder(store: &Store, r: &DataRef) -> Result<PathBuf> {
    check_ref(store, r)?;
    let version = match (&r.version, &r.task) {
        (Some(v), _) => Some(v.clone()),
        (None, None) => latest_version(store, &r.dataset)?,
        (None, Some(_)) => None,
    };
    match version {
        Some(v) => release::version_folder(store, &r.dataset, &v),
        None => release::snapshot(store, &r.dataset, r.task.as_deref()),
    }
}

/// What a step that produced `r` records as `outputs.NAME.dataset` (README, "Datasets").
pub fn record_value(store: &Store, r: &DataRef, path: &Path) -> Result<Value> {
    let mut v = serde_json::json!({
        "dataset_name": r.dataset,
        "version_name": r.version,
        "path": path.to_string_lossy(),
    });
    let samples = match &r.version {
        Some(ver) => view::version_samples(store, &r.dataset, ver)?,
        None => view::sample_count(store, &r.dataset)?,
    };
    v["samples"] = samples.into();
    if let Some(t) = &r.task {
        let c = task_counts(store, &r.dataset, t)?;
        v["task_name"] = t.clone().into();
        v["labelled"] = c.labelled.into();
        v["unlabelled"] = c.unlabelled.into();
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataset `zoo` (IMAGE) with one sample `cat.jpg`, its task `t` and its version `V1`.
    fn zoo() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("cat.jpg"), b"cat").unwrap();
        let store = Store::open(&dir.path().join("home")).unwrap();
        create(&store, "zoo", DataType::Image, "").unwrap();
        let found = import::read_samples(
            &src,
            false,
            DataType::Image,
            &formats::ReadOpts::default(),
            &store.home.join("obs"),
        )
        .unwrap();
        import(&store, "zoo", found, &ImportRules::default()).unwrap();
        let spec = TaskSpec {
            task_type: "IMAGE_CLASSIFICATION".into(),
            labels: vec!["cat".into()],
            ..TaskSpec::default()
        };
        ensure_task(&store, "zoo", "t", &spec).unwrap();
        let v = ReleaseSpec {
            version_name: Some("V1".into()),
            ..ReleaseSpec::default()
        };
        release(&store, "zoo", None, &v).unwrap();
        (dir, store)
    }

    /// Whatever is named and missing is `NotFound`, whatever its message says; a value that
    /// does not fit is `Invalid` even when its message says "not" (the console answers 404
    /// for the one, 400 for the other).
    #[test]
    fn what_is_missing_is_not_found_and_what_does_not_fit_is_invalid() {
        let (_dir, store) = zoo();
        let missing = |e: DataError| match e {
            DataError::NotFound(m) => m,
            other => panic!("not NotFound: {other:?}"),
        };
        assert_eq!(
            missing(get(&store, "nope").unwrap_err()),
            "no dataset `nope` in this home; `wf datasets` lists them"
        );
        let r = DataRef::from_text("zoo@V9").unwrap();
        assert_eq!(
            missing(check_ref(&store, &r).unwrap_err()),
            "dataset `zoo` has no version `V9` (it has V1)"
        );
        let r = DataRef::from_text("zoo/nope").unwrap();
        assert_eq!(
            missing(check_ref(&store, &r).unwrap_err()),
            "dataset `zoo` has no labeling task `nope`"
        );
        missing(label::task_info(&store, "zoo", "nope").unwrap_err());
        missing(view::version_json(&store, "zoo", "V9").unwrap_err());
        let e = set_labels(
            &store,
            "zoo",
            "t",
            &[("dog.jpg".into(), vec!["cat".into()])],
        );
        assert_eq!(
            missing(e.unwrap_err()),
            "dataset `zoo` has no sample `dog.jpg`; `wf label DATASET/TASK show` lists them"
        );
        assert_eq!(
            set_labels(
                &store,
                "zoo",
                "t",
                &[("cat.jpg".into(), vec!["cat".into()])]
            )
            .unwrap(),
            1
        );

        let invalid = |e: DataError| match e {
            DataError::Invalid(m) => m,
            other => panic!("not Invalid: {other:?}"),
        };
        assert_eq!(
            invalid(valid_name("dataset", "a b").unwrap_err()),
            "`a b` is not a dataset name: 1 to 100 letters, digits, `_` or `-`"
        );
        assert_eq!(
            valid_name("dataset", "a b").unwrap_err().to_string(),
            "`a b` is not a dataset name: 1 to 100 letters, digits, `_` or `-`"
        );
        invalid(DataRef::from_text("zoo@").unwrap_err());
        assert_eq!(
            DataRef::from_text("@V1").unwrap_err().to_string(),
            "`@V1` is not a dataset: write NAME, NAME@VERSION or NAME/TASK"
        );
        invalid(release::parse_ratio("2").unwrap_err());
        let e = set_labels(
            &store,
            "zoo",
            "t",
            &[("cat.jpg".into(), vec!["dog".into()])],
        );
        assert_eq!(
            invalid(e.unwrap_err()),
            "`dog` is not a label of task `zoo/t`; its labels are cat"
        );
    }

    #[test]
    fn what_clashes_is_a_conflict_and_unreadable_files_are_io() {
        let (dir, store) = zoo();
        let conflict = |e: DataError| match e {
            DataError::Conflict(m) => m,
            other => panic!("not Conflict: {other:?}"),
        };
        assert_eq!(
            conflict(create(&store, "zoo", DataType::Text, "").unwrap_err()),
            "dataset `zoo` exists with data type IMAGE, not TEXT"
        );
        let again = ReleaseSpec {
            version_name: Some("V1".into()),
            ..ReleaseSpec::default()
        };
        conflict(release(&store, "zoo", None, &again).unwrap_err());
        let spec = TaskSpec {
            task_type: "OBJECT_DETECTION".into(),
            ..TaskSpec::default()
        };
        conflict(ensure_task(&store, "zoo", "t", &spec).unwrap_err());
        let full = dir.path().join("full");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("x"), b"x").unwrap();
        conflict(release::export(&store, "zoo", "V1", &full).unwrap_err());

        let file = dir.path().join("src/cat.jpg");
        let e = import::read_samples(
            &file.join("under"),
            true,
            DataType::Image,
            &formats::ReadOpts::default(),
            &store.home.join("obs"),
        )
        .unwrap_err();
        match &e {
            DataError::Io { path, .. } => assert_eq!(path, &file.join("under")),
            other => panic!("not Io: {other:?}"),
        }
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot read: ", file.join("under").display())));
        let gone = dir.path().join("gone");
        assert!(matches!(
            import::read_samples(
                &gone,
                false,
                DataType::Image,
                &formats::ReadOpts::default(),
                &store.home.join("obs"),
            ),
            Err(DataError::NotFound(m)) if m == format!("`{}` does not exist", gone.display())
        ));
    }
}
