//! What `workflow.next()` reports, as data: the REPL prints its text, the kernel also draws
//! it as a table.

use serde_json::Value;

use crate::exec::engine::DebugRun;
use crate::exec::metrics::short_number;
use crate::exec::scheduler::NextReport;
use crate::model::status::Status;

use super::{set_line, LocalDev};

/// One `next()`: what ran, what was skipped, what is missing, what comes next.
#[derive(Debug, Clone, Default)]
pub struct NextView {
    pub execution: String,
    pub skipped: Vec<(String, String)>,
    pub needs: Option<Needs>,
    pub ran: Option<Ran>,
    /// The execution's status once it has ended.
    pub finished: Option<String>,
    pub next: Vec<String>,
}

/// A phase that cannot run for want of values, and the lines that give them.
#[derive(Debug, Clone)]
pub struct Needs {
    pub step: String,
    /// The values, as the workflow names them.
    pub missing: Vec<String>,
    /// One line to type per value.
    pub lines: Vec<String>,
}

/// The phase that ran and what it left.
#[derive(Debug, Clone)]
pub struct Ran {
    pub step: String,
    pub status: String,
    pub seconds: f64,
    pub result: Option<String>,
    /// Output name and path.
    pub outputs: Vec<(String, String)>,
    /// Metric name and value, shortened for a table.
    pub metrics: Vec<(String, String)>,
    /// What to do before the phase can go on (a step awaiting input).
    pub awaits: Option<String>,
    pub error: Option<String>,
    /// The last lines of its log.
    pub log: Vec<String>,
}

impl NextView {
    pub fn new(r: &NextReport, run: &DebugRun) -> NextView {
        let exec = run.exec_id();
        let mut view = NextView {
            execution: exec.to_string(),
            skipped: r.skipped.clone(),
            finished: r.finished.map(|f| f.to_string()),
            next: r.next.clone(),
            ..NextView::default()
        };
        if let Some((step, missing)) = &r.needs {
            let w = run.workflow();
            view.needs = Some(Needs {
                step: step.clone(),
                missing: missing.iter().map(|k| w.shown_key(k)).collect(),
                lines: missing
                    .iter()
                    .map(|key| {
                        let p = LocalDev::placeholder(&w.obj, key);
                        let name = p.as_ref().map_or(key.as_str(), |p| p.name());
                        set_line(name, p.as_deref())
                    })
                    .collect(),
            });
            return view;
        }
        if let Some((name, status, took)) = &r.ran {
            let mut ran = Ran {
                step: name.clone(),
                status: status.as_str().to_string(),
                seconds: took.as_secs_f64(),
                result: None,
                outputs: Vec::new(),
                metrics: Vec::new(),
                awaits: None,
                error: None,
                log: Vec::new(),
            };
            let rows = run.store().steps(exec).unwrap_or_default();
            if let Some(row) = rows.iter().find(|x| &x.name == name) {
                ran.result = row.result().map(|r| r.to_string());
                if let Some(o) = row.outputs.as_ref().and_then(Value::as_object) {
                    for (k, v) in o {
                        if let Some(p) = v.get("path").and_then(Value::as_str) {
                            ran.outputs.push((k.clone(), p.to_string()));
                        }
                    }
                }
                if let Some(m) = row.metrics.as_ref().and_then(Value::as_object) {
                    ran.metrics = m
                        .iter()
                        .map(|(k, v)| (k.clone(), short_number(v)))
                        .collect();
                }
                if *status == Status::AwaitingInput {
                    if let Some(why) = &row.reason {
                        // What to do first; then `next()` tries the phase again.
                        let what = why.split(", then `wf proceed").next().unwrap_or(why);
                        ran.awaits = Some(format!("{what}, then workflow.next()"));
                    }
                }
                if *status == Status::Failed {
                    ran.error = row
                        .error
                        .as_ref()
                        .map(|e| e.lines().next().unwrap_or("").to_string());
                }
                let log = run.store().log_path(exec, name);
                let tail = crate::store::logs::log_tail(&log, 3);
                ran.log = tail
                    .lines()
                    .filter(|l| !l.starts_with("== "))
                    .map(str::to_string)
                    .collect();
            }
            view.ran = Some(ran);
        }
        view
    }

    /// The report as the REPL prints it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (name, why) in &self.skipped {
            out.push_str(&format!("  {name}: skipped: {why}\n"));
        }
        if let Some(n) = &self.needs {
            out.push_str(&format!(
                "  {} cannot run yet: it needs {}. Set {}:\n",
                n.step,
                n.missing.join(", "),
                if n.missing.len() == 1 { "it" } else { "them" }
            ));
            for line in &n.lines {
                out.push_str(&format!("    {line}\n"));
            }
            return out;
        }
        if let Some(r) = &self.ran {
            out.push_str(&format!(
                "  {}: {} in {:.2}s\n",
                r.step, r.status, r.seconds
            ));
            if let Some(res) = &r.result {
                out.push_str(&format!("    result   {res}\n"));
            }
            for (k, p) in &r.outputs {
                out.push_str(&format!("    output   {k} = {p}\n"));
            }
            if !r.metrics.is_empty() {
                let ms: Vec<String> = r.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("    metrics  {}\n", ms.join(" ")));
            }
            if let Some(a) = &r.awaits {
                out.push_str(&format!("    awaits   {a}\n"));
            }
            if let Some(e) = &r.error {
                out.push_str(&format!("    error    {e}\n"));
            }
            for l in &r.log {
                out.push_str(&format!("    log      {l}\n"));
            }
        } else if self.finished.is_none() && self.skipped.is_empty() {
            out.push_str("  nothing can run now\n");
        }
        match &self.finished {
            Some(f) => out.push_str(&format!(
                "  the debug execution {} has ended: {f}\n",
                self.execution
            )),
            None if !self.next.is_empty() => {
                out.push_str(&format!("  next: {}\n", self.next.join(", ")))
            }
            None => {}
        }
        out
    }
}
