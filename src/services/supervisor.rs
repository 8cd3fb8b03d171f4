//! The process behind a service (`wf service-supervisor NAME`, started detached): it binds
//! the service's address, runs one model process per wanted version, checks their health,
//! restarts the ones that die (with backoff), and proxies each request to one version,
//! chosen by smooth weighted round-robin so that shares follow the weights exactly. It
//! follows the records: new versions or weights are started and checked healthy before
//! traffic moves to them (old ones drain, then stop), and `stopping` ends it.

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

use super::{require, versions, VersionRow};
use crate::store::{now, Store};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;
type Key = (String, String);

/// Kills a model process (its process group) if it is one of this service's.
pub fn kill_model(pid: u32, service: &str) {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let mark = format!("WF_SERVICE_NAME={service}");
    let ours = environ.split(|b| *b == 0).any(|kv| kv == mark.as_bytes());
    if ours {
        // SAFETY: the group of a process we started, checked by its environment.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGTERM);
        }
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
    /// version gets exactly its weight.
    fn pick(&mut self, avoid: Option<u16>) -> Option<u16> {
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
        Some(self.list[b].port)
    }
}

struct Proc {
    child: Option<tokio::process::Child>,
    pid: u32,
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

/// The command that serves a model: its image with docker or podman (an `SWRImage` model),
/// its `config.json`'s `serve`, else the ModelArts way (`customize_service.py` on the
/// serving package `wf` writes out), run from a scratch folder so that the registry's copy
/// stays as registered.
pub(crate) fn model_command(
    home: &Path,
    service: &str,
    m: &crate::models::ModelVersion,
    port: u16,
) -> Result<tokio::process::Command, String> {
    let dir = &m.path;
    if let Some(image) = m.source.get("image").and_then(|i| i.as_str()) {
        let engine = ["docker", "podman"]
            .into_iter()
            .find_map(on_path)
            .ok_or_else(|| {
                format!(
                    "model {}@{} is the image `{image}`: serving it needs docker or podman on PATH, and neither is there",
                    m.name, m.version
                )
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
    let config = dir.join("config.json");
    if let Ok(text) = std::fs::read_to_string(&config) {
        if let Some(serve) = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("serve").and_then(|s| s.as_str()).map(String::from))
        {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(serve).current_dir(dir);
            return Ok(c);
        }
    }
    let has_code = dir.join("customize_service.py").is_file()
        || dir.join("model").join("customize_service.py").is_file();
    if !has_code {
        return Err(format!(
            "model {}@{} has no customize_service.py (at the top of `{}` or in its model/) and no `serve` command in config.json",
            m.name,
            m.version,
            dir.display()
        ));
    }
    let server = super::runtime::python_server(home).map_err(|e| e.to_string())?;
    let work = super::service_dir(home, service).join("work");
    crate::store::private_dir(&work)
        .map_err(|e| format!("cannot make `{}`: {e}", work.display()))?;
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
    /// Exits of each version before it ever answered its health check, in a row.
    unready_exits: HashMap<Key, u32>,
    /// How often a healthy version's health is checked.
    interval: Duration,
}

impl Supervisor {
    fn log_path(&self, key: &Key) -> PathBuf {
        super::service_dir(&self.home, &self.name).join(format!("{}-{}.log", key.0, key.1))
    }

    fn model(&mut self, key: &Key) -> Result<crate::models::ModelVersion, String> {
        if let Some(m) = self.models.get(key) {
            return Ok(m.clone());
        }
        let m = crate::models::get(&self.store, &key.0, Some(&key.1)).map_err(|e| e.to_string())?;
        self.models.insert(key.clone(), m.clone());
        Ok(m)
    }

    fn start(&mut self, key: &Key, restarts: u32) -> Result<Proc, String> {
        let m = self.model(key)?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut cmd = model_command(&self.home, &self.name, &m, port)?;
        let log = crate::store::private_file(&self.log_path(key), true)
            .map_err(|e| format!("cannot open the model's log: {e}"))?;
        cmd.env("PORT", port.to_string())
            .env("WF_MODEL_NAME", &key.0)
            .env("WF_MODEL_VERSION", &key.1)
            .env("WF_SERVICE_NAME", &self.name)
            .env("PYTHONUNBUFFERED", "1")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the model {}@{}: {e}", key.0, key.1))?;
        let pid = child.id().unwrap_or(0);
        eprintln!(
            "{} started {}@{} (pid {pid}, port {port})",
            now(),
            key.0,
            key.1
        );
        Ok(Proc {
            child: Some(child),
            pid,
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

    fn set_version(&self, key: &Key, status: &str, p: Option<&Proc>) {
        let _ = self.store.conn().execute(
            "UPDATE service_versions SET status = ?4, pid = ?5, port = ?6, restarts = ?7
              WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
            params![
                self.name,
                key.0,
                key.1,
                status,
                p.map(|p| p.pid),
                p.map(|p| p.port),
                p.map(|p| p.restarts).unwrap_or(0)
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
    async fn tick(&mut self) -> Result<bool, String> {
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
        let vs: Vec<VersionRow> = versions(&self.store, &self.name).map_err(|e| e.to_string())?;
        let wanted: Vec<&VersionRow> = vs.iter().filter(|v| v.weight > 0).collect();
        // Start what is wanted and not running (a restart waits out its backoff).
        for v in &wanted {
            let key = (v.model_name.clone(), v.model_version.clone());
            let due = match self.procs.get(&key) {
                None => Some(0),
                Some(p)
                    if p.child.is_none() && p.next_start.is_some_and(|t| Instant::now() >= t) =>
                {
                    Some(p.restarts)
                }
                Some(_) => None,
            };
            if let Some(restarts) = due {
                match self.start(&key, restarts) {
                    Ok(p) => {
                        self.set_version(&key, "starting", Some(&p));
                        self.procs.insert(key, p);
                    }
                    Err(e) => {
                        eprintln!("{} {e}", now());
                        self.set_version(&key, "failed", None);
                        self.set_service("failed", Some(&e));
                        return Err(e);
                    }
                }
            }
        }
        // Reap the dead; schedule their restart.
        let keys: Vec<Key> = self.procs.keys().cloned().collect();
        for key in &keys {
            let p = self.procs.get_mut(key).expect("a process");
            if let Some(child) = &mut p.child {
                if let Ok(Some(status)) = child.try_wait() {
                    let was_ready = p.ever_healthy;
                    p.child = None;
                    p.healthy = false;
                    p.restarts += 1;
                    let backoff = (Duration::from_millis(200) * 2u32.pow(p.restarts.min(6)))
                        .min(Duration::from_secs(10));
                    p.next_start = Some(Instant::now() + backoff);
                    let restarts = p.restarts;
                    let unready = if was_ready {
                        0
                    } else {
                        let n = self.unready_exits.entry(key.clone()).or_insert(0);
                        *n += 1;
                        *n
                    };
                    // A model that cannot start is not restarted for ever: the service
                    // fails, saying why.
                    if unready >= 3 {
                        let tail = crate::backends::job::log_tail(&self.log_path(key), 6);
                        let why = format!(
                            "model {}@{} exited {unready} times before it answered /health ({status}); its log ends:\n{}",
                            key.0,
                            key.1,
                            tail.trim_end()
                        );
                        eprintln!("{} {why}", now());
                        let _ = self.store.conn().execute(
                            "UPDATE service_versions SET status = 'failed', pid = NULL WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
                            params![self.name, key.0, key.1],
                        );
                        self.set_service("failed", Some(&why));
                        return Err(why);
                    }
                    eprintln!(
                        "{} {}@{} exited ({status}); restarting in {:.1}s",
                        now(),
                        key.0,
                        key.1,
                        backoff.as_secs_f64()
                    );
                    let _ = self.store.conn().execute(
                        "UPDATE service_versions SET status = 'restarting', pid = NULL, restarts = ?4
                          WHERE service = ?1 AND model_name = ?2 AND model_version = ?3",
                        params![self.name, key.0, key.1, restarts],
                    );
                }
            }
        }
        // Health: often while starting, then every poll interval.
        for key in &keys {
            let (port, due, was) = {
                let p = &self.procs[key];
                let due =
                    p.child.is_some() && (!p.healthy || p.last_check.elapsed() >= self.interval);
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
                    eprintln!("{} {}@{} is healthy", now(), key.0, key.1);
                    let snapshot = Proc { child: None, ..*p };
                    self.set_version(key, "running", Some(&snapshot));
                }
            } else if was {
                p.failures += 1;
                if p.failures >= 3 {
                    eprintln!(
                        "{} {}@{} failed 3 health checks; restarting it",
                        now(),
                        key.0,
                        key.1
                    );
                    kill_model(p.pid, &self.name);
                    p.healthy = false;
                }
            }
        }
        // Route: to the wanted versions once all are healthy; until then, keep routing to
        // what served before (a gray update), or to whatever wanted version is ready.
        let all_ready = wanted.iter().all(|v| {
            self.procs
                .get(&(v.model_name.clone(), v.model_version.clone()))
                .is_some_and(|p| p.healthy)
        });
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
        // Versions no longer wanted drain, then stop.
        if all_ready {
            let wanted_keys: Vec<Key> = wanted
                .iter()
                .map(|v| (v.model_name.clone(), v.model_version.clone()))
                .collect();
            let mut gone = Vec::new();
            for (key, p) in self.procs.iter_mut() {
                if wanted_keys.contains(key) {
                    continue;
                }
                let until = *p
                    .drain_until
                    .get_or_insert(Instant::now() + Duration::from_secs(1));
                if Instant::now() >= until {
                    kill_model(p.pid, &self.name);
                    gone.push(key.clone());
                }
            }
            for key in gone {
                if let Some(mut p) = self.procs.remove(&key) {
                    if let Some(c) = &mut p.child {
                        let _ = tokio::time::timeout(Duration::from_secs(3), c.wait()).await;
                    }
                }
                eprintln!("{} stopped {}@{} (no longer wanted)", now(), key.0, key.1);
                let _ = self.store.conn().execute(
                    "DELETE FROM service_versions WHERE service = ?1 AND model_name = ?2 AND model_version = ?3 AND weight = 0",
                    params![self.name, key.0, key.1],
                );
            }
            let draining = self.procs.keys().any(|k| !wanted_keys.contains(k));
            if !draining && row.status != "running" {
                self.set_service("running", None);
                eprintln!("{} running", now());
            }
        } else if row.status == "running" {
            self.set_service("restarting", Some("a model process is being restarted"));
        }
        Ok(true)
    }

    async fn shutdown(&mut self) {
        for p in self.procs.values() {
            if p.child.is_some() {
                kill_model(p.pid, &self.name);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for p in self.procs.values_mut() {
            if let Some(c) = &mut p.child {
                let left = deadline.saturating_duration_since(Instant::now());
                if tokio::time::timeout(left, c.wait()).await.is_err() {
                    // SAFETY: the group of a process we started.
                    unsafe { libc::kill(-(p.pid as i32), libc::SIGKILL) };
                    let _ = c.wait().await;
                }
            }
        }
        let _ = self.store.conn().execute(
            "UPDATE service_versions SET status = 'stopped', pid = NULL WHERE service = ?1",
            [&self.name],
        );
        let _ = self.store.conn().execute(
            "UPDATE services SET status = 'stopped', supervisor_pid = NULL, updated_at = ?2 WHERE name = ?1",
            params![self.name, now()],
        );
    }
}

async fn proxy(
    req: Request<Incoming>,
    routes: Arc<Mutex<Routes>>,
    client: HttpClient,
    service: Arc<str>,
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
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("cannot read the request: {e}")}),
            ))
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut avoid = None;
    for _ in 0..2 {
        let Some(port) = routes.lock().expect("routes").pick(avoid) else {
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
        match client.request(up).await {
            Ok(resp) => {
                let (rparts, rbody) = resp.into_parts();
                match rbody.collect().await {
                    Ok(b) => return Ok(Response::from_parts(rparts, Full::new(b.to_bytes()))),
                    Err(_) => avoid = Some(port),
                }
            }
            // The version went away (died, or drained): try another one once.
            Err(_) => avoid = Some(port),
        }
    }
    Ok(json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": format!("service `{service}` has no model version ready")}),
    ))
}

/// `wf service-supervisor NAME`: runs until the service is stopped.
pub fn run(home: &Path, name: &str) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return 1;
        }
    };
    rt.block_on(supervise(home, name))
}

async fn supervise(home: &Path, name: &str) -> i32 {
    let store = match Store::open(home) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let row = match require(&store, name) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    // What a supervisor killed before us left running.
    for v in versions(&store, name).unwrap_or_default() {
        if let Some(pid) = v.pid {
            kill_model(pid, name);
        }
    }
    let pid = std::process::id();
    let _ = store.conn().execute(
        "UPDATE services SET supervisor_pid = ?2 WHERE name = ?1",
        params![name, pid],
    );
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
            eprintln!("cannot bind an address: {e}");
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
    eprintln!("{} supervisor {pid} of `{name}` on 127.0.0.1:{port}", now());
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
                        proxy(req, routes.clone(), client.clone(), service.clone())
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
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut code = 0;
    loop {
        match sup.tick().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                code = 1;
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
    sup.shutdown().await;
    if code != 0 {
        let _ = sup.store.conn().execute(
            "UPDATE services SET status = 'failed' WHERE name = ?1",
            [name],
        );
    }
    eprintln!("{} supervisor of `{name}` ended", now());
    code
}
