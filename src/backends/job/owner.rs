//! A local job's owner: a small `wf job-owner` process, in a session of its own, that starts
//! the job's ranks, waits for them and keeps how they ended in the home. It outlives the
//! runner that started it, so a runner killed with `kill -9` loses nothing: `wf resume`
//! re-attaches to a live owner and waits for it, or takes the outcome of a job that ended
//! while nobody watched, and never starts the job twice.
//!
//! Files, under `HOME/jobs/EXEC/STEP/`:
//! - `lock`: held (flock) by the live owner for its whole life. The runner takes it before
//!   it starts an owner and hands it over as the owner's fd 3, so there is no moment in
//!   which a job runs unlocked; a runner that finds it held knows a job of the step is live.
//! - `current`: the attempt the live (or last) owner runs.
//! - `N/spec.json` what attempt N runs, `N/owner.pid`, `N/groups.json` its ranks' process
//!   groups, `N/end.json` how it ended (written last, atomically).
//!
//! Before it starts the ranks, the owner makes the home's stored data read-only for them:
//! the dataset and model folders are bound read-only in a private mount namespace (as root,
//! or in a user namespace of its own otherwise); where the system refuses that, each input
//! that lies in those folders is copied into the attempt's folder and the job is given the
//! copy. A job can therefore never change a stored sample, whatever its user.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use super::process::OWNER_VAR;
use super::process::{self, is_alive, Group, JobEnd, JobRun};

/// How long a stopped owner has to stop its ranks before it is killed with them.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What an owner runs, as the runner wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub nodes: u32,
    pub header: String,
    /// Folders of the home the job must not write through (the stored datasets, models).
    pub read_only: Vec<PathBuf>,
}

/// How an owned job ended, as kept in `end.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
enum End {
    Succeeded,
    Failed { code: Option<i32> },
    Stopped,
    NotStarted { why: String },
}

impl From<&JobEnd> for End {
    fn from(e: &JobEnd) -> End {
        match e {
            JobEnd::Succeeded => End::Succeeded,
            JobEnd::Failed(code) => End::Failed { code: *code },
            JobEnd::Stopped => End::Stopped,
            JobEnd::NotStarted(why) => End::NotStarted { why: why.clone() },
        }
    }
}

impl From<End> for JobEnd {
    fn from(e: End) -> JobEnd {
        match e {
            End::Succeeded => JobEnd::Succeeded,
            End::Failed { code } => JobEnd::Failed(code),
            End::Stopped => JobEnd::Stopped,
            End::NotStarted { why } => JobEnd::NotStarted(why),
        }
    }
}

/// The `wf` program that can be an owner: this one, when it is `wf` (a test or benchmark
/// binary that embeds the engine runs its jobs in process instead), or `$WF_EXE`.
pub fn owner_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WF_EXE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let name = exe.file_name()?.to_str()?;
    if name == "wf" {
        return Some(exe);
    }
    // A long-lived `wf serve` whose binary was rebuilt or upgraded meanwhile: the program
    // now at its path is the one to start.
    if name == "wf (deleted)" {
        let now = exe.with_file_name("wf");
        return now.is_file().then_some(now);
    }
    None
}

/// The folder of a step's owned jobs, absolute (it is recorded, and compared with the
/// owner's command line).
pub fn step_dir(home: &Path, exec: &str, step: &str) -> PathBuf {
    let dir = crate::store::job_dir(home, exec, step);
    std::path::absolute(&dir).unwrap_or(dir)
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", p.display())
}

/// Writes `bytes` to `path` whole or not at all. Not flushed to the disk: these files
/// outlive a killed process, and a machine that loses power loses its jobs with them (the
/// records then run the step again).
use crate::store::private_write as write_atomic;

fn read_end(dir: &Path) -> Option<JobEnd> {
    let text = std::fs::read_to_string(dir.join("end.json")).ok()?;
    serde_json::from_str::<End>(&text).ok().map(JobEnd::from)
}

