//! The process behind a service (`wf service-supervisor NAME`, started detached): it binds
//! the service's address, runs one model process per wanted version, checks their health,
//! restarts the ones that die (with backoff), and proxies each request to one version,
//! chosen by smooth weighted round-robin so that shares follow the weights exactly. It
//! follows the records: new versions or weights are started and checked healthy before
//! traffic moves to them (old ones drain, then stop), and `stopping` ends it.
//!
//! It holds the service's lock for its whole life (one supervisor per service). Each model
//! process leads a process group of its own and runs in a private copy of its version's
//! files; it is stopped with its whole group (SIGTERM, then SIGKILL after a grace period).
//! A model that does not answer `/health` in time is stopped and started again, a bounded
//! number of times, then the service fails saying why. The proxy bounds what it holds in
//! memory (the request's and the answer's size) and how long a model may take to answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rusqlite::params;
use serde_json::json;

use super::{process, require, versions, VersionRow};
use crate::store::{now, Store};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;
type Key = (String, String);

/// Where a supervisor draws the line; read from its environment when it starts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body passed to a model (`WF_SERVICE_MAX_REQUEST_MB`, 64 MiB).
    pub request_bytes: u64,
    /// The largest answer taken from a model (`WF_SERVICE_MAX_ANSWER_MB`, 64 MiB).
    pub answer_bytes: u64,
    /// How long a model may take to answer one request (`WF_SERVICE_TIMEOUT_SECONDS`, 60).
    pub timeout: Duration,
    /// How long a model process may take to answer `/health` after it starts
    /// (`WF_SERVICE_READY_SECONDS`, 120, the time a deploy waits for its service).
    pub ready: Duration,
}

/// Attempts in a row at starting a model process that never answers `/health` (it exits, or
/// it is stopped after `Limits::ready`) before the service fails.
const ATTEMPTS: u32 = 3;

const MIB: f64 = 1024.0 * 1024.0;

/// A limit of the environment that is not a positive number.
#[derive(Debug, thiserror::Error)]
#[error("{key} is `{value}`: expected {what} above 0")]
pub struct LimitError {
    pub key: String,
    pub value: String,
    pub what: &'static str,
}

/// Why a model process could not be started, or the service cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot copy model {model} to run it (`{}`): {source}", path.display())]
    Copy {
        model: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model {model} is the image `{image}`: serving it needs docker or podman on PATH, and neither is there")]
    NoEngine { model: String, image: String },
    #[error("model {model} has no customize_service.py (at the top of `{}` or in its model/) and no `serve` command in config.json", path.display())]
    NoCode { model: String, path: PathBuf },
    /// The serving package could not be written out.
    #[error(transparent)]
    Runtime(std::io::Error),
    #[error("cannot make `{}`: {source}", path.display())]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    #[error("no free port: {0}")]
    NoPort(std::io::Error),
    #[error("cannot open the model's log: {0}")]
    Log(std::io::Error),
    #[error(transparent)]
    LogCopy(std::io::Error),
    #[error("cannot start the model {model}: {source}")]
    Spawn {
        model: String,
        source: std::io::Error,
    },
    /// A model that never got ready, after a few starts: what it did and its log's end.
    #[error("{0}")]
    NeverReady(String),
    #[error(transparent)]
    Records(#[from] super::ServiceError),
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_bytes: 64 << 20,
            answer_bytes: 64 << 20,
            timeout: Duration::from_secs(60),
            ready: Duration::from_secs(120),
        }
    }
}

impl Limits {
    /// The limits `var` gives (an environment variable's value by name), or what is wrong.
    pub fn from(var: impl Fn(&str) -> Option<String>) -> Result<Limits, LimitError> {
        let mut l = Limits::default();
        let number = |key: &str, what: &'static str| -> Result<Option<f64>, LimitError> {
            match var(key) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(n) if n > 0.0 && n.is_finite() => Ok(Some(n)),
                    _ => Err(LimitError {
                        key: key.to_string(),
                        value: v,
                        what,
                    }),
                },
            }
        };
        if let Some(n) = number("WF_SERVICE_MAX_REQUEST_MB", "a number of MiB")? {
            l.request_bytes = (n * MIB) as u64;
        }
        if let Some(n) = number("WF_SERVICE_MAX_ANSWER_MB", "a number of MiB")? {
            l.answer_bytes = (n * MIB) as u64;
        }
        if let Some(n) = number("WF_SERVICE_TIMEOUT_SECONDS", "a number of seconds")? {
            l.timeout = Duration::from_secs_f64(n.min(1e9));
        }
        if let Some(n) = number("WF_SERVICE_READY_SECONDS", "a number of seconds")? {
            l.ready = Duration::from_secs_f64(n.min(1e9));
        }
        Ok(l)
    }
}

