//! A job step's processes: one per node (rank), each the leader of its own process group so
//! that a stop or a timeout kills the whole tree; output to the step's log; all ranks waited
//! on at once, so one failing rank fails the job at once and stops the others.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::task::Poll;

use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct JobRun {
    pub cwd: PathBuf,
    /// Program and its arguments.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub nodes: u32,
}

/// A rank's process group, as recorded: its id (the leader's pid) and when it was started,
/// so that a later runner never kills a group whose id was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub pgid: u32,
    /// Milliseconds since the Unix epoch when it was spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
}

use crate::exec::backend::StepError;
use crate::store::procs::START_SLACK_MS;

// A group's start is read only when it is about to be killed: reading it from a process
// that is still starting would wait for its `exec`.
pub use crate::store::procs::{now_ms, started_ms};

#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Every process exited 0.
    Succeeded,
    /// A process exited non-zero (its code) or was killed by a signal (None).
    Failed(Option<i32>),
    /// Cancelled: every group was killed.
    Stopped,
    /// It could not start: the reason.
    NotStarted(String),
}

/// Sends `signal` to the process group `pgid`.
pub fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH.
    unsafe {
        libc::killpg(pgid as libc::pid_t, signal);
    }
}

fn kill_group(pgid: u32) {
    signal_group(pgid, libc::SIGKILL);
}

/// Ends what an attempt that recorded its groups (`detail.groups`) left running: those
/// groups, and whatever else carries the step's environment.
pub fn end_recorded(
    exec_id: &str,
    step: &str,
    detail: &serde_json::Map<String, serde_json::Value>,
) {
    let groups: Vec<Group> = detail
        .get("groups")
        .and_then(|g| serde_json::from_value(g.clone()).ok())
        .unwrap_or_default();
    kill_groups(&groups);
    kill_by_environment(exec_id, Some(step));
}

/// Kills what an earlier runner's job left: each recorded group still belonging to it.
pub fn kill_groups(groups: &[Group]) {
    for g in groups {
        // A leader alive that started well after the recorded spawn means the id was reused:
        // not ours. A leader that is gone leaves the id unusable while its group lives.
        match (started_ms(g.pgid), g.started_ms) {
            (Some(now), Some(then)) if now.abs_diff(then) > START_SLACK_MS => continue,
            _ => kill_group(g.pgid),
        }
    }
}

/// Kills every process that carries `WF_EXECUTION_ID=exec_id` (and `WF_STEP_NAME=step`,
/// when given): a rank started just before its runner died, before it was recorded; a child
/// that left its group. Only a dead runner's leftovers carry them: the caller holds the
/// execution's lock.
pub fn kill_by_environment(exec_id: &str, step: Option<&str>) {
    kill_matching(exec_id, step, false)
}

/// Kills a dead runner's leftovers of an execution, sparing the ranks of a job whose owner
/// is still alive: the next runner re-attaches to those.
pub fn sweep(exec_id: &str) {
    kill_matching(exec_id, None, true)
}

fn kill_matching(exec_id: &str, step: Option<&str>, spare_owned: bool) {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    let want_exec = format!("WF_EXECUTION_ID={exec_id}");
    let want_step = step.map(|s| format!("WF_STEP_NAME={s}"));
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let mut vars = environ.split(|b| *b == 0);
        let (mut exec_ok, mut step_ok, mut pooled) = (false, want_step.is_none(), false);
        let mut owned = false;
        let owner_var = format!("{}=", OWNER_VAR);
        for v in &mut vars {
            exec_ok |= v == want_exec.as_bytes();
            step_ok |= want_step.as_ref().is_some_and(|w| v == w.as_bytes());
            // A pool's job that happens to run on this machine belongs to its cluster.
            pooled |= v.starts_with(b"WF_POOL=");
            if spare_owned {
                if let Some(dir) = v.strip_prefix(owner_var.as_bytes()) {
                    // The attempt's folder; its step's lock is held while its owner lives.
                    let dir = Path::new(
                        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir),
                    );
                    owned |= dir.parent().is_some_and(is_alive);
                }
            }
        }
        if exec_ok && step_ok && !pooled && !owned {
            // SAFETY: a signal to a process of this user that runs this step.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// Where `program` is on this process's `PATH`, looked up once per program: spawning by
/// name would try every `PATH` folder again for each process.
fn resolve_program(program: &str) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let mut found = FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(p) = found.get(program) {
        return p.clone();
    }
    let hit = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| {
                use std::os::unix::fs::PermissionsExt;
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    });
    match hit {
        Some(p) => {
            found.insert(program.to_string(), p.clone());
            p
        }
        None => PathBuf::from(program),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(29500)
}

