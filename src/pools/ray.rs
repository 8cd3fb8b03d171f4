//! A Ray cluster through its dashboard's REST API (the Jobs API that `ray job submit` uses):
//! working-directory packages, jobs submitted by a submission id of ours, their status, logs
//! and stop; and the nodes' resources, from which the pool's flavors are made.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::PoolFlavor;

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

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, String), String> {
        let resp = req.send().await.map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            msg
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    async fn get_json(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.send(self.http.get(self.url(path))).await?;
        if status != 200 {
            return Err(format!("GET {path}: HTTP {status}: {}", first_line(&body)));
        }
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: not JSON: {e}"))
    }

    /// The flavors one job may ask for: from the largest alive node's CPUs, GPUs and memory.
    pub async fn flavors(&self) -> Result<Vec<PoolFlavor>, String> {
        let v = self.get_json("/nodes?view=summary").await?;
        let nodes = v["data"]["summary"]
            .as_array()
            .ok_or("the dashboard's node summary has no nodes")?;
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
        let (cpus, mem, gpus) = best.ok_or("the cluster has no alive node")?;
        Ok(super::node_flavors("", cpus, mem, gpus))
    }

    /// Uploads a working-directory package unless the cluster already holds it; gives its
    /// URI. Its name is made from its content.
    pub async fn upload(&self, zip: Vec<u8>) -> Result<String, String> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&zip);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("_ray_pkg_{hex}.zip");
        let path = format!("/api/packages/gcs/{name}");
        let (status, _) = self.send(self.http.get(self.url(&path))).await?;
        if status != 200 {
            let (status, body) = self.send(self.http.put(self.url(&path)).body(zip)).await?;
            if status != 200 {
                return Err(format!(
                    "uploading the code package: HTTP {status}: {}",
                    first_line(&body)
                ));
            }
        }
        Ok(format!("gcs://{name}"))
    }

    /// Submits a job; a job already submitted under the same id counts as submitted.
    pub async fn submit(&self, s: &Submission) -> Result<(), String> {
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
        Err(format!("submitting: HTTP {status}: {}", first_line(&text)))
    }

    /// The job's status; `None` when the cluster has no job of that id.
    pub async fn status(&self, id: &str) -> Result<Option<JobInfo>, String> {
        let path = format!("/api/jobs/{id}");
        let (status, body) = self.send(self.http.get(self.url(&path))).await?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(format!("GET {path}: HTTP {status}: {}", first_line(&body)));
        }
        let v: Value =
            serde_json::from_str(&body).map_err(|e| format!("GET {path}: not JSON: {e}"))?;
        let status = v["status"]
            .as_str()
            .and_then(JobStatus::parse)
            .ok_or_else(|| format!("GET {path}: an unknown status {}", v["status"]))?;
        Ok(Some(JobInfo {
            status,
            message: v["message"].as_str().unwrap_or("").to_string(),
            exit_code: v["driver_exit_code"].as_i64(),
        }))
    }

    /// The job's whole log so far.
    pub async fn logs(&self, id: &str) -> Result<String, String> {
        let v = self.get_json(&format!("/api/jobs/{id}/logs")).await?;
        Ok(v["logs"].as_str().unwrap_or("").to_string())
    }

    /// Asks Ray to stop the job; true when it was running.
    pub async fn stop(&self, id: &str) -> Result<bool, String> {
        let path = format!("/api/jobs/{id}/stop");
        let (status, body) = self.send(self.http.post(self.url(&path))).await?;
        match status {
            200 => Ok(serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["stopped"].as_bool())
                .unwrap_or(true)),
            404 => Ok(false),
            _ => Err(format!("POST {path}: HTTP {status}: {}", first_line(&body))),
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}
