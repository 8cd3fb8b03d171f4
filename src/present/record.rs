//! Records as a person reads them: the executions table, one execution with its steps (`wf
//! show`, the REPL's `:status`), a recorded parameter, and why a step has no log.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::term::{duration, short_time, table, truncate};
use crate::exec::metrics::metrics_line;
use crate::model::kind::StepKind;
use crate::model::status::{ExecStatus, Status};
use crate::store::{ExecutionRow, StepRow, Store};

/// What an execution recorded as running is shown as when its runner is gone.
pub const INTERRUPTED: &str = "interrupted";

/// An execution recorded as running whose runner is gone is shown as interrupted.
pub fn shown_status(home: &Path, id: &str, status: ExecStatus) -> &'static str {
    if status == ExecStatus::Running && !crate::exec::lock::is_held(home, id) {
        INTERRUPTED
    } else {
        status.as_str()
    }
}

/// Why a step has no log, as one sentence: `step `x` has no log: it has not run: it is
/// waiting`.
pub fn no_log(step: &StepRow) -> String {
    let why = match step.status {
        Status::Waiting | Status::AwaitingInput | Status::Skipped => {
            format!("it has not run: it is {}", step.status)
        }
        _ if step.kind == StepKind::Job => "it was never written".to_string(),
        _ => format!("{} steps write none", step.kind),
    };
    format!("step `{}` has no log: {why}", step.name)
}

/// A recorded parameter as a person reads it: a data object as its natural text (an OBS path,
/// `dataset@version`, `dataset/task`), anything else as JSON.
pub fn parameter_text(v: &Value) -> String {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    match v.get("$class").and_then(Value::as_str) {
        Some("wf.data.OBSPath") => field("obs_path").to_string(),
        Some("wf.data.Dataset") => match field("version_name") {
            "" => field("dataset_name").to_string(),
            version => format!("{}@{version}", field("dataset_name")),
        },
        Some("wf.data.LabelTask") => format!("{}/{}", field("dataset_name"), field("task_name")),
        Some("wf.data.ServiceData") => field("service_id").to_string(),
        Some("wf.data.SWRImage") => field("swr_path").to_string(),
        Some(class) => class.to_string(),
        None => v.to_string(),
    }
}

/// The executions table of `wf executions`: its lines and how many of its executions are
/// interrupted.
pub fn executions_table(home: &Path, rows: Vec<ExecutionRow>) -> (Vec<String>, usize) {
    let mut cells = vec![vec![
        "EXECUTION".to_string(),
        "WORKFLOW".into(),
        "STATUS".into(),
        "STARTED".into(),
        "DURATION".into(),
    ]];
    let mut interrupted = 0;
    for r in rows {
        let status = shown_status(home, &r.id, r.status);
        interrupted += usize::from(status == INTERRUPTED);
        cells.push(vec![
            r.id,
            truncate(&r.workflow, 32),
            status.to_string(),
            short_time(&r.created_at),
            duration(&r.created_at, r.ended_at.as_deref()),
        ]);
    }
    (table("", &cells, &[4]).0, interrupted)
}