/// Opens (creates, private) the step's log for appending and writes `header` to it.
pub fn open_log(path: &Path, header: &str) -> Result<std::fs::File, StepError> {
    let open = || crate::store::private_file(path, true);
    let log = match open() {
        Ok(f) => f,
        Err(_) => {
            // The log folder is made once, with the first log.
            if let Some(dir) = path.parent() {
                crate::store::private_dir(dir)
                    .map_err(|e| format!("cannot create the log folder {}: {e}", dir.display()))?;
            }
            open().map_err(|e| format!("cannot open the log {}: {e}", path.display()))?
        }
    };
    let _ = std::io::Write::write_all(&mut &log, header.as_bytes());
    Ok(log)
}

/// Runs the job to its end. `started` is given every rank's group as soon as all started.
pub async fn run(
    job: &JobRun,
    header: &str,
    cancel: &CancellationToken,
    started: impl FnOnce(&[Group]),
) -> JobEnd {
    let log = match open_log(&job.log, header) {
        Ok(f) => f,
        Err(e) => return JobEnd::NotStarted(e.to_string()),
    };
    if !job.cwd.is_dir() {
        return JobEnd::NotStarted(format!(
            "the code folder {} does not exist",
            job.cwd.display()
        ));
    }
    let Some(program) = job.argv.first() else {
        return JobEnd::NotStarted("nothing to run".into());
    };
    // Only distributed jobs need a rendezvous port; finding one costs a socket.
    let nodes = job.nodes.max(1);
    let port = if nodes > 1 {
        free_port().to_string()
    } else {
        "29500".to_string()
    };
    let mut children: Vec<Child> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for rank in 0..nodes {
        let (out, err) = match (log.try_clone(), log.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return JobEnd::NotStarted("cannot share the log with the process".into()),
        };
        // A job that sets its own PATH finds its program there.
        let mut cmd = if job.env.iter().any(|(k, _)| k == "PATH") {
            Command::new(program)
        } else {
            let mut c = Command::new(resolve_program(program));
            c.arg0(program);
            c
        };
        cmd.args(&job.argv[1..])
            .current_dir(&job.cwd)
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nodes.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        match cmd.spawn() {
            Ok(child) => {
                if let Some(pid) = child.id() {
                    groups.push(Group {
                        pgid: pid,
                        started_ms: Some(now_ms()),
                    });
                }
                children.push(child);
            }
            Err(e) => {
                groups.iter().for_each(|g| kill_group(g.pgid));
                for c in children.iter_mut() {
                    let _ = c.wait().await;
                }
                return JobEnd::NotStarted(format!("cannot start `{program}`: {e}"));
            }
        }
    }
    started(&groups);
    let kill_all = || groups.iter().for_each(|g| kill_group(g.pgid));
    let mut waits = Waits::new(&mut children);
    let mut failure: Option<Option<i32>> = None;
    let mut stopped = false;
    loop {
        tokio::select! {
            next = waits.next() => match next {
                None => break,
                Some(Ok(status)) if status.success() => {}
                Some(result) => {
                    if failure.is_none() && !stopped {
                        failure = Some(result.ok().and_then(|s| s.code()));
                        // One rank failing ends the job: stop the others now.
                        kill_all();
                    }
                }
            },
            _ = cancel.cancelled(), if failure.is_none() && !stopped => {
                stopped = true;
                kill_all();
            }
        }
    }
    match (stopped, failure) {
        (true, _) => JobEnd::Stopped,
        (false, None) => JobEnd::Succeeded,
        (false, Some(code)) => JobEnd::Failed(code),
    }
}

type Wait<'a> = Pin<Box<dyn Future<Output = std::io::Result<ExitStatus>> + Send + 'a>>;

/// The exits of several children, in the order they happen.
struct Waits<'a> {
    pending: Vec<Wait<'a>>,
}

