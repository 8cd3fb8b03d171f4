//! The records: executions, their steps, every attempt and every status change, in SQLite
//! (WAL) in the home folder. Every status change is committed before anything depends on it.
//!
//! | file        | holds                                                        |
//! |-------------|--------------------------------------------------------------|
//! | `schema.rs` | the numbered migrations                                       |
//! | `record.rs` | typed rows and the execution record built from them           |

mod extra;
pub mod logs;
pub mod procs;
mod queries;
mod record;
mod schema;

pub use extra::EventEntry;
pub use record::{AttemptRow, EventRow, ExecutionRecord, ExecutionRow, StepRecord, StepRow};

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};

use crate::model::kind::StepKind;
use crate::model::status::{ExecStatus, Status, UnknownStatus};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the home folder `{path}`: {source}")]
    Home {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the records in `{path}` cannot be opened: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the records in `{path}` were written by a newer wf (schema {found}; this build knows up to {known}): use that wf, or another --home")]
    FutureSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("the records cannot be written: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the records hold something this build cannot read: {0}")]
    Corrupt(String),
    #[error("no execution `{0}`; `wf executions` lists them")]
    NoExecution(String),
    #[error("`{0}` names several executions; give more of the id")]
    Ambiguous(String),
}

impl From<UnknownStatus> for StoreError {
    fn from(e: UnknownStatus) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What kind of failure an error is, whatever its domain: what a front-end decides on (the
/// API's status code) instead of the words of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// What was named does not exist.
    NotFound,
    /// What was asked does not fit: nothing changed.
    Invalid,
    /// What was asked collides with what is there or what others do.
    Conflict,
    /// Something needed does not answer: a cluster, a port, a service.
    Unavailable,
    /// Anything else: the machine or the records failed.
    Internal,
}

/// An error that says what kind of failure it is.
pub trait Classify: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

impl Classify for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NoExecution(_) => ErrorKind::NotFound,
            StoreError::Ambiguous(_) => ErrorKind::Invalid,
            _ => ErrorKind::Internal,
        }
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where state lives: `--home`, else `$WF_HOME`, else `./.wf`.
pub fn home_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(h) = flag {
        return h.to_path_buf();
    }
    if let Some(h) = std::env::var_os("WF_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    PathBuf::from(".wf")
}

/// The folder of an execution's local jobs (their owners' specs, locks and ends).
pub fn jobs_dir(home: &Path, exec: &str) -> PathBuf {
    home.join("jobs").join(exec)
}

/// The folder of one step's local jobs; its `lock` is held while a job of the step runs.
pub fn job_dir(home: &Path, exec: &str, step: &str) -> PathBuf {
    jobs_dir(home, exec).join(step)
}

/// Whether some process holds a `flock` on `path`, found without taking the lock (taking it
/// even for a moment would make a runner that looks at the same time think a job is live).
pub fn lock_held(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    match std::fs::read_to_string("/proc/locks") {
        Ok(locks) => locks.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.nth(1) == Some("FLOCK") && l.split_whitespace().nth(5) == Some(want.as_str())
        }),
        Err(_) => std::fs::File::open(path)
            .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))),
    }
}

/// Creates a folder of the home (and its parents) private to its owner, whatever the umask.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Refuses a folder or file of the home that another user could change, as ssh refuses such
/// key files: one that others may write (group or other write bits), or one another user owns
/// (root's are trusted). The error names the fix.
pub fn check_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    // SAFETY: geteuid only reads the process's credentials.
    let me = unsafe { libc::geteuid() };
    let shown = path.display();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "`{shown}` belongs to another user (uid {}), not to you (uid {me}), who could change it under you: use a home of your own (--home DIR)",
                meta.uid()
            ),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        let private = if meta.is_dir() { "700" } else { "600" };
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "`{shown}` can be written by other users (mode {mode:04o}), who could change it under you: `chmod {private} {shown}` makes it private"
            ),
        ));
    }
    Ok(())
}

/// Makes the home (private, whatever the umask) or refuses one that others could change.
pub fn open_home(home: &Path) -> std::io::Result<()> {
    private_dir(home)?;
    check_private(home)
}

