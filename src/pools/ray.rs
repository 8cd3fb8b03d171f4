//! A Ray cluster through its dashboard's REST API (the Jobs API that `ray job submit` uses):
//! working-directory packages, jobs submitted by a submission id of ours, their status, logs
//! and stop; and the nodes' resources, from which the pool's flavors are made.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::PoolFlavor;
use crate::store::{Classify, ErrorKind};

/// Why a request to a Ray dashboard failed.
#[derive(Debug, thiserror::Error)]
pub enum RayError {
    /// The dashboard does not answer (the address, the network): the request's error with
    /// each of its causes.
    #[error("{0}")]
    Unreachable(String),
    /// The dashboard answered `status` to `what` (`GET /path`, `submitting`, …); `body` is
    /// the first line of its answer.
    #[error("{what}: HTTP {status}: {body}")]
    Http {
        what: String,
        status: u16,
        body: String,
    },
    #[error("GET {path}: not JSON: {source}")]
    NotJson {
        path: String,
        source: serde_json::Error,
    },
    /// The answer is not what the Jobs API gives.
    #[error("{0}")]
    Unexpected(String),
    /// The cluster has no alive node yet.
    #[error("the cluster has no alive node")]
    NoAliveNode,
    /// The cluster was still starting after the wait.
    #[error("{source} (waited {secs} s for one)")]
    Waited { source: Box<RayError>, secs: u64 },
}

impl RayError {
    fn http(what: impl Into<String>, status: u16, body: &str) -> RayError {
        RayError::Http {
            what: what.into(),
            status,
            body: first_line(body).to_string(),
        }
    }

    /// The cluster is starting: its dashboard has no alive node yet, or answers 5xx.
    fn is_starting(&self) -> bool {
        match self {
            RayError::NoAliveNode => true,
            RayError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl Classify for RayError {
    fn kind(&self) -> ErrorKind {
        match self {
            RayError::Unreachable(_)
            | RayError::NoAliveNode
            | RayError::Waited { .. }
            | RayError::Http { .. } => ErrorKind::Unavailable,
            RayError::NotJson { .. } | RayError::Unexpected(_) => ErrorKind::Internal,
        }
    }
}

/// A job's status as Ray reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Stopped,
    Succeeded,
    Failed,
}

impl JobStatus {
    fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "PENDING" => JobStatus::Pending,
            "RUNNING" => JobStatus::Running,
            "STOPPED" => JobStatus::Stopped,
            "SUCCEEDED" => JobStatus::Succeeded,
            "FAILED" => JobStatus::Failed,
            _ => return None,
        })
    }

    pub fn has_ended(self) -> bool {
        matches!(
            self,
            JobStatus::Stopped | JobStatus::Succeeded | JobStatus::Failed
        )
    }
}

/// What `GET /api/jobs/{id}` says of a job.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub status: JobStatus,
    pub message: String,
    pub exit_code: Option<i64>,
}

/// A job to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    pub id: String,
    /// A shell command line.
    pub entrypoint: String,
    /// `gcs://_ray_pkg_….zip`
    pub working_dir: String,
    pub env: Vec<(String, String)>,
    pub cpus: f64,
    pub gpus: f64,
    pub memory_bytes: u64,
    pub metadata: Map<String, Value>,
}

#[derive(Clone)]
pub struct Ray {
    base: String,
    http: reqwest::Client,
}

fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::net::install_tls();
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap_or_default()
        })
        .clone()
}

