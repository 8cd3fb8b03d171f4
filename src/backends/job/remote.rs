//! A job step on a resource pool (README, "Growing beyond one machine"): the same command line and `WF_*`
//! variables as a local job, handed to a Ray cluster (its Jobs API) or to Slurm (`sbatch`).
//!
//! Durability: the remote job's id is chosen here (`wf-EXEC-STEP-ATTEMPT`) and recorded in
//! the step's detail before it is submitted. A runner that dies leaves the job running; the
//! next runner does not clean it up (`reattaches`) but plans the step with that detail, and
//! its attempt looks the job up: found, it is followed to its end (never submitted again);
//! not found (the runner died before submitting), it is submitted once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::exec::backend::Attempt;
use crate::pools::ray::{JobStatus, Ray, Submission};
use crate::pools::slurm::{self, Batch, JobState};
use crate::pools::{Pool, PoolFlavor, PoolKind};

/// The largest code folder sent to Ray as a job's working directory.
const PACKAGE_LIMIT: u64 = 100 << 20;

/// The launcher of a job's ranks on Ray (`node_count > 1`), shipped in its package.
const RANKS_LAUNCHER: (&str, &str) = ("_wf_ray_ranks.py", include_str!("../../pools/ray_ranks.py"));

/// How a remote job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteEnd {
    Succeeded,
    /// Why, in a sentence.
    Failed(String),
    Stopped,
}

/// A job step resolved for a pool.
pub struct RemoteJob {
    pub pool: Pool,
    pub flavor: PoolFlavor,
    pub exec_id: String,
    pub step: String,
    pub code_dir: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub nodes: u32,
    pub log: PathBuf,
    /// Where a Slurm job's output and exit status go (a folder its nodes see).
    pub spool: PathBuf,
    /// The home, left out of a Ray package when the code folder holds it.
    pub home: PathBuf,
    /// The detail of the job a dead runner left running, taken up by the first attempt.
    pub attach: Mutex<Option<Map<String, Value>>>,
}

/// Whether a step's recorded detail points at a job on a pool.
pub fn is_remote(detail: &Map<String, Value>) -> bool {
    detail.get("pool").is_some_and(Value::is_string)
}

/// Stops what a dead runner's attempt left on its pool, from the recorded detail alone.
pub fn clean_up(detail: &Map<String, Value>) {
    let text = |k: &str| detail.get(k).and_then(Value::as_str);
    match text("pool_kind") {
        Some("ray") => {
            if let (Some(addr), Some(id)) = (text("pool_address"), text("remote_id")) {
                let ray = Ray::new(addr);
                let id = id.to_string();
                let _ = crate::pools::block_on(async move { ray.stop(&id).await });
            }
        }
        Some("slurm") => {
            let _ = match (text("remote_id"), text("remote_name")) {
                (Some(id), _) => slurm::cancel_now(id),
                (None, Some(name)) => slurm::cancel_named(name),
                _ => Ok(()),
            };
        }
        _ => {}
    }
}

/// A submission id Ray and Slurm take: letters, digits, `-`, `_`.
fn job_name(exec: &str, step: &str, attempt: u32) -> String {
    let clean: String = step
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("wf-{exec}-{clean}-{attempt}")
}

/// Appends to the step's log.
struct Log {
    file: Option<std::fs::File>,
    /// What the log already holds of the remote job's output, copied by a runner that died:
    /// a re-attached job's output is copied on from there, not again from its start.
    copied: Vec<u8>,
}

/// The text after the last header of `step` in its log, less a line saying it re-attached.
fn copied_after_header(log: &[u8], step: &str) -> Vec<u8> {
    let header = format!("== {step}: attempt ");
    let at = log
        .windows(header.len())
        .rposition(|w| w == header.as_bytes())
        .filter(|&i| i == 0 || log[i - 1] == b'\n');
    let Some(at) = at else { return Vec::new() };
    let mut rest = &log[at..];
    let skip_line = |rest: &mut &[u8]| {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        *rest = &rest[end..];
    };
    skip_line(&mut rest);
    if rest.starts_with(b"re-attached to ") {
        skip_line(&mut rest);
    }
    rest.to_vec()
}

