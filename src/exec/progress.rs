//! What a run shows while it goes: one line per event on stderr (stdout stays for `--json`).

use std::io::Write;
use std::time::Instant;

use super::decide::Status;

pub struct Progress {
    start: Instant,
    quiet: bool,
    color: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            start: Instant::now(),
            quiet,
            color: crate::cli::stderr_color(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn step(&self, name: &str, status: Status, reason: Option<&str>) {
        if self.quiet {
            return;
        }
        let code = match status {
            Status::Executed => "32",
            Status::Failed | Status::Stopped => "31",
            Status::Skipped => "2",
            Status::AwaitingInput => "33",
            _ => "36",
        };
        let t = self.start.elapsed().as_secs_f64();
        let mut line = format!(
            "{:>7.2}s  {:<24} {}",
            t,
            name,
            self.paint(code, status.as_str())
        );
        if let Some(r) = reason {
            let first = r.lines().next().unwrap_or("");
            line.push_str(&format!("  {first}"));
            for more in r.lines().skip(1) {
                line.push_str(&format!("\n{:>9}  {more}", ""));
            }
        }
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "{:>7.2}s  {text}",
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    pub fn finish(&self, exec: &str, outcome: &str) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "execution {exec} {} in {:.2}s",
                outcome,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}