/// Whether this process may write in `dir` (a read-only mount refuses even root).
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: access only reads the path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Opens (creating it if needed) a file of the home, private to its owner.
pub fn private_file(path: &Path, append: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(!append)
        .truncate(false)
        .read(true)
        .mode(0o600)
        .open(path)
}

/// Records the notifications a status change causes, in the transaction that records the
/// change (delivered at least once; each carries an `id` for de-duplication). They are
/// sent after, by whichever `wf` process delivers next (`crate::notify`).
fn outbox(
    tx: &Connection,
    exec: &str,
    step: Option<&str>,
    event: &str,
    at: &str,
) -> rusqlite::Result<()> {
    let workflow: Option<String> = tx
        .prepare_cached("SELECT workflow FROM executions WHERE id = ?1")?
        .query_row([exec], |r| r.get(0))
        .optional()?;
    let Some(workflow) = workflow else {
        return Ok(());
    };
    let mut subs: Vec<(i64, String, String, Option<String>)> = tx
        .prepare_cached("SELECT id, url, events, secret FROM notifications WHERE workflow = ?1")?
        .query_map([&workflow], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // Those set through the configuration API are kept in the workflow's configuration.
    let config: Option<String> = tx
        .prepare_cached("SELECT config FROM workflows WHERE name = ?1")?
        .query_row([&workflow], |r| r.get(0))
        .optional()?;
    if let Some(list) = config
        .and_then(|c| serde_json::from_str::<Value>(&c).ok())
        .and_then(|c| c.get("notifications").and_then(Value::as_array).cloned())
    {
        for n in list {
            let Some(url) = n.get("url").and_then(Value::as_str) else {
                continue;
            };
            let events = match n.get("events") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            };
            let secret = n.get("secret").and_then(Value::as_str).map(String::from);
            subs.push((0, url.to_string(), events, secret));
        }
    }
    if subs.is_empty() {
        return Ok(());
    }
    // `stopped` counts as abnormal, with `failed`.
    let wanted = |events: &str| {
        let list: Vec<&str> = events
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        list.is_empty() || list.contains(&event) || (event == "stopped" && list.contains(&"failed"))
    };
    let console = console_url(tx.path().map(Path::new).and_then(Path::parent));
    for (nid, url, events, secret) in subs {
        if !wanted(&events) {
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::json!({
            "id": id,
            "workflow": workflow,
            "execution_id": exec,
            "step": step,
            "event": event,
            "at": at,
            "console_url": format!("{}/#/executions/{exec}", console.trim_end_matches('/')),
        });
        tx.prepare_cached(
            "INSERT INTO deliveries(id, notification, url, secret, body, status, attempts, next_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)",
        )?
        .execute(params![id, nid, url, secret, body.to_string(), at])?;
    }
    Ok(())
}

/// Copies a file into the home, private to its owner whatever the source's mode.
pub fn private_copy(from: &Path, to: &Path) -> std::io::Result<u64> {
    let n = std::fs::copy(from, to)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    Ok(n)
}

/// Writes a file of the home, private to its owner.
/// Writes a private file whole or not at all (a temporary file renamed over it): a reader in
/// another process never sees it empty or half written.
pub fn private_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = private_file(&tmp, false)?;
        f.set_len(0)?;
        f.write_all(bytes)
    })();
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

pub struct Store {
    conn: Connection,
    pub home: PathBuf,
}