impl Log {
    /// Opens the log, first noting what it holds of `step`'s last attempt.
    fn open_after(path: &Path, step: &str, header: &str) -> Log {
        let copied = std::fs::read(path)
            .map(|l| copied_after_header(&l, step))
            .unwrap_or_default();
        let mut log = Log::open(path, header);
        log.copied = copied;
        log
    }

    /// How much of `output` (the remote job's, from its start) the log holds already.
    fn already(&self, output: &[u8]) -> usize {
        if !self.copied.is_empty() && output.starts_with(&self.copied) {
            self.copied.len()
        } else {
            0
        }
    }

    fn open(path: &Path, header: &str) -> Log {
        let file = crate::store::private_file(path, true).ok().or_else(|| {
            let dir = path.parent()?;
            crate::store::private_dir(dir).ok()?;
            crate::store::private_file(path, true).ok()
        });
        let mut log = Log {
            file,
            copied: Vec::new(),
        };
        log.write(header.as_bytes());
        log
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(f) = &mut self.file {
            let _ = f.write_all(bytes);
        }
    }
}

/// How often a remote job is looked at: every 100 ms in its first second (short jobs end
/// quickly, and their end is what a person waits for), then less and less often, up to every
/// two seconds (fifty jobs followed by one runner must not load the cluster's dashboard).
struct Backoff {
    next: Duration,
    looks: u32,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            next: Duration::from_millis(100),
            looks: 0,
        }
    }
    fn next(&mut self) -> Duration {
        let d = self.next;
        self.looks += 1;
        if self.looks >= 10 {
            self.next = (self.next * 3 / 2).min(Duration::from_secs(2));
        }
        d
    }
}

/// How many looks in a row may fail before the pool counts as lost (a minute or two).
const LOST_AFTER: u32 = 60;

impl RemoteJob {
    /// What the step's record shows of the job.
    fn detail(&self, extra: Value) -> Value {
        let mut d = json!({ "pool": self.pool.name, "pool_kind": self.pool.kind_name() });
        if let PoolKind::Ray { url } = &self.pool.kind {
            d["pool_address"] = json!(url);
        }
        if let (Value::Object(d), Value::Object(extra)) = (&mut d, extra) {
            d.extend(extra);
        }
        d
    }