/// The recorded ranks of an attempt.
pub fn groups(attempt_dir: &Path) -> Vec<Group> {
    std::fs::read_to_string(attempt_dir.join("groups.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn open_lock(step_dir: &Path) -> Result<File, String> {
    crate::store::private_dir(step_dir)
        .map_err(|e| io_err("create the job folder", step_dir, e))?;
    let path = step_dir.join("lock");
    crate::store::private_file(&path, false).map_err(|e| io_err("open", &path, e))
}

fn current(step_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(step_dir.join("current"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

/// The live owner's pid, checked: the step's lock is held, and the process named in the
/// attempt's `owner.pid` is a `wf job-owner` of that very folder.
fn live_owner_pid(step_dir: &Path, attempt_dir: &Path) -> Option<i32> {
    if !is_alive(step_dir) {
        return None;
    }
    let pid: i32 = std::fs::read_to_string(attempt_dir.join("owner.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 1)?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let dir = attempt_dir.as_os_str().as_encoded_bytes();
    let ours = args.contains(&b"job-owner".as_slice()) && args.contains(&dir);
    ours.then_some(pid)
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: a signal to a process checked to be this step's owner.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Ends what an owned attempt runs (`wf stop` with no live runner, or a runner giving up on
/// an owner that does not stop): the owner is told to stop, its ranks are killed.
/// Waits for the owner, when it stops in time; otherwise it is killed with its ranks.
pub fn stop_attempt(step_dir: &Path, attempt: u32) {
    let dir = step_dir.join(attempt.to_string());
    if let Some(pid) = live_owner_pid(step_dir, &dir) {
        signal(pid, libc::SIGTERM);
        let until = std::time::Instant::now() + STOP_GRACE;
        while is_alive(step_dir) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        if is_alive(step_dir) {
            signal(pid, libc::SIGKILL);
        }
    }
    process::kill_groups(&groups(&dir));
}

/// The detail a step's record keeps of an owned attempt.
fn detail(step_dir: &Path, attempt: u32, pid: Option<u32>) -> Value {
    json!({ "owner": { "dir": step_dir.to_string_lossy(), "attempt": attempt, "pid": pid } })
}

/// The attempt an owned job's detail names, and its folder.
pub fn recorded(detail: &serde_json::Map<String, Value>) -> Option<(PathBuf, u32)> {
    let o = detail.get("owner")?;
    let dir = PathBuf::from(o.get("dir")?.as_str()?);
    let attempt = u32::try_from(o.get("attempt")?.as_u64()?).ok()?;
    Some((dir, attempt))
}

/// What the runner needs to run one attempt through an owner.
pub struct Owned<'a> {
    pub program: &'a Path,
    pub step_dir: PathBuf,
    pub attempt: u32,
    /// The attempt a dead runner's record names, when the step was recorded running.
    pub recorded: Option<u32>,
    /// The attempt the records say ended (failed or stopped) before this one: an owner of
    /// it still alive is finishing a stop, and is waited for, never taken up.
    pub ended: Option<u32>,
    pub read_only: Vec<PathBuf>,
}

/// Runs (or re-attaches to) the step's job through its owner; `started` gets the detail
/// to record as soon as the owner is there, and `say` what the person watching should know.
pub async fn run(
    o: Owned<'_>,
    job: &JobRun,
    header: &str,
    cancel: &CancellationToken,
    started: impl FnOnce(Value),
    say: impl Fn(String),
) -> JobEnd {
    let lock = match open_lock(&o.step_dir) {
        Ok(f) => f,
        Err(e) => return JobEnd::NotStarted(e),
    };
    // The newest attempt this runner may take up: the one a dead runner's record names (or a
    // later one it started and could not record), or this very attempt.
    let floor = o.recorded.unwrap_or(o.attempt);
    let mut waited = false;
    loop {
        match lock.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => {
                let k = current(&o.step_dir);
                match k {
                    Some(k) if o.ended != Some(k) => {
                        drop(lock);
                        let line = format!("re-attached to the job of attempt {k}, still running");
                        append_log(&job.log, &line);
                        say(line);
                        started(detail(&o.step_dir, k, None));
                        return attached(&o.step_dir, k, cancel).await;
                    }
                    // An attempt the records say ended (a stop still finishing): wait for
                    // its owner, then start this one.
                    _ if !waited => {
                        waited = true;
                        let until = tokio::time::Instant::now() + STOP_GRACE * 2;
                        while is_alive(&o.step_dir) && tokio::time::Instant::now() < until {
                            if cancel.is_cancelled() {
                                return JobEnd::Stopped;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    _ => {
                        return JobEnd::NotStarted(format!(
                            "an earlier job of this step still runs (its owner holds {})",
                            o.step_dir.join("lock").display()
                        ))
                    }
                }
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return JobEnd::NotStarted(io_err("lock", &o.step_dir.join("lock"), e))
            }
            Ok(()) => break,
        }
    }
    // No owner lives. An attempt that ended while no runner watched is taken up, never
    // run again: the newest of those this runner may take (a stop is not an outcome: a
    // stopped job runs again).
    let mut candidates: Vec<u32> = vec![o.attempt];
    candidates.extend(o.recorded);
    if o.recorded.is_some() {
        candidates.extend(current(&o.step_dir).filter(|k| *k >= floor));
    }
    candidates.sort_unstable();
    candidates.dedup();
    for k in candidates.into_iter().rev() {
        let dir = o.step_dir.join(k.to_string());
        match read_end(&dir) {
            Some(JobEnd::Stopped) | None => continue,
            Some(end) => {
                let line =
                    format!("took the outcome of attempt {k}, which ended while no runner watched");
                append_log(&job.log, &line);
                say(line);
                started(detail(&o.step_dir, k, None));
                return end;
            }
        }
    }
    start(o, lock, job, header, cancel, started).await
}

fn append_log(path: &Path, line: &str) {
    if let Ok(mut f) = crate::store::private_file(path, true) {
        let _ = writeln!(f, "{line}");
    }
}

async fn start(
    o: Owned<'_>,
    lock: File,
    job: &JobRun,
    header: &str,
    cancel: &CancellationToken,
    started: impl FnOnce(Value),
) -> JobEnd {
    let dir = o.step_dir.join(o.attempt.to_string());
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let spec = Spec {
        cwd: abs(&job.cwd),
        argv: job.argv.clone(),
        env: job.env.clone(),
        log: abs(&job.log),
        nodes: job.nodes,
        header: header.to_string(),
        read_only: o.read_only.iter().map(|p| abs(p)).collect(),
    };
    let prepared = (|| -> std::io::Result<()> {
        if dir.exists() {
            // A folder of an attempt that never started (its runner died first), or whose
            // owner was killed before it could record an end: what it left is ended first.
            process::kill_groups(&groups(&dir));
            std::fs::remove_dir_all(&dir)?;
        }
        crate::store::private_dir(&dir)?;
        let text = serde_json::to_vec(&spec).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("spec.json"), &text)?;
        write_atomic(
            &o.step_dir.join("current"),
            o.attempt.to_string().as_bytes(),
        )
    })();
    if let Err(e) = prepared {
        return JobEnd::NotStarted(io_err("prepare the job folder", &dir, e));
    }
    let mut cmd = tokio::process::Command::new(o.program);
    cmd.arg("job-owner")
        .arg("--dir")
        .arg(abs(&dir))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false);
    {
        use std::os::fd::AsRawFd;
        let fd = lock.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls: a session of its own
        // (Ctrl-C and a closed terminal reach the runner, not the job), and the held lock
        // as fd 3 (dup2 clears close-on-exec on the copy).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // dup2 onto itself would keep close-on-exec: clear it instead.
                let ok = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if ok < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return JobEnd::NotStarted(format!(
                "cannot start the job's owner `{} job-owner`: {e}",
                o.program.display()
            ))
        }
    };
    // The owner holds the lock now; this process lets go of it.
    drop(lock);
    let pid = child.id();
    started(detail(&o.step_dir, o.attempt, pid));
    let exited = tokio::select! {
        r = child.wait() => Some(r),
        _ = cancel.cancelled() => None,
    };
    if exited.is_none() {
        if let Some(pid) = pid {
            signal(pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            if let Some(pid) = pid {
                signal(pid as i32, libc::SIGKILL);
            }
            process::kill_groups(&groups(&dir));
            let _ = child.wait().await;
            return JobEnd::Stopped;
        }
    }
    match read_end(&dir) {
        Some(end) => end,
        None if cancel.is_cancelled() => JobEnd::Stopped,
        None => {
            process::kill_groups(&groups(&dir));
            JobEnd::NotStarted(format!(
                "the job's owner process ended without recording how the job ended ({})",
                match exited {
                    Some(Ok(s)) => s.to_string(),
                    Some(Err(e)) => e.to_string(),
                    None => "stopped".into(),
                }
            ))
        }
    }
}

/// Follows an owner this runner did not start, to its end.
async fn attached(step_dir: &Path, k: u32, cancel: &CancellationToken) -> JobEnd {
    let dir = step_dir.join(k.to_string());
    let mut every = Duration::from_millis(20);
    let mut asked_to_stop = false;
    loop {
        if !is_alive(step_dir) {
            break;
        }
        if cancel.is_cancelled() && !asked_to_stop {
            asked_to_stop = true;
            if let Some(pid) = live_owner_pid(step_dir, &dir) {
                signal(pid, libc::SIGTERM);
            }
            let watched = step_dir.to_path_buf();
            let gone = tokio::time::timeout(STOP_GRACE, async move {
                while is_alive(&watched) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await;
            if gone.is_err() {
                stop_attempt(step_dir, k);
                return JobEnd::Stopped;
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled(), if !asked_to_stop => {}
        }
        every = (every * 2).min(Duration::from_millis(500));
    }
    match read_end(&dir) {
        Some(end) => end,
        None if asked_to_stop => JobEnd::Stopped,
        None => {
            process::kill_groups(&groups(&dir));
            JobEnd::NotStarted(format!(
                "the owner of attempt {k} ended without recording how its job ended"
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The owner process.

/// `wf job-owner --dir DIR`: runs the attempt whose spec is in `DIR`, keeps its end there.
pub fn owner_main(dir: &Path) -> i32 {
    // The lock the runner handed over; its ranks must not inherit it.
    // SAFETY: fcntl on a descriptor this process owns.
    // It has no terminal (a session of its own), so Ctrl-C and hang-ups never reach it.
    unsafe {
        libc::fcntl(3, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let end = match owned(dir) {
        Ok(end) => end,
        Err(why) => JobEnd::NotStarted(why),
    };
    let text = serde_json::to_vec(&End::from(&end)).unwrap_or_default();
    match write_atomic(&dir.join("end.json"), &text) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!(
                "wf job-owner: cannot record the job's end in {}: {e}",
                dir.display()
            );
            1
        }
    }
}

fn owned(dir: &Path) -> Result<JobEnd, String> {
    let spec_path = dir.join("spec.json");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| io_err("read", &spec_path, e))?;
    let mut spec: Spec = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a job spec: {e}", spec_path.display()))?;
    write_atomic(
        &dir.join("owner.pid"),
        std::process::id().to_string().as_bytes(),
    )
    .map_err(|e| io_err("write", &dir.join("owner.pid"), e))?;
    let how = protect(dir, &mut spec)?;
    if let Some(note) = how {
        append_log(&spec.log, &note);
    }
    spec.env
        .push((OWNER_VAR.into(), dir.to_string_lossy().into_owned()));
    let job = JobRun {
        cwd: spec.cwd,
        argv: spec.argv,
        env: spec.env,
        log: spec.log,
        nodes: spec.nodes,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the job's owner: {e}"))?;
    let groups_path = dir.join("groups.json");
    Ok(rt.block_on(async {
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::spawn(async move {
                term.recv().await;
                c.cancel();
            });
        }
        let end = process::run(&job, &spec.header, &cancel, |groups| {
            if let Ok(text) = serde_json::to_vec(groups) {
                let _ = write_atomic(&groups_path, &text);
            }
        })
        .await;
        // Private copies of inputs are the job's alone: gone with it.
        let _ = std::fs::remove_dir_all(dir.join("inputs"));
        end
    }))
}

/// How stored data is kept out of a job's reach: `mount` (read-only in the job's mount
/// namespace), `copy` (inputs copied), or `none` (nothing to protect). `$WF_JOB_DATA=copy`
/// asks for copies (to measure them).
pub fn protection_wanted() -> &'static str {
    match std::env::var("WF_JOB_DATA").as_deref() {
        Ok("copy") => "copy",
        _ => "mount",
    }
}

/// Makes the spec's read-only folders unwritable for the job; returns a line for the log
/// when it had to fall back to copies.
fn protect(dir: &Path, spec: &mut Spec) -> Result<Option<String>, String> {
    let folders: Vec<PathBuf> = spec
        .read_only
        .iter()
        .filter(|p| p.is_dir())
        .cloned()
        .collect();
    if folders.is_empty() {
        return Ok(None);
    }
    let why = if protection_wanted() == "mount" {
        match bind_read_only(&folders) {
            Ok(()) => return Ok(None),
            Err(e) => e,
        }
    } else {
        "copies were asked for".to_string()
    };
    let copied = copy_inputs(dir, spec, &folders)?;
    Ok((copied > 0).then(|| format!("(the job's dataset inputs are private copies: {why})")))
}

/// Binds each folder read-only onto itself in a mount namespace of this process's own.
fn bind_read_only(folders: &[PathBuf]) -> Result<(), String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: plain system calls on this single-threaded process, before any thread starts.
    unsafe {
        let uid = libc::geteuid();
        let gid = libc::getegid();
        if uid == 0 {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(os("no private mount namespace"));
            }
        } else {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                return Err(os("no private user and mount namespace"));
            }
            let map = |file: &str, text: String| {
                std::fs::write(format!("/proc/self/{file}"), text)
                    .map_err(|e| format!("cannot write /proc/self/{file}: {e}"))
            };
            map("setgroups", "deny".into())?;
            map("uid_map", format!("{uid} {uid} 1"))?;
            map("gid_map", format!("{gid} {gid} 1"))?;
        }
        let root = CString::new("/").unwrap_or_default();
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(os("cannot make the mounts private"));
        }
        for f in folders {
            let c = CString::new(f.as_os_str().as_bytes())
                .map_err(|_| format!("{} holds a NUL", f.display()))?;
            if libc::mount(
                c.as_ptr(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return Err(os(&format!("cannot bind {}", f.display())));
            }
            if libc::mount(
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            ) != 0
            {
                return Err(os(&format!("cannot make {} read-only", f.display())));
            }
        }
    }
    Ok(())
}

/// Copies each input that lies in a protected folder into `DIR/inputs/`, and points the
/// job's arguments and variables at the copy. Returns how many were copied.
fn copy_inputs(dir: &Path, spec: &mut Spec, folders: &[PathBuf]) -> Result<usize, String> {
    let inputs: Vec<(String, PathBuf)> = spec
        .env
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("WF_INPUT_")?;
            let p = PathBuf::from(v);
            folders
                .iter()
                .any(|f| p.starts_with(f))
                .then(|| (name.to_string(), p))
        })
        .collect();
    for (name, src) in &inputs {
        let dst = dir.join("inputs").join(name);
        if dst.exists() {
            std::fs::remove_dir_all(&dst).map_err(|e| io_err("clear", &dst, e))?;
        }
        copy_tree(src, &dst)?;
        let (from, to) = (
            src.to_string_lossy().into_owned(),
            dst.to_string_lossy().into_owned(),
        );
        for a in spec.argv.iter_mut() {
            if *a == from {
                *a = to.clone();
            } else if let Some((flag, value)) = a.split_once('=') {
                if value == from && flag.starts_with("--") {
                    *a = format!("{flag}={to}");
                }
            }
        }
        for (_, v) in spec.env.iter_mut() {
            if *v == from {
                *v = to.clone();
            }
        }
    }
    Ok(inputs.len())
}

/// Copies a file or folder (never following a link out of it).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(src).map_err(|e| io_err("read", src, e))?;
    if meta.is_dir() {
        crate::store::private_dir(dst).map_err(|e| io_err("create", dst, e))?;
        for e in std::fs::read_dir(src).map_err(|e| io_err("read", src, e))? {
            let e = e.map_err(|e| io_err("read", src, e))?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else if meta.is_file() {
        std::fs::copy(src, dst)
            .map(|_| ())
            .map_err(|e| io_err("copy", src, e))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o600));
        Ok(())
    } else {
        Ok(())
    }
}