/// Applies the migrations a database lacks, each with its number, under a write lock taken
/// before the version is read (so concurrent openers wait, then find it done).
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > schema::VERSION {
        return Err(StoreError::FutureSchema {
            path: path.to_path_buf(),
            found: version,
            known: schema::VERSION,
        });
    }
    for (i, sql) in schema::MIGRATIONS
        .iter()
        .enumerate()
        .skip(version.max(0) as usize)
    {
        tx.execute_batch(sql).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// What a step's row holds besides its status.
#[derive(Debug, Default, Clone)]
pub struct StepPatch {
    pub attempt: Option<u32>,
    pub started: bool,
    pub ended: bool,
    pub inputs: Option<Value>,
    pub outputs: Option<Value>,
    pub metrics: Option<Value>,
    /// The backend's detail: `Some(None)` clears it.
    pub detail: Option<Option<Value>>,
    pub error: Option<Option<String>>,
}

pub struct NewExecution<'a> {
    pub id: &'a str,
    pub workflow: &'a str,
    pub experiment: Option<&'a str>,
    /// The workflow's definition, as JSON text.
    pub definition: &'a str,
    pub base_dir: &'a Path,
    pub parameters: &'a Value,
    pub storages: &'a Value,
    pub reused: &'a Value,
    pub max_parallel: usize,
    /// (name, kind) of each step that runs, in workflow order.
    pub steps: &'a [(String, StepKind)],
}