    pub async fn run(&self, attempt: &Attempt, header: &str) -> RemoteEnd {
        let attach = self.attach.lock().unwrap_or_else(|p| p.into_inner()).take();
        match &self.pool.kind {
            PoolKind::Ray { url } => self.run_ray(url, attempt, header, attach).await,
            PoolKind::Slurm { partition } => {
                self.run_slurm(partition.clone(), attempt, header, attach)
                    .await
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Ray

    fn submission(&self, id: &str, working_dir: String) -> Submission {
        let rel = |a: &String| match Path::new(a).strip_prefix(&self.code_dir) {
            Ok(r) if !a.starts_with("--") => r.to_string_lossy().into_owned(),
            _ => a.clone(),
        };
        // The boot file is in the package; every other path is passed as it is.
        let argv: Vec<String> = self
            .argv
            .iter()
            .enumerate()
            .map(|(i, a)| if i < 2 { rel(a) } else { a.clone() })
            .collect();
        let mut env = self.env.clone();
        for (k, v) in [
            ("RANK", "0"),
            ("LOCAL_RANK", "0"),
            ("WORLD_SIZE", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
        ] {
            env.push((k.into(), v.into()));
        }
        env.push(("WF_POOL".into(), self.pool.name.clone()));
        let mut metadata = Map::new();
        metadata.insert("wf_execution".into(), json!(self.exec_id));
        metadata.insert("wf_step".into(), json!(self.step));
        let command = argv
            .iter()
            .map(|a| slurm::sh(a))
            .collect::<Vec<_>>()
            .join(" ");
        let (cpus, gpus, memory) = (
            self.flavor.cpu as f64,
            self.flavor.gpu as f64,
            self.flavor.memory_mib << 20,
        );
        if self.nodes > 1 {
            // The launcher takes no resources itself: each rank's bundle holds the flavor.
            return Submission {
                id: id.to_string(),
                entrypoint: format!(
                    "python3 {} {} {cpus} {gpus} {memory} -- {command}",
                    RANKS_LAUNCHER.0, self.nodes
                ),
                working_dir,
                env,
                cpus: 0.0,
                gpus: 0.0,
                memory_bytes: 0,
                metadata,
            };
        }
        Submission {
            id: id.to_string(),
            entrypoint: command,
            working_dir,
            env,
            cpus,
            gpus,
            memory_bytes: memory,
            metadata,
        }
    }

    async fn run_ray(
        &self,
        url: &str,
        attempt: &Attempt,
        header: &str,
        attach: Option<Map<String, Value>>,
    ) -> RemoteEnd {
        let id = attach
            .as_ref()
            .and_then(|d| d.get("remote_id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| job_name(&self.exec_id, &self.step, attempt.number));
        // Recorded before anything is sent: a runner that dies now leaves a record to find.
        attempt.record_detail(self.detail(json!({ "remote_id": id })));
        let ray = Ray::on_runtime(url);
        let mut log = match attach {
            Some(_) => Log::open_after(&self.log, &self.step, header),
            None => Log::open(&self.log, header),
        };
        let lost = |e: String| {
            RemoteEnd::Failed(format!(
                "pool `{}` (ray at {url}) cannot be reached: {e}",
                self.pool.name
            ))
        };
        match ray.status(&id).await {
            Err(e) => return lost(e.to_string()),
            Ok(Some(_)) => {
                let line = format!("re-attached to Ray job {id}\n");
                log.write(line.as_bytes());
                attempt.say(format!("re-attached to Ray job {id}"));
            }
            Ok(None) => {
                if attempt.cancel.is_cancelled() {
                    return RemoteEnd::Stopped;
                }
                let dir = self.code_dir.clone();
                let home = self.home.clone();
                let ranks = self.nodes > 1;
                let zipped = tokio::task::spawn_blocking(move || {
                    if !dir.is_dir() {
                        return Err(format!("the code folder {} does not exist", dir.display()));
                    }
                    let launcher = [(RANKS_LAUNCHER.0, RANKS_LAUNCHER.1.as_bytes())];
                    let extra: &[(&str, &[u8])] = if ranks { &launcher } else { &[] };
                    crate::pools::zip::zip_dir(&dir, Some(&home), PACKAGE_LIMIT, extra)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                let package = match zipped {
                    Ok(z) => z,
                    Err(e) => return RemoteEnd::Failed(e),
                };
                let working_dir = match ray.upload(package).await {
                    Ok(uri) => uri,
                    Err(e) => return lost(e.to_string()),
                };
                if let Err(e) = ray.submit(&self.submission(&id, working_dir)).await {
                    return RemoteEnd::Failed(format!(
                        "pool `{}` refused the job: {e}",
                        self.pool.name
                    ));
                }
            }
        }
        self.follow_ray(&ray, &id, &attempt.cancel, &mut log).await
    }

    async fn follow_ray(
        &self,
        ray: &Ray,
        id: &str,
        cancel: &CancellationToken,
        log: &mut Log,
    ) -> RemoteEnd {
        let mut shown: Option<usize> = None;
        let mut copy_logs = |text: String, log: &mut Log| {
            let mut shown_now = shown.unwrap_or_else(|| log.already(text.as_bytes()));
            if text.len() < shown_now {
                shown_now = 0;
            }
            let shown = shown.insert(shown_now);
            log.write(&text.as_bytes()[*shown..]);
            *shown = text.len();
        };
        let mut wait = Backoff::new();
        let mut failures = 0;
        let mut stopping = false;
        loop {
            if !stopping {
                tokio::select! {
                    _ = tokio::time::sleep(wait.next()) => {}
                    _ = cancel.cancelled() => {
                        stopping = true;
                        let _ = ray.stop(id).await;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let info = match ray.status(id).await {
                Ok(Some(info)) => info,
                Ok(None) => return RemoteEnd::Failed(format!("Ray no longer knows job {id}")),
                Err(e) => {
                    failures += 1;
                    if failures >= LOST_AFTER || stopping {
                        return RemoteEnd::Failed(format!(
                            "lost pool `{}` while job {id} ran: {e}",
                            self.pool.name
                        ));
                    }
                    continue;
                }
            };
            failures = 0;
            // A job still waiting for room has written nothing yet.
            if info.status != JobStatus::Pending {
                if let Ok(text) = ray.logs(id).await {
                    copy_logs(text, log);
                }
            }
            if !info.status.has_ended() {
                continue;
            }
            return match info.status {
                JobStatus::Succeeded => RemoteEnd::Succeeded,
                JobStatus::Stopped if stopping => RemoteEnd::Stopped,
                JobStatus::Stopped => {
                    RemoteEnd::Failed(format!("Ray job {id} was stopped outside wf"))
                }
                _ if stopping => RemoteEnd::Stopped,
                _ => RemoteEnd::Failed(format!(
                    "Ray job {id} failed{}: {}",
                    info.exit_code
                        .map(|c| format!(" (exit status {c})"))
                        .unwrap_or_default(),
                    info.message.lines().next().unwrap_or("")
                )),
            };
        }
    }

    // -----------------------------------------------------------------------------------------
    // Slurm

    async fn run_slurm(
        &self,
        partition: Option<String>,
        attempt: &Attempt,
        header: &str,
        attach: Option<Map<String, Value>>,
    ) -> RemoteEnd {
        let text = |k: &str| {
            attach
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = text("remote_name")
            .unwrap_or_else(|| job_name(&self.exec_id, &self.step, attempt.number));
        let output = text("output")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.spool.join(format!("{name}.out")));
        let exit_file = output.with_extension("exit");
        let mut id = text("remote_id");
        let mut detail = json!({
            "remote_name": name,
            "output": output.to_string_lossy(),
        });
        if let Some(id) = &id {
            detail["remote_id"] = json!(id);
        }
        attempt.record_detail(self.detail(detail.clone()));
        let mut log = match attach {
            Some(_) => Log::open_after(&self.log, &self.step, header),
            None => Log::open(&self.log, header),
        };
        if id.is_none() {
            // A runner that died between `sbatch` and recording the id left a job by name.
            id = match slurm::find_by_name(&name).await {
                Ok(found) => found,
                Err(e) => return RemoteEnd::Failed(e.to_string()),
            };
        }
        let id = match id {
            Some(id) => {
                let line = format!("re-attached to Slurm job {id}\n");
                log.write(line.as_bytes());
                attempt.say(format!("re-attached to Slurm job {id}"));
                id
            }
            None => {
                if attempt.cancel.is_cancelled() {
                    return RemoteEnd::Stopped;
                }
                let batch = Batch {
                    name: name.clone(),
                    partition,
                    nodes: self.nodes,
                    cpus: self.flavor.cpu,
                    memory_mib: self.flavor.memory_mib,
                    gpus: self.flavor.gpu,
                    cwd: self.code_dir.clone(),
                    argv: self.argv.clone(),
                    env: {
                        let mut env = self.env.clone();
                        env.push(("WF_POOL".into(), self.pool.name.clone()));
                        env
                    },
                    output: output.clone(),
                    exit_file: exit_file.clone(),
                };
                let script = self.spool.join(format!("{name}.sbatch"));
                let written = crate::store::private_dir(&self.spool)
                    .and_then(|_| std::fs::write(&script, batch.script()));
                if let Err(e) = written {
                    return RemoteEnd::Failed(format!(
                        "cannot write the batch script {}: {e}",
                        script.display()
                    ));
                }
                match slurm::submit(&script).await {
                    Ok(id) => id,
                    Err(e) => return RemoteEnd::Failed(e.to_string()),
                }
            }
        };
        detail["remote_id"] = json!(id);
        attempt.record_detail(self.detail(detail));
        self.follow_slurm(&id, &output, &exit_file, &attempt.cancel, &mut log)
            .await
    }

    async fn follow_slurm(
        &self,
        id: &str,
        output: &Path,
        exit_file: &Path,
        cancel: &CancellationToken,
        log: &mut Log,
    ) -> RemoteEnd {
        let mut shown: Option<u64> = None;
        let mut copy_output = |log: &mut Log| {
            use std::io::{Read, Seek, SeekFrom};
            if let Ok(mut f) = std::fs::File::open(output) {
                let shown = shown.get_or_insert_with(|| {
                    let mut head = vec![0; log.copied.len()];
                    let read = f.read_exact(&mut head).is_ok();
                    if read {
                        log.already(&head) as u64
                    } else {
                        0
                    }
                });
                if f.seek(SeekFrom::Start(*shown)).is_ok() {
                    let mut buf = Vec::new();
                    if f.read_to_end(&mut buf).is_ok() {
                        *shown += buf.len() as u64;
                        log.write(&buf);
                    }
                }
            }
        };
        let mut wait = Backoff::new();
        let mut stopping = false;
        let mut failures = 0;
        loop {
            if !stopping {
                tokio::select! {
                    _ = tokio::time::sleep(wait.next()) => {}
                    _ = cancel.cancelled() => {
                        stopping = true;
                        let _ = slurm::cancel(id).await;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            copy_output(log);
            match slurm::state(id, exit_file).await {
                Err(e) => {
                    failures += 1;
                    if failures >= LOST_AFTER || stopping {
                        return RemoteEnd::Failed(format!("lost Slurm job {id}: {e}"));
                    }
                }
                Ok(JobState::Pending | JobState::Running) => failures = 0,
                Ok(_) if stopping => return RemoteEnd::Stopped,
                Ok(JobState::Ended { ok: true, .. }) => {
                    copy_output(log);
                    return RemoteEnd::Succeeded;
                }
                Ok(JobState::Ended { how, .. }) => {
                    copy_output(log);
                    return RemoteEnd::Failed(format!("Slurm job {id} {how}"));
                }
                Ok(JobState::Unknown) => {
                    return RemoteEnd::Failed(format!(
                        "Slurm no longer knows job {id} and it left no exit status in {}",
                        exit_file.display()
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_plain() {
        assert_eq!(job_name("abc", "train step", 2), "wf-abc-train_step-2");
    }

    #[test]
    fn a_reattached_job_copies_on_from_what_the_log_holds() {
        let log = b"== train: attempt 1 ==\nline one\n== train: attempt 2 ==\nre-attached to Ray job x\nstart\nhalf";
        assert_eq!(copied_after_header(log, "train"), b"start\nhalf");
        assert_eq!(
            copied_after_header(b"== other: attempt 1 ==\nx", "train"),
            b""
        );
        let l = Log {
            file: None,
            copied: b"start\nhalf".to_vec(),
        };
        assert_eq!(l.already(b"start\nhalf of it\n"), 10);
        assert_eq!(l.already(b"something else"), 0);
    }

    #[test]
    fn remote_details_are_recognised() {
        let d = json!({"pool": "ray", "remote_id": "x"});
        assert!(is_remote(d.as_object().unwrap()));
        let d = json!({"groups": []});
        assert!(!is_remote(d.as_object().unwrap()));
    }
}