/// An execution's steps, short (the REPL's `:status`): its heading and a row per step.
pub fn steps_text(store: &Store, id: &str) -> String {
    let mut out = String::new();
    let Ok(steps) = store.steps(id) else {
        return out;
    };
    if let Ok(e) = store.execution(id) {
        let _ = writeln!(
            out,
            "execution {}  workflow {}  {}",
            e.id, e.workflow, e.status
        );
    }
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let detail = s
                .result()
                .map(|r| format!("result {r}"))
                .or(s.reason.clone())
                .unwrap_or_default();
            vec![
                s.name.clone(),
                s.kind.as_str().to_string(),
                s.status.as_str().to_string(),
                detail.lines().next().unwrap_or("").to_string(),
            ]
        })
        .collect();
    for line in table("  ", &rows, &[]).0 {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// One execution as `wf show` prints it: its heading, why it ended, when, its parameters and
/// reused outputs, then a row per step with the rest of a failed step's error below it.
pub fn execution_text(home: &Path, e: &ExecutionRow, steps: &[StepRow]) -> String {
    let mut out = String::new();
    let status = shown_status(home, &e.id, e.status);
    let _ = writeln!(
        out,
        "execution {}  workflow {}  {}",
        e.id, e.workflow, status
    );
    if status == INTERRUPTED {
        let _ = writeln!(
            out,
            "  its runner died before it ended: `wf resume {}` carries it on",
            e.id
        );
    }
    if let Some(r) = &e.reason {
        let _ = writeln!(out, "  {r}");
    }
    let _ = writeln!(
        out,
        "  started {}  duration {}",
        short_time(&e.created_at),
        duration(&e.created_at, e.ended_at.as_deref())
    );
    if let Some(x) = &e.experiment {
        let _ = writeln!(out, "  experiment {x}");
    }
    if let Some(m) = e.parameters.as_object().filter(|m| !m.is_empty()) {
        let ps: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{k}={}", parameter_text(v)))
            .collect();
        let _ = writeln!(out, "  parameters {}", ps.join(" "));
    }
    if let Some(m) = e.reused.as_object().filter(|m| !m.is_empty()) {
        for (k, v) in m {
            let _ = writeln!(
                out,
                "  outputs of `{k}` reused from execution {}",
                v.as_str().unwrap_or("")
            );
        }
    }
    out.push('\n');
    let mut cells = vec![vec![
        "STEP".to_string(),
        "TYPE".into(),
        "STATUS".into(),
        "DURATION".into(),
        "DETAIL".into(),
    ]];
    // The lines after a step's row: the rest of its error (the log's end).
    let mut more: Vec<Vec<String>> = vec![Vec::new()];
    for s in steps {
        let mut detail = s.reason.clone().unwrap_or_default();
        if let Some(r) = s.result() {
            detail = format!("result {r}");
        }
        if let Some(ms) = metrics_line(s.metrics.as_ref()) {
            detail = format!("{detail} {ms}").trim().to_string();
        }
        if let Some(pool) = s.detail.get("pool").and_then(Value::as_str) {
            let job = s.detail.get("remote_id").and_then(Value::as_str);
            let job = job.map(|j| format!(", job {j}")).unwrap_or_default();
            detail = format!("{detail} (pool {pool}{job})").trim().to_string();
        }
        if s.attempt > 1 {
            detail = format!("{detail} (attempt {})", s.attempt)
                .trim()
                .to_string();
        }
        let dur = match &s.started_at {
            Some(st) => duration(st, s.ended_at.as_deref()),
            None => "-".into(),
        };
        cells.push(vec![
            s.name.clone(),
            s.kind.as_str().to_string(),
            s.status.as_str().to_string(),
            dur,
            detail.lines().next().unwrap_or("").to_string(),
        ]);
        // The error's first line is the detail above; the rest (the log's end) follows.
        more.push(
            s.error
                .iter()
                .flat_map(|err| err.lines().skip(1))
                .map(str::to_string)
                .collect(),
        );
    }
    let (lines, widths) = table("  ", &cells, &[3]);
    let name_w = widths.first().copied().unwrap_or(4);
    for (line, after) in lines.iter().zip(&more) {
        let _ = writeln!(out, "{line}");
        for l in after {
            let _ = writeln!(out, "  {}    {l}", " ".repeat(name_w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: StepKind, status: Status) -> StepRow {
        StepRow {
            name: "s".into(),
            kind,
            status,
            reason: None,
            attempt: 1,
            started_at: None,
            ended_at: None,
            inputs: None,
            outputs: None,
            metrics: None,
            error: None,
            detail: Default::default(),
        }
    }

    #[test]
    fn no_log_says_why() {
        assert_eq!(
            no_log(&step(StepKind::Job, Status::Waiting)),
            "step `s` has no log: it has not run: it is waiting"
        );
        assert_eq!(
            no_log(&step(StepKind::Job, Status::Failed)),
            "step `s` has no log: it was never written"
        );
        assert_eq!(
            no_log(&step(StepKind::Condition, Status::Executed)),
            "step `s` has no log: condition steps write none"
        );
    }

    #[test]
    fn data_parameters_read_as_their_text() {
        let ds = serde_json::json!({"$class": "wf.data.Dataset", "dataset_name": "d", "version_name": "v1"});
        assert_eq!(parameter_text(&ds), "d@v1");
        let obs = serde_json::json!({"$class": "wf.data.OBSPath", "obs_path": "obs://b/x"});
        assert_eq!(parameter_text(&obs), "obs://b/x");
        assert_eq!(parameter_text(&serde_json::json!(0.5)), "0.5");
    }
}
