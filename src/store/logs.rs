//! Where a step's log is kept, and reading its end.

use std::path::{Path, PathBuf};

use super::Store;

/// The log of step `step` of execution `exec` in the home `home`: `HOME/logs/EXEC/STEP.log`.
pub fn log_path(home: &Path, exec: &str, step: &str) -> PathBuf {
    home.join("logs").join(exec).join(format!("{step}.log"))
}

impl Store {
    /// The log of step `step` of execution `exec` in this home.
    pub fn log_path(&self, exec: &str, step: &str) -> PathBuf {
        log_path(&self.home, exec, step)
    }
}

/// The last `n` lines of a log, for failure messages; empty when it cannot be read.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_log_lies_in_its_execution_folder() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let p = s.log_path("e1", "train");
        assert_eq!(p, s.logs_dir("e1").join("train.log"));
        assert_eq!(p, dir.path().join("logs/e1/train.log"));
    }

    #[test]
    fn the_tail_is_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a\nb\nc\nd\n").unwrap();
        assert_eq!(log_tail(&p, 2), "c\nd");
        assert_eq!(log_tail(&p, 9), "a\nb\nc\nd");
        assert_eq!(log_tail(&dir.path().join("none.log"), 3), "");
    }
}
