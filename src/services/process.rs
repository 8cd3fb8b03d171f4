//! The processes of a service, known by who they are rather than by a number: a recorded pid
//! is trusted only when the process behind it started when it was recorded (and carries the
//! service's name in its environment), a supervisor is the process that holds its service's
//! lock, and a model process is stopped with its whole process group (SIGTERM, then SIGKILL
//! after a grace period).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a model process (and every process of its group) has to end after SIGTERM
/// before it is killed.
pub const GRACE: Duration = Duration::from_secs(5);

use crate::store::procs::START_SLACK_MS;

use crate::store::procs::stat_fields;
pub use crate::store::procs::{now_ms, started_ms};

/// Whether `pid` is a live process (a zombie nobody reaped is not).
pub fn alive(pid: u32) -> bool {
    pid != 0
        && stat_fields(pid)
            .and_then(|f| f.first().cloned())
            .is_some_and(|state| state != "Z" && state != "X")
}

/// Whether the environment `pid` started with holds `WF_SERVICE_NAME=service`.
fn carries(pid: u32, service: &str) -> bool {
    let mark = format!("WF_SERVICE_NAME={service}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .any(|kv| kv == mark.as_bytes())
}

/// Whether the live process `pid` is the model process of `service` recorded as started at
/// `started` (milliseconds since the epoch; `None` for a record made before starts were
/// kept, where the environment alone decides).
pub fn is_model(pid: u32, started: Option<u64>, service: &str) -> bool {
    if !alive(pid) || !carries(pid, service) {
        return false;
    }
    match (started, started_ms(pid)) {
        (Some(then), Some(now)) => now.abs_diff(then) <= START_SLACK_MS,
        (None, Some(_)) => true,
        (_, None) => false,
    }
}

/// The live processes (zombies aside) whose process group is `pgid`, the leader included.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| {
                f.first().is_some_and(|s| s != "Z" && s != "X")
                    && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
            })
        })
        .collect()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal; a process that is gone gives ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Sends `sig` to the process group `pgid`. Only for a group whose leader is this process's
/// child and not yet reaped: its pid (and so the group's id) cannot have been reused.
pub fn signal_group(pgid: u32, sig: i32) {
    if pgid > 1 {
        // SAFETY: killpg only sends a signal, to a group whose id is still held (above).
        unsafe {
            libc::killpg(pgid as libc::pid_t, sig);
        }
    }
}