impl Ray {
    /// A client of its own, for a runtime made for a few requests (`super::block_on`):
    /// connections belong to the runtime that opened them.
    pub fn new(url: &str) -> Ray {
        crate::net::install_tls();
        Ray {
            base: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The process's shared client, for work on the engine's runtime.
    pub fn on_runtime(url: &str) -> Ray {
        Ray {
            base: url.trim_end_matches('/').to_string(),
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, String), RayError> {
        let resp = req.send().await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            RayError::Unreachable(msg)
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| RayError::Unreachable(e.to_string()))?;
        Ok((status, body))
    }

    async fn get_json(&self, path: &str) -> Result<Value, RayError> {
        let (status, body) = self.send(self.http.get(self.url(path))).await?;
        if status != 200 {
            return Err(RayError::http(format!("GET {path}"), status, &body));
        }
        serde_json::from_str(&body).map_err(|source| RayError::NotJson {
            path: path.to_string(),
            source,
        })
    }

    /// The flavors one job may ask for: from the largest alive node's CPUs, GPUs and memory.
    pub async fn flavors(&self) -> Result<Vec<PoolFlavor>, RayError> {
        self.read_flavors().await
    }

    /// `flavors`, waiting up to `wait` while the cluster is starting (no alive node yet, or a
    /// dashboard that answers 5xx), as right after `ray start`: `waiting` is told once, with
    /// why, when it starts to wait. An address that does not answer is refused at once.
    pub async fn flavors_when_ready(
        &self,
        wait: Duration,
        waiting: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Vec<PoolFlavor>, RayError> {
        let start = tokio::time::Instant::now();
        let mut told = false;
        loop {
            match self.read_flavors().await {
                Ok(f) => return Ok(f),
                Err(e) if !e.is_starting() => return Err(e),
                Err(e) => {
                    if start.elapsed() >= wait {
                        return Err(if told {
                            RayError::Waited {
                                source: Box::new(e),
                                secs: wait.as_secs(),
                            }
                        } else {
                            e
                        });
                    }
                    if !told {
                        waiting(&e.to_string());
                        told = true;
                    }
                    let left = wait.saturating_sub(start.elapsed());
                    tokio::time::sleep(left.min(Duration::from_millis(500))).await;
                }
            }
        }
    }

    async fn read_flavors(&self) -> Result<Vec<PoolFlavor>, RayError> {
        let v = self.get_json("/nodes?view=summary").await?;
        let nodes = v["data"]["summary"].as_array().ok_or_else(|| {
            RayError::Unexpected("the dashboard's node summary has no nodes".to_string())
        })?;
        let mut best: Option<(u32, u64, u32)> = None;
        for n in nodes {
            if n["raylet"]["state"].as_str().is_some_and(|s| s != "ALIVE") {
                continue;
            }
            let r = &n["raylet"]["resourcesTotal"];
            let cpus = r["CPU"].as_f64().unwrap_or(0.0) as u32;
            let gpus = r["GPU"].as_f64().unwrap_or(0.0) as u32;
            let mem = (r["memory"].as_f64().unwrap_or(0.0) / 1048576.0) as u64;
            if best.is_none_or(|(c, _, g)| (gpus, cpus) > (g, c)) {
                best = Some((cpus, mem, gpus));
            }
        }
        let (cpus, mem, gpus) = best.ok_or(RayError::NoAliveNode)?;
        Ok(super::node_flavors("", cpus, mem, gpus))
    }

    /// Uploads a working-directory package unless the cluster already holds it; gives its
    /// URI. Its name is made from its content.
    pub async fn upload(&self, zip: Vec<u8>) -> Result<String, RayError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&zip);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("_ray_pkg_{hex}.zip");
        let path = format!("/api/packages/gcs/{name}");
        let (status, _) = self.send(self.http.get(self.url(&path))).await?;
        if status != 200 {
            let (status, body) = self.send(self.http.put(self.url(&path)).body(zip)).await?;
            if status != 200 {
                return Err(RayError::http("uploading the code package", status, &body));
            }
        }
        Ok(format!("gcs://{name}"))
    }

    /// Submits a job; a job already submitted under the same id counts as submitted.
    pub async fn submit(&self, s: &Submission) -> Result<(), RayError> {
        let env: Map<String, Value> = s
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut body = json!({
            "entrypoint": s.entrypoint,
            "submission_id": s.id,
            "runtime_env": { "working_dir": s.working_dir, "env_vars": env },
            "metadata": s.metadata,
        });
        if s.cpus > 0.0 {
            body["entrypoint_num_cpus"] = json!(s.cpus);
        }
        if s.gpus > 0.0 {
            body["entrypoint_num_gpus"] = json!(s.gpus);
        }
        if s.memory_bytes > 0 {
            body["entrypoint_memory"] = json!(s.memory_bytes);
        }
        let req = self
            .http
            .post(self.url("/api/jobs/"))
            .header("content-type", "application/json")
            .body(body.to_string());
        let (status, text) = self.send(req).await?;
        if status == 200 {
            return Ok(());
        }
        if self.status(&s.id).await.ok().flatten().is_some() {
            return Ok(());
        }
        Err(RayError::http("submitting", status, &text))
    }

    /// The job's status; `None` when the cluster has no job of that id.
    pub async fn status(&self, id: &str) -> Result<Option<JobInfo>, RayError> {
        let path = format!("/api/jobs/{id}");
        let (status, body) = self.send(self.http.get(self.url(&path))).await?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(RayError::http(format!("GET {path}"), status, &body));
        }
        let v: Value =
            serde_json::from_str(&body).map_err(|source| RayError::NotJson { path, source })?;
        let status = v["status"]
            .as_str()
            .and_then(JobStatus::parse)
            .ok_or_else(|| {
                RayError::Unexpected(format!(
                    "GET /api/jobs/{id}: an unknown status {}",
                    v["status"]
                ))
            })?;
        Ok(Some(JobInfo {
            status,
            message: v["message"].as_str().unwrap_or("").to_string(),
            exit_code: v["driver_exit_code"].as_i64(),
        }))
    }

