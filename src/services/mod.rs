//! Local inference services (README, "Models and services"): a service is one HTTP address on 127.0.0.1 in
//! front of one model process per model version, splitting requests by weight. A detached
//! supervisor process (`supervisor`) owns the address and the model processes, restarts
//! what dies and follows the records: a deploy or an update writes the wanted versions
//! here, `stop` marks the service stopping, and the supervisor does the rest.
//!
//! | module        | holds                                                            |
//! |---------------|------------------------------------------------------------------|
//! | `supervisor`  | the process behind a service: model processes, health, the proxy |
//! | `runtime`     | the Python serving package written out for model processes       |
//! | `process`     | processes known by identity: starts, groups, the supervisor lock |

pub mod process;
pub mod runtime;
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use crate::store::{now, private_dir, Classify, ErrorKind, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// What was asked does not fit (a name, versions, weights): nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error("no service `{0}` in this home; `wf services` lists them")]
    NotFound(String),
    /// The service does not run: it failed or was stopped, its supervisor died or did not
    /// start, or it was not running in time.
    #[error("{0}")]
    Unavailable(String),
    /// Waiting for the service was cancelled.
    #[error("stopped")]
    Cancelled,
    #[error("cannot start the supervisor of service `{name}`: {source}")]
    Start {
        name: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classify for ServiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Invalid(_) => ErrorKind::Invalid,
            ServiceError::NotFound(_) => ErrorKind::NotFound,
            ServiceError::Unavailable(_) => ErrorKind::Unavailable,
            ServiceError::Cancelled | ServiceError::Start { .. } => ErrorKind::Internal,
            ServiceError::Store(e) => e.kind(),
        }
    }
}

/// For callers that still carry failures as their message.
impl From<ServiceError> for String {
    fn from(e: ServiceError) -> String {
        e.to_string()
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Store(StoreError::Sql(e))
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// One model version a service serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpec {
    pub model_name: String,
    pub model_version: String,
    pub weight: u32,
}

/// What a deploy (or an update) asks for.
#[derive(Debug, Clone, Default)]
pub struct ServiceSpec {
    pub name: String,
    pub versions: Vec<VersionSpec>,
    /// Environment of the model processes (`ServiceConfig.envs`).
    pub envs: Vec<(String, String)>,
    /// `apps` set: requests need `X-Apig-AppCode`.
    pub apps: bool,
    /// Every `ServiceConfig` field as given (cloud-only ones are kept, with no local effect).
    pub config: Value,
    pub made_by: Option<String>,
    /// An update that gives no `ServiceConfig`: the service keeps its app code, its envs
    /// and its configuration; only versions and weights change.
    pub keep_config: bool,
}

pub fn services_dir(home: &Path) -> PathBuf {
    home.join("services")
}

pub fn service_dir(home: &Path, name: &str) -> PathBuf {
    services_dir(home).join(name)
}

pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "`{name}` is not a service name: a letter, then up to 63 letters, digits, `_` or `-`"
        )))
    }
}

/// A service's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    pub port: Option<u16>,
    pub app_code: Option<String>,
    pub config: Value,
    pub supervisor_pid: Option<u32>,
    pub updated_at: String,
    pub created_at: String,
}

