//! One runner per execution: an exclusive `flock` on `locks/EXEC.lock` in the home, which
//! the OS releases when its holder dies, so a killed runner never blocks a resume.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{ExecError, Result};
use crate::store::{private_dir, private_file};

/// Held while a process drives an execution.
pub struct Lock(#[allow(dead_code)] std::fs::File);

fn path(home: &Path, exec: &str) -> PathBuf {
    home.join("locks").join(format!("{exec}.lock"))
}

/// Takes the lock of `exec`, or says which process holds it.
pub fn lock(home: &Path, exec: &str) -> Result<Lock> {
    let dir = home.join("locks");
    private_dir(&dir)
        .map_err(|e| ExecError::System(format!("cannot create {}: {e}", dir.display())))?;
    let path = path(home, exec);
    let mut f = private_file(&path, false)
        .map_err(|e| ExecError::System(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        return Err(ExecError::Busy {
            exec: exec.to_string(),
            pid,
        });
    }
    let _ = f.set_len(0);
    let _ = write!(f, "{}", std::process::id());
    Ok(Lock(f))
}

/// Whether some process holds the lock of `exec` (its runner is alive).
pub fn is_held(home: &Path, exec: &str) -> bool {
    let Ok(f) = std::fs::File::open(path(home, exec)) else {
        return false;
    };
    // SAFETY: as above; a lock we get is released again at once.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        false
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "e1").unwrap();
        assert!(is_held(dir.path(), "e1"));
        let err = lock(dir.path(), "e1").err().expect("refused");
        assert!(matches!(err, ExecError::Busy { pid: Some(_), .. }), "{err}");
        drop(first);
        assert!(!is_held(dir.path(), "e1"));
        assert!(lock(dir.path(), "e1").is_ok());
    }
}