/// Stops what is left of a model process that this process did not start (a supervisor
/// that died left it): the recorded process if it is still that process, and every process
/// of its group that carries the service's name. SIGTERM first; what still runs after
/// `grace` is killed. A pid that now names another process is left alone.
pub fn stop_leftover(pid: u32, started: Option<u64>, service: &str, grace: Duration) {
    if pid <= 1 {
        return;
    }
    // A group's id stays taken while any process is in the group, so the members of group
    // `pid` that carry the service's name are what the model process left.
    let ours = |p: u32| {
        if p == pid {
            is_model(p, started, service)
        } else {
            carries(p, service)
        }
    };
    let targets = || -> Vec<u32> {
        let mut t: Vec<u32> = group_members(pid)
            .into_iter()
            .filter(|p| ours(*p))
            .collect();
        if !t.contains(&pid) && is_model(pid, started, service) {
            t.push(pid);
        }
        t
    };
    let first = targets();
    if first.is_empty() {
        return;
    }
    for p in &first {
        signal(*p, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        let left = targets();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for p in left {
                signal(p, libc::SIGKILL);
            }
            // SIGKILL cannot be ignored; wait a little for the ports to be freed.
            let until = Instant::now() + Duration::from_secs(2);
            while !targets().is_empty() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this process's child `pid` has exited, without reaping it (its pid stays taken,
/// so its group can still be signalled safely).
pub fn exited(pid: u32) -> bool {
    // SAFETY: waitid with WNOWAIT only reads the child's state into `info`.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor's lock

/// The lock a service's supervisor holds for its whole life: whoever holds it is the
/// service's one supervisor. A POSIX record lock, so that others can ask the kernel who
/// holds it without taking it, and so that it ends with the process, whatever kills it.
pub fn lock_path(home: &Path, service: &str) -> std::path::PathBuf {
    super::service_dir(home, service).join("supervisor.lock")
}

fn whole_file(kind: i32) -> libc::flock {
    // SAFETY: a plain C struct; zero is a valid value of every field.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

/// Takes the supervisor's lock: `Ok(None)` when another process holds it. Keep the file
/// open as long as the lock is to be held (and open the lock file nowhere else in this
/// process: closing any descriptor of it releases a POSIX lock).
pub fn take_lock(home: &Path, service: &str) -> std::io::Result<Option<File>> {
    let dir = super::service_dir(home, service);
    crate::store::private_dir(&dir)?;
    let file = crate::store::private_file(&lock_path(home, service), false)?;
    let fl = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own, with a valid flock struct.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) };
    if r == 0 {
        use std::io::Write;
        let _ = file.set_len(0);
        let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
        return Ok(Some(file));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
        _ => Err(e),
    }
}

/// The pid of the process holding `service`'s supervisor lock (asked of the kernel, so a
/// pid recorded before a reboot or a kill is never mistaken for it); `None` when no
/// supervisor runs.
pub fn lock_holder(home: &Path, service: &str) -> Option<u32> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(lock_path(home, service))
        .ok()?;
    let mut fl = whole_file(libc::F_WRLCK);
    // SAFETY: fcntl on a descriptor we own, with a valid flock struct to fill.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r != 0 || fl.l_type == libc::F_UNLCK as libc::c_short || fl.l_pid <= 0 {
        return None;
    }
    Some(fl.l_pid as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_started_elsewhere_is_not_a_model_of_the_service() {
        let mut sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = sleep.id();
        let started = started_ms(pid);
        assert!(started.is_some_and(|s| s.abs_diff(now_ms()) < 5_000));
        // Not carrying the service's name, it is not the service's, whatever its start.
        assert!(!is_model(pid, started, "svc"));
        stop_leftover(pid, started, "svc", Duration::from_millis(100));
        assert!(
            alive(pid),
            "a process that is not the service's was stopped"
        );
        sleep.kill().unwrap();
        sleep.wait().unwrap();
    }

    #[test]
    fn a_model_process_recorded_earlier_than_it_started_is_another_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("WF_SERVICE_NAME", "svc")
            .spawn()
            .unwrap();
        let pid = child.id();
        // Until its exec, a child shows its parent's environment.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while !std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = started_ms(pid).unwrap();
        assert!(is_model(pid, Some(started), "svc"));
        assert!(is_model(pid, None, "svc"));
        assert!(!is_model(pid, Some(started - 60_000), "svc"));
        assert!(!is_model(pid, Some(started), "other"));
        stop_leftover(
            pid,
            Some(started - 60_000),
            "svc",
            Duration::from_millis(100),
        );
        assert!(alive(pid), "a reused pid was stopped");
        stop_leftover(pid, Some(started), "svc", Duration::from_millis(100));
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn the_lock_names_its_holder_and_is_taken_once() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(lock_holder(home.path(), "svc"), None);
        drop(take_lock(home.path(), "svc").unwrap().expect("a free lock"));
        // Another process takes it (POSIX locks never conflict within one process).
        let path = lock_path(home.path(), "svc");
        let mut holder = std::process::Command::new("python3")
            .arg("-c")
            .arg("import fcntl, sys, time\nf = open(sys.argv[1], 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held");
        assert_eq!(lock_holder(home.path(), "svc"), Some(holder.id()));
        assert!(take_lock(home.path(), "svc").unwrap().is_none());
        holder.kill().unwrap();
        holder.wait().unwrap();
        // It ends with its holder, however that ends.
        assert_eq!(lock_holder(home.path(), "svc"), None);
        assert!(take_lock(home.path(), "svc").unwrap().is_some());
    }
}