impl ServiceRow {
    pub fn address(&self) -> Option<String> {
        self.port.map(|p| format!("http://127.0.0.1:{p}"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    pub model_name: String,
    pub model_version: String,
    pub weight: u32,
    pub status: String,
    pub pid: Option<u32>,
    /// When the process `pid` started (milliseconds since the epoch).
    pub pid_started: Option<u64>,
    pub port: Option<u16>,
    pub restarts: u32,
}

pub fn get(store: &Store, name: &str) -> Result<Option<ServiceRow>> {
    Ok(store
        .conn()
        .query_row(
            "SELECT name, status, reason, port, app_code, config, supervisor_pid, updated_at, created_at
               FROM services WHERE name = ?1",
            [name],
            |r| {
                let config: String = r.get(5)?;
                Ok(ServiceRow {
                    name: r.get(0)?,
                    status: r.get(1)?,
                    reason: r.get(2)?,
                    port: r.get::<_, Option<i64>>(3)?.map(|p| p as u16),
                    app_code: r.get(4)?,
                    config: serde_json::from_str(&config).unwrap_or(Value::Null),
                    supervisor_pid: r.get::<_, Option<i64>>(6)?.map(|p| p as u32),
                    updated_at: r.get(7)?,
                    created_at: r.get(8)?,
                })
            },
        )
        .optional()?)
}

pub fn require(store: &Store, name: &str) -> Result<ServiceRow> {
    get(store, name)?.ok_or_else(|| ServiceError::NotFound(name.to_string()))
}

pub fn versions(store: &Store, name: &str) -> Result<Vec<VersionRow>> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT model_name, model_version, weight, status, pid, port, restarts, pid_started
           FROM service_versions WHERE service = ?1 ORDER BY model_name, model_version",
    )?;
    let rows = stmt.query_map([name], |r| {
        Ok(VersionRow {
            model_name: r.get(0)?,
            model_version: r.get(1)?,
            weight: r.get::<_, i64>(2)? as u32,
            status: r.get(3)?,
            pid: r.get::<_, Option<i64>>(4)?.map(|p| p as u32),
            port: r.get::<_, Option<i64>>(5)?.map(|p| p as u16),
            restarts: r.get::<_, i64>(6)? as u32,
            pid_started: r.get::<_, Option<i64>>(7)?.map(|p| p as u64),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn names(store: &Store) -> Result<Vec<String>> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name FROM services ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn app_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Records what a deploy or update wants; the supervisor follows. A service that exists
/// keeps its address and app code; its versions and weights become these.
pub fn deploy(store: &Store, spec: &ServiceSpec) -> Result<ServiceRow> {
    check_name(&spec.name)?;
    if spec.versions.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "service `{}` has no model version to serve",
            spec.name
        )));
    }
    let total: u32 = spec.versions.iter().map(|v| v.weight).sum();
    if total == 0 {
        return Err(ServiceError::Invalid(format!(
            "the weights of service `{}` sum to 0",
            spec.name
        )));
    }
    let conn = store.conn();
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let at = now();
    let existing = get(store, &spec.name)?;
    let mut config = spec.config.clone();
    if let Value::Object(m) = &mut config {
        m.insert(
            "envs".into(),
            Value::Object(
                spec.envs
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            ),
        );
    }
    if let (Some(row), true) = (&existing, spec.keep_config) {
        config = row.config.clone();
    }
    match &existing {
        Some(row) => {
            let code = match (&row.app_code, spec.apps) {
                _ if spec.keep_config => row.app_code.clone(),
                (Some(c), true) => Some(c.clone()),
                (None, true) => Some(app_code()),
                (_, false) => None,
            };
            let status = if row.status == "stopped" || row.status == "failed" {
                "deploying"
            } else {
                "updating"
            };
            tx.execute(
                "UPDATE services SET status = ?2, reason = NULL, app_code = ?3, config = ?4, made_by = ?5, updated_at = ?6 WHERE name = ?1",
                params![spec.name, status, code, config.to_string(), spec.made_by, at],
            )?;
        }
        None => {
            tx.execute(
                "INSERT INTO services(name, status, app_code, config, made_by, created_at, updated_at)
                 VALUES (?1, 'deploying', ?2, ?3, ?4, ?5, ?5)",
                params![
                    spec.name,
                    spec.apps.then(app_code),
                    config.to_string(),
                    spec.made_by,
                    at
                ],
            )?;
        }
    }
    // Versions no longer wanted keep their rows until the supervisor has moved traffic off
    // them (weight 0 marks them going).
    tx.execute(
        "UPDATE service_versions SET weight = 0 WHERE service = ?1",
        [&spec.name],
    )?;
    for v in &spec.versions {
        tx.execute(
            "INSERT INTO service_versions(service, model_name, model_version, weight, status)
             VALUES (?1, ?2, ?3, ?4, 'starting')
             ON CONFLICT(service, model_name, model_version) DO UPDATE SET weight = excluded.weight",
            params![spec.name, v.model_name, v.model_version, v.weight],
        )?;
    }
    tx.commit()?;
    require(store, &spec.name)
}

/// The pid of the service's supervisor, when one runs: the process holding the service's
/// lock, and running `wf service-supervisor NAME`. The pid in the record is never trusted
/// for this (after a reboot or a kill it may name any process).
pub fn supervisor_pid(home: &Path, name: &str) -> Option<u32> {
    let pid = process::lock_holder(home, name)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_supervisor = args
        .windows(2)
        .any(|w| w[0] == b"service-supervisor" && w[1] == name.as_bytes());
    is_supervisor.then_some(pid)
}

/// Starts the service's supervisor unless one runs: a detached `wf` process that outlives
/// the command that started it. Starts are taken one at a time (a lock in the service's
/// folder), and a start returns once its supervisor holds the service's lock, so that
/// concurrent starts and deploys end with one supervisor, at one address.
pub fn ensure_supervisor(store: &Store, name: &str) -> Result<u32> {
    let row = require(store, name)?;
    let dir = service_dir(&store.home, name);
    let io = |source: std::io::Error| ServiceError::Start {
        name: name.to_string(),
        source,
    };
    private_dir(&dir).map_err(io)?;
    let starting = crate::store::private_file(&dir.join("start.lock"), false).map_err(io)?;
    starting.lock().map_err(io)?;
    if let Some(pid) = supervisor_pid(&store.home, name) {
        return Ok(pid);
    }
    // Not running until the new supervisor says so.
    if row.status == "running" || row.status == "restarting" {
        store.conn().execute(
            "UPDATE services SET status = 'deploying', reason = 'its supervisor is starting again' WHERE name = ?1",
            [name],
        )?;
    }
    let log = crate::store::private_file(&dir.join("supervisor.log"), true).map_err(io)?;
    let exe = std::env::current_exe().map_err(io)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--home")
        .arg(&store.home)
        .arg("service-supervisor")
        .arg(name)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe; the child leaves the terminal's session so
        // Ctrl-C in the terminal that deployed it does not reach it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(io)?;
    let pid = child.id();
    // Started once it holds the lock; a supervisor that ends first says why in its log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if process::lock_holder(&store.home, name) == Some(pid) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let why = require(store, name)
                .ok()
                .filter(|r| r.status == "failed")
                .and_then(|r| r.reason)
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            return Err(ServiceError::Unavailable(format!(
                "the supervisor of service `{name}` ended as it started ({status}){why}; see {}",
                dir.join("supervisor.log").display()
            )));
        }
        if Instant::now() > deadline {
            // Not left to take the lock after the deploy was told it failed.
            let _ = child.kill();
            let _ = child.wait();
            return Err(ServiceError::Unavailable(format!(
                "the supervisor of service `{name}` (pid {pid}) did not take its lock within 30 s; see {}",
                dir.join("supervisor.log").display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    store.conn().execute(
        "UPDATE services SET supervisor_pid = ?2 WHERE name = ?1",
        params![name, pid],
    )?;
    // Reaped by nobody: the supervisor is meant to outlive this process.
    std::mem::forget(child);
    Ok(pid)
}

/// Waits until the service runs every wanted version (or fails, or `deadline` passes).
pub fn wait_running(
    home: &Path,
    name: &str,
    deadline: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<ServiceRow> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        let store = Store::open(home)?;
        let row = require(&store, name)?;
        match row.status.as_str() {
            "running" => return Ok(row),
            "failed" | "stopped" => {
                return Err(ServiceError::Unavailable(format!(
                    "service `{name}` {}: {}",
                    row.status,
                    row.reason.as_deref().unwrap_or("see `wf service logs`")
                )))
            }
            _ => {}
        }
        if supervisor_pid(home, name).is_none() {
            // It may have ended, saying why, since the status was read.
            let row = require(&store, name)?;
            if row.status == "failed" || row.status == "stopped" {
                continue;
            }
            return Err(ServiceError::Unavailable(format!(
                "the supervisor of service `{name}` died; see {}",
                service_dir(home, name).join("supervisor.log").display()
            )));
        }
        if cancelled() {
            return Err(ServiceError::Cancelled);
        }
        if start.elapsed() > deadline {
            return Err(ServiceError::Unavailable(format!(
                "service `{name}` was not running after {:.0} s ({}): see `wf service logs {name}`",
                deadline.as_secs_f64(),
                row.reason.as_deref().unwrap_or(&row.status)
            )));
        }
        drop(store);
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Stops a service: its supervisor stops the model processes and frees the address; a
/// supervisor that is gone is done for here.
pub fn stop(store: &Store, name: &str) -> Result<ServiceRow> {
    let row = require(store, name)?;
    if row.status == "stopped" {
        return Ok(row);
    }
    store.conn().execute(
        "UPDATE services SET status = 'stopping', updated_at = ?2 WHERE name = ?1",
        params![name, now()],
    )?;
    // The supervisor stops its model processes (each given its grace period) and ends.
    let deadline = Instant::now() + process::GRACE + Duration::from_secs(5);
    while let Some(pid) = supervisor_pid(&store.home, name) {
        if Instant::now() > deadline {
            // SAFETY: the process holding the service's lock, running its supervisor.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever a dead supervisor left: each recorded process that is still that process.
    for v in versions(store, name)? {
        if let Some(pid) = v.pid {
            process::stop_leftover(pid, v.pid_started, name, process::GRACE);
        }
    }
    store.conn().execute(
        "UPDATE services SET status = 'stopped', supervisor_pid = NULL, updated_at = ?2 WHERE name = ?1",
        params![name, now()],
    )?;
    store.conn().execute(
        "UPDATE service_versions SET status = 'stopped', pid = NULL, pid_started = NULL WHERE service = ?1",
        [name],
    )?;
    require(store, name)
}

/// `wf service show NAME --json` (README, "Models and services").
pub fn show_json(store: &Store, name: &str) -> Result<Value> {
    let row = require(store, name)?;
    let vs = versions(store, name)?;
    let sup = supervisor_pid(&store.home, name);
    // A service whose supervisor died is not running, whatever its row says.
    let status = if sup.is_none() && !matches!(row.status.as_str(), "stopped" | "failed") {
        "interrupted".to_string()
    } else {
        row.status.clone()
    };
    let mut v = json!({
        "name": row.name,
        "status": status,
        "reason": row.reason,
        "access_address": row.address(),
        "cluster_inner_access_address": row.address(),
        "supervisor_pid": sup,
        "config": row.config,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "logs": service_dir(&store.home, name).to_string_lossy(),
        "versions": vs.iter().filter(|x| x.weight > 0 || x.status != "stopped").map(|x| json!({
            "model_name": x.model_name,
            "model_version": x.model_version,
            "weight": x.weight,
            "status": x.status,
            "pid": x.pid,
            "port": x.port,
            "restarts": x.restarts,
        })).collect::<Vec<_>>(),
    });
    if let Some(code) = &row.app_code {
        v["app_code"] = json!(code);
    }
    Ok(v)
}