/// `N MiB` (or KiB, or bytes) for a message.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.0} MiB", bytes as f64 / MIB)
    } else if bytes >= 1 << 10 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

struct Route {
    key: Key,
    port: u16,
    weight: i64,
    current: i64,
}

#[derive(Default)]
struct Routes {
    list: Vec<Route>,
    app_code: Option<String>,
}

impl Routes {
    /// Smooth weighted round-robin: over any window of `sum(weights)` requests each
    /// version gets exactly its weight. The port and the version.
    fn pick(&mut self, avoid: Option<u16>) -> Option<(u16, Key)> {
        let mut total = 0;
        let mut best: Option<usize> = None;
        for i in 0..self.list.len() {
            if Some(self.list[i].port) == avoid {
                continue;
            }
            total += self.list[i].weight;
            self.list[i].current += self.list[i].weight;
            if best.is_none_or(|b| self.list[i].current > self.list[b].current) {
                best = Some(i);
            }
        }
        let b = best?;
        self.list[b].current -= total;
        Some((self.list[b].port, self.list[b].key.clone()))
    }
}

struct Proc {
    child: Option<tokio::process::Child>,
    /// Its pid, which is also its process group's id.
    pid: u32,
    /// When it was started (milliseconds since the epoch), recorded with its pid.
    started_ms: u64,
    /// When it was started, for its time to answer `/health`.
    started: Instant,
    /// When its group was sent SIGTERM: SIGKILL follows after the grace period.
    stopping: Option<Instant>,
    /// It was stopped for not answering `/health` in time.
    not_ready: bool,
    port: u16,
    healthy: bool,
    failures: u32,
    restarts: u32,
    next_start: Option<Instant>,
    last_check: Instant,
    /// Set when traffic has moved off it: stopped once this passes.
    drain_until: Option<Instant>,
    /// It answered its health check at least once.
    ever_healthy: bool,
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

/// A program on PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The folder a model version's process of `service` runs in.
pub(crate) fn run_dir(home: &Path, service: &str, model: &str, version: &str) -> PathBuf {
    super::service_dir(home, service)
        .join("run")
        .join(format!("{model}-{version}"))
}

/// A private copy of a model version's files for one process of `service` to run in
/// (`HOME/services/SERVICE/run/MODEL-VERSION`, made afresh at each start): what a model
/// process writes into its folder never reaches the registry's copy, nor its next start.
/// Links are followed; the copy holds only folders and plain files.
pub(crate) fn run_copy(
    home: &Path,
    service: &str,
    m: &crate::models::ModelVersion,
) -> Result<PathBuf, SupervisorError> {
    use std::os::unix::fs::PermissionsExt;
    let run = super::service_dir(home, service).join("run");
    let to = run_dir(home, service, &m.name, &m.version);
    let fail = |what: &Path, source: std::io::Error| SupervisorError::Copy {
        model: format!("{}@{}", m.name, m.version),
        path: what.to_path_buf(),
        source,
    };
    crate::store::private_dir(&run).map_err(|e| fail(&run, e))?;
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(|e| fail(&to, e))?;
    }
    crate::store::private_dir(&to).map_err(|e| fail(&to, e))?;
    for e in walkdir::WalkDir::new(&m.path)
        .follow_links(true)
        .min_depth(1)
    {
        let e = e.map_err(|e| fail(&m.path, e.into()))?;
        let rel = e.path().strip_prefix(&m.path).unwrap_or(e.path());
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            crate::store::private_dir(&dest).map_err(|e| fail(&dest, e))?;
        } else if e.file_type().is_file() {
            std::fs::copy(e.path(), &dest).map_err(|err| fail(e.path(), err))?;
            // Private, writable by its owner, executable if it was.
            let mode = e.metadata().map(|m| m.permissions().mode()).unwrap_or(0) & 0o100;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600 | mode))
                .map_err(|e| fail(&dest, e))?;
        }
    }
    Ok(to)
}

