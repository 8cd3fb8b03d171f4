//! A job step's processes: started in their own process group (so a stop or a timeout
//! kills the whole tree), output to the step's log, one process per node.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct JobRun {
    pub cwd: PathBuf,
    /// Program and its arguments.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub nodes: u32,
    pub timeout: Option<Duration>,
    /// A line written to the log before the processes start.
    pub header: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Every process exited 0.
    Succeeded,
    /// A process exited non-zero (its code) or was killed by a signal (None).
    Failed(Option<i32>),
    TimedOut,
    Stopped,
    /// It could not start: the reason.
    NotStarted(String),
}

fn kill_group(pid: u32) {
    // SAFETY: killpg only sends a signal; a stale group id is harmless (ESRCH).
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Kills what is left of an earlier runner's job (after `kill -9` of that runner).
pub fn kill_leftover(pid: u32) {
    kill_group(pid);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(29500)
}

/// Runs the job to its end. `started` is told the process group id once it runs.
pub async fn run(
    job: &JobRun,
    mut stop: watch::Receiver<bool>,
    started: impl FnOnce(u32),
) -> JobEnd {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&job.log)
    };
    let log = match open() {
        Ok(f) => f,
        Err(_) => {
            // The log folder is made once, with the first log.
            if let Some(dir) = job.log.parent() {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    return JobEnd::NotStarted(format!(
                        "cannot create the log folder {}: {e}",
                        dir.display()
                    ));
                }
            }
            match open() {
                Ok(f) => f,
                Err(e) => {
                    return JobEnd::NotStarted(format!(
                        "cannot open the log {}: {e}",
                        job.log.display()
                    ))
                }
            }
        }
    };
    let _ = std::io::Write::write_all(&mut &log, job.header.as_bytes());
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
    let port = if job.nodes > 1 {
        free_port().to_string()
    } else {
        "29500".to_string()
    };
    let mut children: Vec<Child> = Vec::new();
    let mut pids: Vec<u32> = Vec::new();
    for rank in 0..job.nodes.max(1) {
        let (out, err) = match (log.try_clone(), log.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return JobEnd::NotStarted("cannot share the log with the process".into()),
        };
        let mut cmd = Command::new(program);
        cmd.args(&job.argv[1..])
            .current_dir(&job.cwd)
            .envs(job.env.iter().map(|(k, v)| (k, v)))
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", job.nodes.max(1).to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        match cmd.spawn() {
            Ok(child) => {
                if let Some(id) = child.id() {
                    pids.push(id);
                }
                children.push(child);
            }
            Err(e) => {
                pids.iter().for_each(|p| kill_group(*p));
                return JobEnd::NotStarted(format!("cannot start `{program}`: {e}"));
            }
        }
    }
    if let Some(first) = pids.first() {
        started(*first);
    }
    let wait_all = async {
        let mut worst: Option<Option<i32>> = None;
        for c in children.iter_mut() {
            match c.wait().await {
                Ok(s) if s.success() => {}
                Ok(s) => {
                    worst.get_or_insert(s.code());
                    // One rank failing ends the job: do not wait for the others.
                    pids.iter().for_each(|p| kill_group(*p));
                }
                Err(_) => {
                    worst.get_or_insert(None);
                }
            }
        }
        worst
    };
    let timeout = async {
        match job.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let stopped = async {
        loop {
            if *stop.borrow() {
                return;
            }
            if stop.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let end = tokio::select! {
        worst = wait_all => match worst {
            None => JobEnd::Succeeded,
            Some(code) => JobEnd::Failed(code),
        },
        _ = timeout => JobEnd::TimedOut,
        _ = stopped => JobEnd::Stopped,
    };
    if matches!(end, JobEnd::TimedOut | JobEnd::Stopped) {
        pids.iter().for_each(|p| kill_group(*p));
        for c in children.iter_mut() {
            let _ = c.wait().await;
        }
    }
    end
}

/// The last `n` lines of a log, for failure messages.
pub fn log_tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