    /// The job's whole log so far.
    pub async fn logs(&self, id: &str) -> Result<String, RayError> {
        let v = self.get_json(&format!("/api/jobs/{id}/logs")).await?;
        Ok(v["logs"].as_str().unwrap_or("").to_string())
    }

    /// Asks Ray to stop the job; true when it was running.
    pub async fn stop(&self, id: &str) -> Result<bool, RayError> {
        let path = format!("/api/jobs/{id}/stop");
        let (status, body) = self.send(self.http.post(self.url(&path))).await?;
        match status {
            200 => Ok(serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["stopped"].as_bool())
                .unwrap_or(true)),
            404 => Ok(false),
            _ => Err(RayError::http(format!("POST {path}"), status, &body)),
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A dashboard on 127.0.0.1 answering `/nodes?view=summary` as a starting Ray does: the
    /// first `starting` answers are `status` with no alive node (an empty summary for 200),
    /// then one alive node of 4 CPUs. Gives its address and the count of requests.
    fn starting_ray(starting: usize, status: u16) -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (code, body) = if n < starting {
                    let body = if status == 200 {
                        r#"{"result": true, "data": {"summary": []}}"#.to_string()
                    } else {
                        "the dashboard is starting".to_string()
                    };
                    (status, body)
                } else {
                    (
                        200,
                        r#"{"result": true, "data": {"summary": [{"raylet": {"state": "ALIVE",
                        "resourcesTotal": {"CPU": 4.0, "memory": 4294967296.0}}}]}}"#
                            .to_string(),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (addr, seen)
    }

    fn told() -> (Arc<Mutex<Vec<String>>>, impl Fn(&str) + Send + Sync) {
        let said = Arc::new(Mutex::new(Vec::new()));
        let s = said.clone();
        (said, move |why: &str| {
            s.lock().unwrap().push(why.to_string())
        })
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_starting_cluster_is_waited_for_until_a_node_is_alive() {
        let (addr, seen) = starting_ray(3, 200);
        let (said, waiting) = told();
        let ray = Ray::new(&addr);
        let f = run(ray.flavors_when_ready(Duration::from_secs(20), &waiting)).unwrap();
        assert!(f.iter().any(|f| f.cpu == 4), "{f:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        // Told once, with why.
        assert_eq!(
            *said.lock().unwrap(),
            ["the cluster has no alive node".to_string()]
        );
    }

    #[test]
    fn a_dashboard_answering_5xx_while_it_starts_is_waited_for() {
        let (addr, _) = starting_ray(2, 503);
        let (said, waiting) = told();
        let f = run(Ray::new(&addr).flavors_when_ready(Duration::from_secs(20), &waiting));
        assert!(f.is_ok(), "{f:?}");
        assert!(said.lock().unwrap()[0].contains("HTTP 503"), "{said:?}");
    }

    #[test]
    fn the_wait_is_bounded_and_without_one_nothing_waits() {
        let (addr, _) = starting_ray(usize::MAX, 200);
        let (said, waiting) = told();
        let e =
            run(Ray::new(&addr).flavors_when_ready(Duration::from_secs(1), &waiting)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the cluster has no alive node (waited 1 s for one)"
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(said.lock().unwrap().len(), 1);
        // A run's check reads once, without waiting.
        let e = run(Ray::new(&addr).flavors()).unwrap_err();
        assert_eq!(e.to_string(), "the cluster has no alive node");
    }

    #[test]
    fn an_address_that_does_not_answer_is_not_waited_for() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (said, waiting) = told();
        let r = run(Ray::new(&format!("http://127.0.0.1:{port}"))
            .flavors_when_ready(Duration::from_secs(30), &waiting));
        assert!(r.is_err());
        assert!(said.lock().unwrap().is_empty());
    }
}