/// The command that serves a model: its image with docker or podman (an `SWRImage` model),
/// its `config.json`'s `serve` (run in a private copy of the version's files), else the
/// ModelArts way (`customize_service.py` of that copy, on the serving package `wf` writes
/// out, run from a scratch folder), so that the registry's copy stays as registered.
pub(crate) fn model_command(
    home: &Path,
    service: &str,
    m: &crate::models::ModelVersion,
    port: u16,
) -> Result<tokio::process::Command, SupervisorError> {
    if let Some(image) = m.source.get("image").and_then(|i| i.as_str()) {
        let engine = ["docker", "podman"]
            .into_iter()
            .find_map(on_path)
            .ok_or_else(|| SupervisorError::NoEngine {
                model: format!("{}@{}", m.name, m.version),
                image: image.to_string(),
            })?;
        let mut c = tokio::process::Command::new(engine);
        c.args(["run", "--rm", "--init", "-p"])
            .arg(format!("127.0.0.1:{port}:{port}"))
            .arg("-e")
            .arg(format!("PORT={port}"))
            .arg("--name")
            .arg(format!("wf-{service}-{}-{}-{port}", m.name, m.version).replace(['.', '@'], "_"))
            .arg(image);
        return Ok(c);
    }
    let registered = &m.path;
    let serve = std::fs::read_to_string(registered.join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("serve").and_then(|s| s.as_str()).map(String::from));
    let has_code = registered.join("customize_service.py").is_file()
        || registered
            .join("model")
            .join("customize_service.py")
            .is_file();
    if serve.is_none() && !has_code {
        return Err(SupervisorError::NoCode {
            model: format!("{}@{}", m.name, m.version),
            path: registered.clone(),
        });
    }
    let dir = run_copy(home, service, m)?;
    if let Some(serve) = serve {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(serve).current_dir(dir);
        return Ok(c);
    }
    let server = super::runtime::python_server(home).map_err(SupervisorError::Runtime)?;
    let work = super::service_dir(home, service).join("work");
    crate::store::private_dir(&work).map_err(|source| SupervisorError::WorkDir {
        path: work.clone(),
        source,
    })?;
    let mut c = tokio::process::Command::new("python3");
    c.arg(server).arg(dir).current_dir(work);
    Ok(c)
}

struct Supervisor {
    home: PathBuf,
    name: String,
    store: Store,
    procs: HashMap<Key, Proc>,
    routes: Arc<Mutex<Routes>>,
    client: HttpClient,
    models: HashMap<Key, crate::models::ModelVersion>,
    envs: Vec<(String, String)>,
    last_update: String,
    /// Starts of each version in a row that never answered its health check.
    unready_exits: HashMap<Key, u32>,
    /// How often a healthy version's health is checked.
    interval: Duration,
    limits: Limits,
}

/// What the records keep of a model process.
struct Seen {
    pid: u32,
    started_ms: u64,
    port: u16,
    restarts: u32,
}

impl Proc {
    fn seen(&self) -> Seen {
        Seen {
            pid: self.pid,
            started_ms: self.started_ms,
            port: self.port,
            restarts: self.restarts,
        }
    }

    /// Asks the model process to end: SIGTERM to its whole group; what still runs after the
    /// grace period is killed (`settle`). It gets no more traffic.
    fn stop(&mut self) {
        self.healthy = false;
        if self.child.is_some() && self.stopping.is_none() {
            // Its leader is our child, not yet reaped: the group's id is still its own.
            process::signal_group(self.pid, libc::SIGTERM);
            self.stopping = Some(Instant::now());
        }
    }

    /// Follows a model process's end: once its leader has exited and no process of its
    /// group is left, it is reaped; a group still there after the grace period is killed
    /// (and one whose leader died unasked is asked to end first). Its exit status, once
    /// reaped.
    fn settle(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_ref()?;
        let graced = self.stopping.is_some_and(|t| t.elapsed() >= process::GRACE);
        // The leader is not reaped before its group is gone: until then the group's id
        // cannot be reused, and signalling it reaches only this model's processes.
        if !process::exited(self.pid) {
            if graced {
                process::signal_group(self.pid, libc::SIGKILL);
            }
            return None;
        }
        let rest = process::group_members(self.pid)
            .into_iter()
            .any(|p| p != self.pid);
        if rest {
            if !graced {
                // What the leader left gets its grace period too.
                self.stop();
                return None;
            }
            process::signal_group(self.pid, libc::SIGKILL);
        }
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }
}

impl Supervisor {
    fn log_path(&self, key: &Key) -> PathBuf {
        super::service_dir(&self.home, &self.name).join(format!("{}-{}.log", key.0, key.1))
    }