impl Store {
    pub fn open(home: &Path) -> Result<Store> {
        // Paths the records keep (logs, datasets) are absolute whatever the caller's folder.
        let home = &std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
        let home_err = |source| StoreError::Home {
            path: home.to_path_buf(),
            source,
        };
        open_home(home).map_err(home_err)?;
        let path = home.join("wf.db");
        if !path.exists() {
            // Made here with the owner's rights only; SQLite gives its WAL files the same.
            private_file(&path, false).map_err(home_err)?;
        }
        // Records another user could rewrite are not trusted.
        // SQLite removes its WAL files when the last connection closes, at any moment.
        for file in ["wf.db", "wf.db-wal", "wf.db-shm"] {
            match check_private(&home.join(file)) {
                Err(e) if file != "wf.db" && e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.map_err(home_err)?,
            }
        }
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        // A home this process cannot write (a read-only mount, another user's) is still read.
        if !writable(home) {
            return Store::open_read_only(home, &path);
        }
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        // WAL with NORMAL sync: a commit survives the process dying (kill -9); only a power
        // loss may take the last commits back.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version != schema::VERSION {
            migrate(&mut conn, &path)?;
        }
        Ok(Store {
            conn,
            home: home.to_path_buf(),
        })
    }

    /// The records of a home that cannot be written: read as they are, writes refused.
    fn open_read_only(home: &Path, path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        // With its WAL files present SQLite reads it as it is; without write access to
        // create them, only as an unchanging file.
        let uri = |extra: &str| format!("file:{}?mode=ro{extra}", path.display());
        let conn = Connection::open_with_flags(uri(""), flags)
            .and_then(|c| {
                c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?;
                Ok(c)
            })
            .or_else(|_| Connection::open_with_flags(uri("&immutable=1"), flags))
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version != schema::VERSION {
            return Err(StoreError::Corrupt(format!(
                "the records in `{}` are of schema {version} and the home cannot be written to bring them to {}",
                path.display(),
                schema::VERSION
            )));
        }
        Ok(Store {
            conn,
            home: home.to_path_buf(),
        })
    }

    /// The connection, for the services that keep their own tables in the records (the
    /// dataset service).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn logs_dir(&self, exec: &str) -> PathBuf {
        self.home.join("logs").join(exec)
    }

    pub fn create_execution(&self, e: &NewExecution) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        tx.execute(
            "INSERT INTO executions(id, workflow, status, experiment, definition, base_dir, parameters, storages, reused, max_parallel, created_at)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                e.id,
                e.workflow,
                e.experiment,
                e.definition,
                e.base_dir.to_string_lossy(),
                e.parameters.to_string(),
                e.storages.to_string(),
                e.reused.to_string(),
                e.max_parallel as i64,
                at
            ],
        )?;
        for (i, (name, kind)) in e.steps.iter().enumerate() {
            tx.execute(
                "INSERT INTO steps(execution_id, name, position, type, status) VALUES (?1, ?2, ?3, ?4, 'waiting')",
                params![e.id, name, i as i64, kind.as_str()],
            )?;
        }
        tx.execute(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, NULL, 'running', 'created', ?2)",
            params![e.id, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a step's new status (and what it produced) with an event, in one commit.
    pub fn set_step(
        &self,
        exec: &str,
        step: &str,
        status: Status,
        reason: Option<&str>,
        p: &StepPatch,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        let status = status.as_str();
        tx.prepare_cached(
            "UPDATE steps SET status = ?3, reason = ?4,
                attempt = COALESCE(?5, attempt),
                detail = CASE WHEN ?6 THEN ?7 ELSE detail END,
                started_at = CASE WHEN ?8 THEN ?14 ELSE started_at END,
                ended_at = CASE WHEN ?9 THEN ?14 WHEN ?8 THEN NULL ELSE ended_at END,
                inputs = COALESCE(?10, inputs),
                outputs = COALESCE(?11, outputs),
                metrics = COALESCE(?12, metrics),
                error = CASE WHEN ?13 THEN ?15 ELSE error END
             WHERE execution_id = ?1 AND name = ?2",
        )?
        .execute(params![
            exec,
            step,
            status,
            reason,
            p.attempt.map(|a| a as i64),
            p.detail.is_some(),
            p.detail.clone().flatten().map(|d| d.to_string()),
            p.started,
            p.ended,
            p.inputs.as_ref().map(Value::to_string),
            p.outputs.as_ref().map(Value::to_string),
            p.metrics.as_ref().map(Value::to_string),
            p.error.is_some(),
            at,
            p.error.clone().flatten(),
        ])?;
        if let Some(a) = p.attempt {
            if p.started {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO attempts(execution_id, step, attempt, status, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![exec, step, a as i64, status, at])?;
            }
        }
        if p.ended {
            tx.prepare_cached(
                "UPDATE attempts SET status = ?3, ended_at = ?4, error = ?5
                 WHERE execution_id = ?1 AND step = ?2 AND attempt = (SELECT attempt FROM steps WHERE execution_id = ?1 AND name = ?2)",
            )?
            .execute(params![exec, step, status, at, p.error.clone().flatten()])?;
        }
        tx.prepare_cached(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![exec, step, status, reason, at])?;
        // A phase's executed is not notified (a workflow's is); the rest are.
        if matches!(status, "awaiting_input" | "failed" | "stopped") {
            outbox(&tx, exec, Some(step), status, &at)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_execution(
        &self,
        exec: &str,
        status: ExecStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let at = now();
        tx.execute(
            "UPDATE executions SET status = ?2, reason = ?3, ended_at = CASE WHEN ?4 THEN ?5 ELSE NULL END WHERE id = ?1",
            params![exec, status.as_str(), reason, status.has_ended(), at],
        )?;
        tx.execute(
            "INSERT INTO events(execution_id, step, status, reason, at) VALUES (?1, NULL, ?2, ?3, ?4)",
            params![exec, status.as_str(), reason, at],
        )?;
        if matches!(
            status,
            ExecStatus::AwaitingInput
                | ExecStatus::Executed
                | ExecStatus::Failed
                | ExecStatus::Stopped
        ) {
            outbox(&tx, exec, None, status.as_str(), &at)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The backend's detail of a running step (no event: it is not a status change).
    pub fn set_detail(&self, exec: &str, step: &str, detail: &Value) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE steps SET detail = ?3 WHERE execution_id = ?1 AND name = ?2")?
            .execute(params![exec, step, detail.to_string()])?;
        Ok(())
    }

    /// Why a waiting step waits, without an event (it may change often).
    pub fn set_reason(&self, exec: &str, step: &str, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET reason = ?3 WHERE execution_id = ?1 AND name = ?2",
            params![exec, step, reason],
        )?;
        Ok(())
    }

    /// Asks the runner of `exec` to stop it, or one step of it.
    pub fn request_stop(&self, exec: &str, step: Option<&str>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO requests(execution_id, step, kind, at) VALUES (?1, ?2, 'stop', ?3)",
            params![exec, step, now()],
        )?;
        Ok(())
    }

    /// Stop requests not yet seen: `Some(step)` for one step, `None` for the execution.
    pub fn take_stop_requests(&self, exec: &str) -> Result<Vec<Option<String>>> {
        let tx = self.conn.unchecked_transaction()?;
        let rows: Vec<Option<String>> = {
            let mut stmt = tx.prepare_cached(
                "SELECT step FROM requests WHERE execution_id = ?1 AND done = 0 AND kind = 'stop'",
            )?;
            let rows = stmt
                .query_map(params![exec], |r| r.get(0))?
                .collect::<std::result::Result<_, _>>()?;
            rows
        };
        if !rows.is_empty() {
            tx.execute(
                "UPDATE requests SET done = 1 WHERE execution_id = ?1",
                params![exec],
            )?;
        }
        tx.commit()?;
        Ok(rows)
    }

    pub fn set_parameters(&self, exec: &str, parameters: &Value) -> Result<()> {
        self.conn.execute(
            "UPDATE executions SET parameters = ?2 WHERE id = ?1",
            params![exec, parameters.to_string()],
        )?;
        Ok(())
    }

    /// The full id of the execution `id` names (a unique prefix is enough; `latest` is the
    /// newest).
    pub fn resolve_id(&self, id: &str) -> Result<String> {
        if id == "latest" {
            return self
                .conn
                .query_row(
                    "SELECT id FROM executions ORDER BY created_at DESC, rowid DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NoExecution(id.to_string()));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM executions WHERE id = ?1 OR id LIKE ?2 || '%' LIMIT 2")?;
        let like = id.replace(['%', '_'], "");
        let ids: Vec<String> = stmt
            .query_map(params![id, like], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        if ids.iter().any(|x| x == id) {
            return Ok(id.to_string());
        }
        match ids.len() {
            1 if !like.is_empty() => Ok(ids[0].clone()),
            0 | 1 => Err(StoreError::NoExecution(id.to_string())),
            _ => Err(StoreError::Ambiguous(id.to_string())),
        }
    }

    pub fn execution(&self, id: &str) -> Result<ExecutionRow> {
        let raw = self
            .conn
            .query_row(
                "SELECT id, workflow, status, reason, experiment, definition, base_dir, parameters, storages, reused, max_parallel, created_at, ended_at FROM executions WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(2)?,
                        ExecutionRow {
                            id: r.get(0)?,
                            workflow: r.get(1)?,
                            status: ExecStatus::Running,
                            reason: r.get(3)?,
                            experiment: r.get(4)?,
                            definition: r.get(5)?,
                            base_dir: r.get(6)?,
                            parameters: json_col(r.get(7)?),
                            storages: json_col(r.get(8)?),
                            reused: json_col(r.get(9)?),
                            max_parallel: r.get::<_, i64>(10)? as usize,
                            created_at: r.get(11)?,
                            ended_at: r.get(12)?,
                        },
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NoExecution(id.to_string()))?;
        let (status, mut row) = raw;
        row.status = ExecStatus::parse(&status)?;
        Ok(row)
    }

    pub fn steps(&self, exec: &str) -> Result<Vec<StepRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, type, status, reason, attempt, started_at, ended_at, inputs, outputs, metrics, error, detail
             FROM steps WHERE execution_id = ?1 ORDER BY position",
        )?;
        let raw = stmt
            .query_map(params![exec], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(11)?,
                    StepRow {
                        name: r.get(0)?,
                        kind: StepKind::Job,
                        status: Status::Waiting,
                        reason: r.get(3)?,
                        attempt: r.get::<_, i64>(4)? as u32,
                        started_at: r.get(5)?,
                        ended_at: r.get(6)?,
                        inputs: r.get::<_, Option<String>>(7)?.map(json_col),
                        outputs: r.get::<_, Option<String>>(8)?.map(json_col),
                        metrics: r.get::<_, Option<String>>(9)?.map(json_col),
                        error: r.get(10)?,
                        detail: Map::new(),
                    },
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(kind, status, detail, mut row)| {
                row.kind = StepKind::parse(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("step `{}` has unknown type `{kind}`", row.name))
                })?;
                row.status = Status::parse(&status)?;
                row.detail = match detail.map(json_col) {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m,
                    Some(other) => {
                        return Err(StoreError::Corrupt(format!(
                            "step `{}` has a detail that is not an object: {other}",
                            row.name
                        )))
                    }
                };
                Ok(row)
            })
            .collect()
    }

    pub fn attempts(&self, exec: &str, step: &str) -> Result<Vec<AttemptRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT attempt, status, started_at, ended_at, error FROM attempts WHERE execution_id = ?1 AND step = ?2 ORDER BY attempt",
        )?;
        let raw = stmt
            .query_map(params![exec, step], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    AttemptRow {
                        attempt: r.get::<_, i64>(0)? as u32,
                        status: Status::Waiting,
                        started_at: r.get(2)?,
                        ended_at: r.get(3)?,
                        error: r.get(4)?,
                    },
                ))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        raw.into_iter()
            .map(|(status, mut row)| {
                row.status = Status::parse(&status)?;
                Ok(row)
            })
            .collect()
    }

    /// Executions, newest first, optionally of one workflow, status or experiment.
    pub fn list(
        &self,
        workflow: Option<&str>,
        status: Option<ExecStatus>,
        experiment: Option<&str>,
    ) -> Result<Vec<ExecutionRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id FROM executions WHERE (?1 IS NULL OR workflow = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR experiment = ?3)
             ORDER BY created_at DESC, rowid DESC",
        )?;
        let ids: Vec<String> = stmt
            .query_map(
                params![workflow, status.map(ExecStatus::as_str), experiment],
                |r| r.get(0),
            )?
            .collect::<std::result::Result<_, _>>()?;
        ids.iter().map(|id| self.execution(id)).collect()
    }

    /// The newest execution of `workflow` where `step` executed: its id, outputs, metrics and
    /// detail.
    pub fn latest_executed(
        &self,
        workflow: &str,
        step: &str,
        before: &str,
    ) -> Result<Option<(String, StepRow)>> {
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT s.execution_id FROM steps s JOIN executions e ON e.id = s.execution_id
                 WHERE e.workflow = ?1 AND s.name = ?2 AND s.status = 'executed' AND e.id != ?3
                 ORDER BY s.ended_at DESC LIMIT 1",
                params![workflow, step, before],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let row = self.steps(&id)?.into_iter().find(|s| s.name == step);
        Ok(row.map(|r| (id, r)))
    }

    pub fn events(&self, exec: &str) -> Result<Vec<EventRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT step, status, reason, at FROM events WHERE execution_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![exec], |r| {
                Ok(EventRow {
                    step: r.get(0)?,
                    status: r.get(1)?,
                    reason: r.get(2)?,
                    at: r.get(3)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn put_algorithm(&self, id: &str, definition: &Value) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO algorithms(id, definition, created_at) VALUES (?1, ?2, ?3)",
            params![id, definition.to_string(), now()],
        )?;
        Ok(())
    }

    pub fn algorithm(&self, id: &str) -> Result<Option<Value>> {
        Ok(self
            .conn
            .query_row(
                "SELECT definition FROM algorithms WHERE id = ?1",
                params![id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(json_col))
    }

    pub fn algorithms(&self) -> Result<Vec<(String, Value, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, definition, created_at FROM algorithms ORDER BY id")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, json_col(r.get::<_, String>(1)?), r.get(2)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The contract's execution record.
    pub fn record(&self, exec: &str) -> Result<ExecutionRecord> {
        Ok(ExecutionRecord::new(
            self.execution(exec)?,
            self.steps(exec)?,
        ))
    }
}

fn json_col(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The file of the home keeping the address the console is reached at, for the notifications
/// of every process (`console_url`).
pub const CONSOLE_URL_FILE: &str = "console-url";

/// The console's address the notifications of `home` link to: `$WF_CONSOLE_URL`, else the one
/// `wf serve` keeps in the home, else the default address of `wf serve`.
pub fn console_url(home: Option<&Path>) -> String {
    if let Some(u) = std::env::var("WF_CONSOLE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return u.trim().trim_end_matches('/').to_string();
    }
    home.and_then(|h| std::fs::read_to_string(h.join(CONSOLE_URL_FILE)).ok())
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| crate::net::url_problem(u).is_none())
        .unwrap_or_else(|| "http://127.0.0.1:7878".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_execution(store: &Store, id: &str) {
        store
            .create_execution(&NewExecution {
                id,
                workflow: "w",
                experiment: None,
                definition: "{}",
                base_dir: Path::new("/"),
                parameters: &json!({}),
                storages: &json!({}),
                reused: &json!({}),
                max_parallel: 1,
                steps: &[
                    ("a".to_string(), StepKind::Job),
                    ("c".to_string(), StepKind::Condition),
                ],
            })
            .unwrap();
    }

    #[test]
    fn a_new_home_is_private_and_at_the_latest_schema() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let store = Store::open(&home).unwrap();
        let v: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::VERSION);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join("wf.db")), 0o600);
    }

    #[test]
    fn a_home_of_schema_1_migrates_keeping_pids_and_results() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        {
            let conn = Connection::open(home.join("wf.db")).unwrap();
            conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO executions(id, workflow, status, definition, base_dir, parameters, storages, max_parallel, created_at)
                     VALUES ('e1', 'w', 'executed', '{}', '/', '{}', '{}', 1, '2026-01-01T00:00:00.000Z');
                 INSERT INTO steps(execution_id, name, position, type, status, pid) VALUES ('e1', 'a', 0, 'job', 'running', 4242);
                 INSERT INTO steps(execution_id, name, position, type, status, result) VALUES ('e1', 'c', 1, 'condition', 'executed', 1);",
            )
            .unwrap();
        }
        let store = Store::open(home).unwrap();
        let steps = store.steps("e1").unwrap();
        assert_eq!(steps[0].detail["groups"][0]["pgid"], json!(4242));
        assert_eq!(steps[1].result(), Some(true));
        let record = store.record("e1").unwrap().to_json();
        assert_eq!(record["steps"][1]["result"], json!(true));
        assert_eq!(record["status"], json!("executed"));
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("wf.db")).unwrap();
            conn.pragma_update(None, "user_version", schema::VERSION + 1)
                .unwrap();
        }
        let err = Store::open(dir.path()).err().expect("refused");
        assert!(matches!(err, StoreError::FutureSchema { .. }), "{err}");
        assert!(err.to_string().contains("newer wf"), "{err}");
    }

    #[test]
    fn an_unknown_status_in_the_records_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        new_execution(&store, "e1");
        store
            .conn
            .execute("UPDATE steps SET status = 'queued' WHERE name = 'a'", [])
            .unwrap();
        let err = store.steps("e1").unwrap_err();
        assert!(
            err.to_string().contains("unknown step status `queued`"),
            "{err}"
        );
        store
            .conn
            .execute("UPDATE executions SET status = 'paused'", [])
            .unwrap();
        assert!(store.execution("e1").is_err());
    }

    #[test]
    fn a_status_change_is_recorded_with_its_event_and_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        new_execution(&store, "e1");
        store
            .set_step(
                "e1",
                "a",
                Status::Running,
                None,
                &StepPatch {
                    attempt: Some(1),
                    started: true,
                    ..StepPatch::default()
                },
            )
            .unwrap();
        store
            .set_detail("e1", "a", &json!({"groups": [{"pgid": 7}]}))
            .unwrap();
        store
            .set_step(
                "e1",
                "a",
                Status::Failed,
                Some("boom"),
                &StepPatch {
                    ended: true,
                    error: Some(Some("boom".into())),
                    ..StepPatch::default()
                },
            )
            .unwrap();
        let a = &store.steps("e1").unwrap()[0];
        assert_eq!(a.status, Status::Failed);
        assert_eq!(a.detail["groups"][0]["pgid"], json!(7));
        let attempts = store.attempts("e1", "a").unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].status, Status::Failed);
        assert_eq!(attempts[0].error.as_deref(), Some("boom"));
        let events: Vec<String> = store
            .events("e1")
            .unwrap()
            .into_iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(events, ["running", "running", "failed"]);
    }

    #[test]
    fn several_processes_open_a_new_home_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let home = home.clone();
                std::thread::spawn(move || Store::open(&home).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }
}
