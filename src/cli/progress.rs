//! What a run shows while it goes, on stderr (stdout stays for `--json`): on a terminal a
//! live line per running or awaiting step with its elapsed time, finished steps printed
//! above; otherwise one plain line per event.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exec::events::{Event, Listener};
use crate::model::status::{ExecStatus, Status};

pub struct Progress {
    start: Instant,
    quiet: bool,
    /// Say which execution of which workflow a runner takes up.
    announce: bool,
    color: bool,
    live: Option<Live>,
}

struct Live {
    mp: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new(quiet: bool, announce: bool) -> Progress {
        let live = (!quiet
            && std::io::stderr().is_terminal()
            && std::env::var_os("WF_PLAIN_PROGRESS").is_none())
        .then(|| Live {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        });
        Progress {
            start: Instant::now(),
            quiet,
            announce,
            color: super::stderr_color(),
            live,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line(&self, name: &str, status: Status, reason: Option<&str>) -> String {
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
        line
    }

    fn print(&self, text: &str) {
        match &self.live {
            Some(l) => {
                let _ = l.mp.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    pub fn step(&self, name: &str, status: Status, reason: Option<&str>) {
        if self.quiet {
            return;
        }
        let Some(live) = &self.live else {
            self.print(&self.line(name, status, reason));
            return;
        };
        let mut bars = live.bars.lock().unwrap_or_else(|p| p.into_inner());
        match status {
            Status::Running | Status::AwaitingInput => {
                let bar = bars.entry(name.to_string()).or_insert_with(|| {
                    let b = live.mp.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{spinner:.cyan} {elapsed:>5} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                });
                bar.set_message(format!(
                    "{name}  {}{}",
                    status.as_str(),
                    reason.map(|r| format!("  {r}")).unwrap_or_default()
                ));
            }
            Status::Waiting => {}
            _ => {
                if let Some(b) = bars.remove(name) {
                    b.finish_and_clear();
                    live.mp.remove(&b);
                }
                drop(bars);
                self.print(&self.line(name, status, reason));
            }
        }
    }

    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.print(&format!(
                "{:>7.2}s  {text}",
                self.start.elapsed().as_secs_f64()
            ));
        }
    }

    pub fn finish(&self, exec: &str, outcome: ExecStatus) {
        if self.quiet {
            return;
        }
        if let Some(live) = &self.live {
            let mut bars = live.bars.lock().unwrap_or_else(|p| p.into_inner());
            for (_, b) in bars.drain() {
                b.finish_and_clear();
            }
            let _ = live.mp.clear();
        }
        let _ = writeln!(
            std::io::stderr(),
            "execution {exec} {outcome} in {:.2}s",
            self.start.elapsed().as_secs_f64()
        );
    }
}

impl Listener for Progress {
    fn on_event(&self, event: &Event) {
        match event {
            Event::Started { exec_id, workflow } => {
                if self.announce {
                    let _ = writeln!(
                        std::io::stderr(),
                        "execution {exec_id} of workflow `{workflow}`"
                    );
                }
            }
            Event::Step {
                step,
                status,
                reason,
                ..
            } => self.step(step, *status, reason.as_deref()),
            Event::Execution {
                exec_id, status, ..
            } => {
                if *status != ExecStatus::Running {
                    self.finish(exec_id, *status);
                }
            }
            Event::Note { text, .. } => self.note(text),
        }
    }
}