    fn model(&mut self, key: &Key) -> Result<crate::models::ModelVersion, SupervisorError> {
        if let Some(m) = self.models.get(key) {
            return Ok(m.clone());
        }
        let m = crate::models::get(&self.store, &key.0, Some(&key.1))?;
        self.models.insert(key.clone(), m.clone());
        Ok(m)
    }

    fn start(&mut self, key: &Key, restarts: u32) -> Result<Proc, SupervisorError> {
        let m = self.model(key)?;
        let port = free_port().map_err(SupervisorError::NoPort)?;
        let mut cmd = model_command(&self.home, &self.name, &m, port)?;
        let log =
            crate::store::private_file(&self.log_path(key), true).map_err(SupervisorError::Log)?;
        cmd.env("PORT", port.to_string())
            .env("WF_MODEL_NAME", &key.0)
            .env("WF_MODEL_VERSION", &key.1)
            .env("WF_SERVICE_NAME", &self.name)
            .env("PYTHONUNBUFFERED", "1")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(SupervisorError::LogCopy)?)
            .stderr(log)
            // Its own process group: it is stopped with everything it starts.
            .process_group(0)
            .kill_on_drop(false);
        let started_ms = process::now_ms();
        let child = cmd.spawn().map_err(|source| SupervisorError::Spawn {
            model: format!("{}@{}", key.0, key.1),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        tracing::info!("started {}@{} (pid {pid}, port {port})", key.0, key.1);
        Ok(Proc {
            child: Some(child),
            pid,
            started_ms,
            started: Instant::now(),
            stopping: None,
            not_ready: false,
            port,
            healthy: false,
            failures: 0,
            restarts,
            next_start: None,
            last_check: Instant::now(),
            drain_until: None,
            ever_healthy: false,
        })
    }

    async fn healthy(&self, port: u16) -> bool {
        let req = Request::get(format!("http://127.0.0.1:{port}/health"))
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.client.request(req)).await,
            Ok(Ok(r)) if r.status().is_success()
        )
    }

    fn set_version(&self, key: &Key, status: &str, p: Option<Seen>) {
        let _ = self.store.conn().execute(
            "UPDATE service_versions SET status = ?4, pid = ?5, port = ?6, restarts = ?7, pid_started = ?8
              WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
            params![
                self.name,
                key.0,
                key.1,
                status,
                p.as_ref().map(|p| p.pid),
                p.as_ref().map(|p| p.port),
                p.as_ref().map(|p| p.restarts).unwrap_or(0),
                p.as_ref().map(|p| p.started_ms as i64),
            ],
        );
    }

    fn set_service(&self, status: &str, reason: Option<&str>) {
        let _ = self.store.conn().execute(
            "UPDATE services SET status = ?2, reason = ?3 WHERE name = ?1 AND status != 'stopping'",
            params![self.name, status, reason],
        );
    }

    /// One pass: follow the records, restart what died, check health, route.
    async fn tick(&mut self) -> Result<bool, SupervisorError> {
        let row = match require(&self.store, &self.name) {
            Ok(r) => r,
            Err(_) => return Ok(false),
        };
        if row.status == "stopping" || row.status == "stopped" {
            return Ok(false);
        }
        if row.updated_at != self.last_update {
            self.last_update = row.updated_at.clone();
            // Health checks follow the step's poll interval.
            self.interval = row
                .config
                .get("poll_interval_seconds")
                .and_then(|v| v.as_f64())
                .map(|s| Duration::from_secs_f64(s.clamp(0.05, 3600.0)))
                .unwrap_or(Duration::from_secs(1));
            self.envs = row
                .config
                .get("envs")
                .and_then(|e| e.as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.routes.lock().expect("routes").app_code = row.app_code.clone();
        }
        let vs: Vec<VersionRow> = versions(&self.store, &self.name)?;
        let wanted: Vec<&VersionRow> = vs.iter().filter(|v| v.weight > 0).collect();
        let wanted_keys: Vec<Key> = wanted
            .iter()
            .map(|v| (v.model_name.clone(), v.model_version.clone()))
            .collect();
        // Start what is wanted and not running (a restart waits out its backoff).
        for key in &wanted_keys {
            let due = match self.procs.get(key) {
                None => Some(0),
                Some(p)
                    if p.child.is_none() && p.next_start.is_some_and(|t| Instant::now() >= t) =>
                {
                    Some(p.restarts)
                }
                Some(_) => None,
            };
            if let Some(restarts) = due {
                match self.start(key, restarts) {
                    Ok(p) => {
                        self.set_version(key, "starting", Some(p.seen()));
                        self.procs.insert(key.clone(), p);
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        self.set_version(key, "failed", None);
                        self.set_service("failed", Some(&e.to_string()));
                        return Err(e);
                    }
                }
            }
        }
        // Reap what ended (with its group); schedule a restart of what is still wanted.
        let keys: Vec<Key> = self.procs.keys().cloned().collect();
        for key in &keys {
            let p = self.procs.get_mut(key).expect("a process");
            let Some(status) = p.settle() else {
                continue;
            };
            if !wanted_keys.contains(key) {
                self.procs.remove(key);
                tracing::info!("stopped {}@{} (no longer wanted)", key.0, key.1);
                let _ = std::fs::remove_dir_all(run_dir(&self.home, &self.name, &key.0, &key.1));
                let _ = self.store.conn().execute(
                    "DELETE FROM service_versions WHERE service = ?1 AND model_name = ?2 AND model_version = ?3 AND weight = 0",
                    params![self.name, key.0, key.1],
                );
                continue;
            }
            let was_ready = p.ever_healthy;
            let not_ready = p.not_ready;
            p.healthy = false;
            p.stopping = None;
            p.restarts += 1;
            let backoff = (Duration::from_millis(200) * 2u32.pow(p.restarts.min(6)))
                .min(Duration::from_secs(10));
            p.next_start = Some(Instant::now() + backoff);
            let restarts = p.restarts;
            let unready = if was_ready {
                self.unready_exits.remove(key);
                0
            } else {
                let n = self.unready_exits.entry(key.clone()).or_insert(0);
                *n += 1;
                *n
            };
            // A model that cannot get ready is not started again for ever: after a few
            // attempts the service fails, saying why.
            if unready >= ATTEMPTS {
                let tail = crate::store::logs::log_tail(&self.log_path(key), 6);
                let what = if not_ready {
                    format!(
                        "did not answer /health within {} s of starting, {unready} times in a row (WF_SERVICE_READY_SECONDS sets the limit)",
                        self.limits.ready.as_secs_f64()
                    )
                } else {
                    format!("exited {unready} times before it answered /health ({status})")
                };
                let why = format!(
                    "model {}@{} {what}; its log ends:\n{}",
                    key.0,
                    key.1,
                    tail.trim_end()
                );
                tracing::error!("{why}");
                let _ = self.store.conn().execute(
                    "UPDATE service_versions SET status = 'failed', pid = NULL, pid_started = NULL, restarts = ?4
                      WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
                    params![self.name, key.0, key.1, restarts],
                );
                self.set_service("failed", Some(&why));
                return Err(SupervisorError::NeverReady(why));
            }
            tracing::info!(
                "{}@{} ended ({status}); starting it again in {:.1}s",
                key.0,
                key.1,
                backoff.as_secs_f64()
            );
            let _ = self.store.conn().execute(
                "UPDATE service_versions SET status = 'restarting', pid = NULL, pid_started = NULL, restarts = ?4
                  WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
                params![self.name, key.0, key.1, restarts],
            );
        }
        // Health: often while starting, then every poll interval; a process that does not
        // get ready in time, or stops answering, is stopped (and started again above).
        for key in &keys {
            let (port, due, was) = {
                let Some(p) = self.procs.get_mut(key) else {
                    continue;
                };
                if p.child.is_none() || p.stopping.is_some() {
                    continue;
                }
                if !p.ever_healthy && p.started.elapsed() >= self.limits.ready {
                    tracing::info!(
                        "{}@{} did not answer /health within {:.1} s; stopping it",
                        key.0,
                        key.1,
                        self.limits.ready.as_secs_f64()
                    );
                    p.not_ready = true;
                    p.stop();
                    continue;
                }
                let due = !p.healthy || p.last_check.elapsed() >= self.interval;
                (p.port, due, p.healthy)
            };
            if !due {
                continue;
            }
            let ok = self.healthy(port).await;
            let p = self.procs.get_mut(key).expect("a process");
            p.last_check = Instant::now();
            if ok {
                p.failures = 0;
                if !was {
                    p.healthy = true;
                    p.ever_healthy = true;
                    self.unready_exits.remove(key);
                    tracing::info!("{}@{} is healthy", key.0, key.1);
                    let seen = p.seen();
                    self.set_version(key, "running", Some(seen));
                }
            } else if was {
                p.failures += 1;
                if p.failures >= 3 {
                    tracing::info!("{}@{} failed 3 health checks; restarting it", key.0, key.1);
                    p.stop();
                }
            }
        }
        // Route: to the wanted versions once all are healthy; until then, keep routing to
        // what served before (a gray update), or to whatever wanted version is ready.
        let all_ready = wanted_keys
            .iter()
            .all(|k| self.procs.get(k).is_some_and(|p| p.healthy));
        {
            let mut routes = self.routes.lock().expect("routes");
            let healthy_port = |k: &Key| self.procs.get(k).filter(|p| p.healthy).map(|p| p.port);
            let want: Vec<Route> = wanted
                .iter()
                .filter_map(|v| {
                    let key = (v.model_name.clone(), v.model_version.clone());
                    healthy_port(&key).map(|port| Route {
                        key,
                        port,
                        weight: v.weight as i64,
                        current: 0,
                    })
                })
                .collect();
            let keep_old: Vec<Route> = routes
                .list
                .drain(..)
                .filter_map(|r| healthy_port(&r.key).map(|port| Route { port, ..r }))
                .collect();
            let same = |a: &[Route], b: &[Route]| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.key == y.key && x.weight == y.weight && x.port == y.port)
            };
            routes.list = if all_ready || keep_old.is_empty() {
                if same(&want, &keep_old) {
                    keep_old
                } else {
                    want
                }
            } else {
                keep_old
            };
        }
        // Versions no longer wanted drain, then stop (they are reaped above).
        if all_ready {
            for (key, p) in self.procs.iter_mut() {
                if wanted_keys.contains(key) {
                    continue;
                }
                if p.child.is_none() {
                    p.next_start = None;
                    continue;
                }
                let until = *p
                    .drain_until
                    .get_or_insert(Instant::now() + Duration::from_secs(1));
                if Instant::now() >= until {
                    p.stop();
                }
            }
            // What ended before it was drained is not started again.
            let ended: Vec<Key> = self
                .procs
                .iter()
                .filter(|(k, p)| !wanted_keys.contains(k) && p.child.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            for key in ended {
                self.procs.remove(&key);
                let _ = self.store.conn().execute(
                    "DELETE FROM service_versions WHERE service = ?1 AND model_name = ?2 AND model_version = ?3 AND weight = 0",
                    params![self.name, key.0, key.1],
                );
            }
            let draining = self.procs.keys().any(|k| !wanted_keys.contains(k));
            if !draining && row.status != "running" {
                self.set_service("running", None);
                tracing::info!("running");
            }
        } else if row.status == "running" {
            self.set_service("restarting", Some("a model process is being restarted"));
        }
        Ok(true)
    }

    /// Stops every model process (each group SIGTERM, then SIGKILL after the grace
    /// period) and records the service `stopped`, or `failed` when it failed.
    async fn shutdown(&mut self, failed: bool) {
        for p in self.procs.values_mut() {
            p.stop();
        }
        let deadline = Instant::now() + process::GRACE + Duration::from_secs(5);
        loop {
            for p in self.procs.values_mut() {
                p.settle();
            }
            if self.procs.values().all(|p| p.child.is_none()) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The private copies the processes ran in go with them.
        if self.procs.values().all(|p| p.child.is_none()) {
            let _ = std::fs::remove_dir_all(super::service_dir(&self.home, &self.name).join("run"));
        }
        let _ = self.store.conn().execute(
            "UPDATE service_versions SET status = CASE WHEN status = 'failed' THEN 'failed' ELSE 'stopped' END,
                    pid = NULL, pid_started = NULL WHERE service = ?1",
            [&self.name],
        );
        let _ = self.store.conn().execute(
            "UPDATE services SET status = ?3, supervisor_pid = NULL, updated_at = ?2 WHERE name = ?1",
            params![self.name, now(), if failed { "failed" } else { "stopped" }],
        );
    }
}