impl<'a> Waits<'a> {
    fn new(children: &'a mut [Child]) -> Waits<'a> {
        Waits {
            pending: children
                .iter_mut()
                .map(|c| Box::pin(c.wait()) as Wait<'a>)
                .collect(),
        }
    }

    /// The next exit; `None` once every child has exited.
    async fn next(&mut self) -> Option<std::io::Result<ExitStatus>> {
        if self.pending.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for i in 0..self.pending.len() {
                if let Poll::Ready(r) = self.pending[i].as_mut().poll(cx) {
                    drop(self.pending.swap_remove(i));
                    return Poll::Ready(Some(r));
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// The variable each rank of an owned job carries: its attempt's folder. A dead runner's
/// leftovers are swept, but never the ranks of an owner that is still alive.
pub const OWNER_VAR: &str = "WF_JOB_OWNER";

/// Whether an owner of the step is alive (it holds the step's lock).
pub fn is_alive(step_dir: &Path) -> bool {
    crate::store::lock_held(&step_dir.join("lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn job(dir: &Path, script: &str, nodes: u32) -> JobRun {
        JobRun {
            cwd: dir.to_path_buf(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![],
            log: dir.join("logs/job.log"),
            nodes,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn alive(pid: u32) -> bool {
        // A zombie has exited; only a process still running counts.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
            .unwrap_or(false)
    }

    #[test]
    fn a_job_writes_its_log_and_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(dir.path(), "echo rank $RANK of $WORLD_SIZE", 1);
        let end = rt().block_on(run(&j, "== header ==\n", &CancellationToken::new(), |_| {}));
        assert_eq!(end, JobEnd::Succeeded);
        let log = std::fs::read_to_string(&j.log).unwrap();
        assert_eq!(log, "== header ==\nrank 0 of 1\n");
    }

    #[test]
    fn a_failing_rank_fails_the_job_at_once_and_kills_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let j = job(
            dir.path(),
            "if [ \"$RANK\" = 1 ]; then exit 3; fi; sleep 30",
            2,
        );
        let mut recorded = Vec::new();
        let t = Instant::now();
        let end = rt().block_on(run(&j, "", &CancellationToken::new(), |g| {
            recorded = g.to_vec()
        }));
        assert_eq!(end, JobEnd::Failed(Some(3)));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(recorded.len(), 2);
        assert!(recorded.iter().all(|g| g.started_ms.is_some()));
        assert!(!alive(recorded[0].pgid), "rank 0 still runs");
    }

    #[test]
    fn cancelling_kills_the_whole_process_tree() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let j = job(
            dir.path(),
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
            1,
        );
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let rt = rt();
        let end = rt.block_on(async {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                c2.cancel();
            });
            run(&j, "", &cancel, |_| {}).await
        });
        assert_eq!(end, JobEnd::Stopped);
        let grandchild: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!alive(grandchild), "the job's child outlived the stop");
    }

    #[test]
    fn a_missing_program_or_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job(dir.path(), "true", 1);
        j.argv = vec!["/no/such/program".into()];
        match rt().block_on(run(&j, "", &CancellationToken::new(), |_| {})) {
            JobEnd::NotStarted(e) => assert!(e.contains("cannot start `/no/such/program`"), "{e}"),
            other => panic!("{other:?}"),
        }
        j.cwd = dir.path().join("nope");
        match rt().block_on(run(&j, "", &CancellationToken::new(), |_| {})) {
            JobEnd::NotStarted(e) => assert!(e.contains("does not exist"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn leftovers_are_found_by_their_step_and_a_reused_group_id_is_spared() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        // A process that looks like a step's rank, started outside any record.
        let mut orphan = std::process::Command::new("sleep")
            .arg("30")
            .env("WF_EXECUTION_ID", "exec-leftover-test")
            .env("WF_STEP_NAME", "train")
            .spawn()
            .unwrap();
        // A live process whose id is recorded with another start time: never killed.
        let mut bystander = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let reused = Group {
            pgid: bystander.id(),
            started_ms: started_ms(bystander.id()).map(|t| t - 60_000),
        };
        let _ = dir;
        kill_groups(&[reused]);
        kill_by_environment("exec-leftover-test", Some("train"));
        let status = orphan.wait().unwrap();
        assert!(!status.success(), "the leftover was killed");
        assert!(alive(bystander.id()), "a reused id must never be killed");
        let _ = bystander.kill();
        let _ = bystander.wait();
    }
}