fn error(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    json_response(status, json!({ "error": message }))
}

/// Why no answer came from a model.
enum Upstream {
    /// It could not be reached, or its answer broke off: another version may answer.
    Unreachable,
    /// Its answer is larger than the limit.
    TooLarge,
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<http_body_util::LengthLimitError>()
        .is_some()
}

fn declared_length(headers: &hyper::HeaderMap) -> Option<u64> {
    headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// How long the rest of a refused request body is read (and thrown away) for.
const DISCARD_FOR: Duration = Duration::from_secs(30);

/// Reads a request body of at most `limit` bytes; `None` when it is larger (its rest is then
/// read and thrown away meanwhile).
async fn read_body(mut body: Incoming, limit: u64) -> Result<Option<Bytes>, hyper::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                discard(body);
                return Ok(None);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Some(buf.freeze()))
}

/// Reads what is left of a refused request body, keeping none of it, for a while: a client
/// still sending then reads the refusal rather than a reset connection.
fn discard(mut body: Incoming) {
    tokio::spawn(async move {
        let drain = async { while let Some(Ok(_)) = body.frame().await {} };
        let _ = tokio::time::timeout(DISCARD_FOR, drain).await;
    });
}

async fn proxy(
    req: Request<Incoming>,
    routes: Arc<Mutex<Routes>>,
    client: HttpClient,
    service: Arc<str>,
    limits: Limits,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(code) = routes.lock().expect("routes").app_code.clone() {
        let given = req
            .headers()
            .get("x-apig-appcode")
            .and_then(|v| v.to_str().ok());
        if given != Some(code.as_str()) {
            return Ok(json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": format!("service `{service}` needs the header X-Apig-AppCode (`wf service show {service}` shows the code)")}),
            ));
        }
    }
    // The body is held in memory (to send it on, and again to another version if the first
    // is gone): never more of it than the limit. One declared larger is refused unread.
    let (parts, body) = req.into_parts();
    let too_large = || {
        Ok(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the {} service `{service}` takes (WF_SERVICE_MAX_REQUEST_MB sets the limit)",
                size(limits.request_bytes)
            ),
        ))
    };
    if declared_length(&parts.headers).is_some_and(|n| n > limits.request_bytes) {
        discard(body);
        return too_large();
    }
    let body = match read_body(body, limits.request_bytes).await {
        Ok(Some(b)) => b,
        Ok(None) => return too_large(),
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request: {e}"),
            ))
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let answer_limit = usize::try_from(limits.answer_bytes).unwrap_or(usize::MAX);
    let mut avoid = None;
    for _ in 0..2 {
        let Some((port, key)) = routes.lock().expect("routes").pick(avoid) else {
            break;
        };
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(format!("http://127.0.0.1:{port}{path}"));
        for (k, v) in &parts.headers {
            if k != hyper::header::HOST {
                builder = builder.header(k, v);
            }
        }
        let up = builder
            .body(Full::new(body.clone()))
            .expect("a valid request");
        let exchange = async {
            let resp = client
                .request(up)
                .await
                .map_err(|_| Upstream::Unreachable)?;
            let (rparts, rbody) = resp.into_parts();
            if declared_length(&rparts.headers).is_some_and(|n| n > limits.answer_bytes) {
                return Err(Upstream::TooLarge);
            }
            match http_body_util::Limited::new(rbody, answer_limit)
                .collect()
                .await
            {
                Ok(b) => Ok(Response::from_parts(rparts, Full::new(b.to_bytes()))),
                Err(e) if is_length_limit(e.as_ref()) => Err(Upstream::TooLarge),
                Err(_) => Err(Upstream::Unreachable),
            }
        };
        // A model that takes too long is answered for; the connection to it is dropped,
        // and other requests go on meanwhile.
        match tokio::time::timeout(limits.timeout, exchange).await {
            Ok(Ok(resp)) => return Ok(resp),
            Ok(Err(Upstream::TooLarge)) => {
                return Ok(error(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "model {}@{} of service `{service}` answered more than {} (WF_SERVICE_MAX_ANSWER_MB sets the limit)",
                        key.0,
                        key.1,
                        size(limits.answer_bytes)
                    ),
                ))
            }
            // The version went away (died, or drained): try another one once.
            Ok(Err(Upstream::Unreachable)) => avoid = Some(port),
            Err(_) => {
                return Ok(error(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "model {}@{} of service `{service}` did not answer within {} s (WF_SERVICE_TIMEOUT_SECONDS sets the limit)",
                        key.0,
                        key.1,
                        limits.timeout.as_secs_f64()
                    ),
                ))
            }
        }
    }
    Ok(json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": format!("service `{service}` has no model version ready")}),
    ))
}

/// `wf service-supervisor NAME`: runs until the service is stopped.
pub fn run(home: &Path, name: &str) -> i32 {
    crate::logging::init(crate::logging::Style::Supervisor);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return 1;
        }
    };
    rt.block_on(supervise(home, name))
}

async fn supervise(home: &Path, name: &str) -> i32 {
    // One supervisor a service: the one holding the lock, for as long as it lives.
    let _lock = match process::take_lock(home, name) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::info!(
                "the supervisor {} already runs `{name}`; this one ends",
                process::lock_holder(home, name)
                    .map(|p| format!("(pid {p})"))
                    .unwrap_or_default()
            );
            return 0;
        }
        Err(e) => {
            tracing::error!(
                "cannot take the lock `{}`: {e}",
                process::lock_path(home, name).display()
            );
            return 1;
        }
    };
    let store = match Store::open(home) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let row = match require(&store, name) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let pid = std::process::id();
    let _ = store.conn().execute(
        "UPDATE services SET supervisor_pid = ?2 WHERE name = ?1",
        params![name, pid],
    );
    let limits = match Limits::from(|k| std::env::var(k).ok()) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            let _ = store.conn().execute(
                "UPDATE services SET status = 'failed', reason = ?2, supervisor_pid = NULL WHERE name = ?1",
                params![name, e.to_string()],
            );
            let _ = store.conn().execute(
                "UPDATE service_versions SET status = 'stopped' WHERE service = ?1 AND pid IS NULL",
                [name],
            );
            return 1;
        }
    };
    // What a supervisor killed before us left running: each recorded process that is
    // still that process, with its group.
    let leftovers: Vec<(u32, Option<u64>)> = versions(&store, name)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.pid.map(|p| (p, v.pid_started)))
        .collect();
    if !leftovers.is_empty() {
        let service = name.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            for (pid, started) in leftovers {
                process::stop_leftover(pid, started, &service, process::GRACE);
            }
        })
        .await;
        let _ = store.conn().execute(
            "UPDATE service_versions SET pid = NULL, pid_started = NULL WHERE service = ?1",
            [name],
        );
    }
    // The address: the one the service had, so that clients keep it across restarts.
    let listener = match row.port {
        Some(p) => match tokio::net::TcpListener::bind(("127.0.0.1", p)).await {
            Ok(l) => Ok(l),
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await,
        },
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await,
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot bind an address: {e}");
            let _ = store.conn().execute(
                "UPDATE services SET status = 'failed', reason = ?2, supervisor_pid = NULL WHERE name = ?1",
                params![name, format!("cannot bind an address on 127.0.0.1: {e}")],
            );
            return 1;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let _ = store.conn().execute(
        "UPDATE services SET port = ?2 WHERE name = ?1",
        params![name, port],
    );
    tracing::info!("supervisor {pid} of `{name}` on 127.0.0.1:{port} (requests up to {}, answers up to {}, {} s to answer, {} s to get ready)", size(limits.request_bytes),
        size(limits.answer_bytes),
        limits.timeout.as_secs_f64(),
        limits.ready.as_secs_f64()
    );
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build(http);
    let routes = Arc::new(Mutex::new(Routes::default()));
    let service: Arc<str> = name.into();
    {
        let routes = routes.clone();
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (routes, client, service) = (routes.clone(), client.clone(), service.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        proxy(req, routes.clone(), client.clone(), service.clone(), limits)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    }
    let mut sup = Supervisor {
        home: home.to_path_buf(),
        name: name.to_string(),
        store,
        procs: HashMap::new(),
        routes,
        client,
        models: HashMap::new(),
        envs: Vec::new(),
        last_update: String::new(),
        unready_exits: HashMap::new(),
        interval: Duration::from_secs(1),
        limits,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut failed = false;
    loop {
        match sup.tick().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
        let starting = sup.procs.values().any(|p| !p.healthy);
        let pause = if starting {
            Duration::from_millis(25)
        } else {
            Duration::from_millis(200)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = async { match &mut term { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => break,
        }
    }
    sup.shutdown(failed).await;
    tracing::info!("supervisor of `{name}` ended");
    i32::from(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_environment_and_refuse_what_is_not_a_number() {
        let d = Limits::from(|_| None).unwrap();
        assert_eq!(d.request_bytes, 64 << 20);
        assert_eq!(d.answer_bytes, 64 << 20);
        assert_eq!(d.timeout, Duration::from_secs(60));
        let l = Limits::from(|k| match k {
            "WF_SERVICE_MAX_REQUEST_MB" => Some("0.5".into()),
            "WF_SERVICE_TIMEOUT_SECONDS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(l.request_bytes, 512 << 10);
        assert_eq!(l.timeout, Duration::from_secs(2));
        for bad in ["abc", "0", "-3", "inf"] {
            let e = Limits::from(|k| (k == "WF_SERVICE_TIMEOUT_SECONDS").then(|| bad.to_string()))
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "WF_SERVICE_TIMEOUT_SECONDS is `{bad}`: expected a number of seconds above 0"
                )
            );
        }
    }
}
