//! `wf compare`: executions side by side.

use std::path::Path;

use clap::Args;
use serde_json::{json, Value};

use super::error::Result;
use super::records::{no_records, open_records};
use crate::present::term::{duration, short_time, truncate};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Two or more executions (unique id prefixes, or `latest`)
    #[arg(required = true, num_args = 2..)]
    pub executions: Vec<String>,
    /// The comparison as JSON: one object per execution
    #[arg(long)]
    pub json: bool,
}

/// `wf compare`: executions side by side, their parameters and every metric (reference §3.3).
pub fn compare(home: Option<&Path>, a: CompareArgs) -> Result {
    let store = open_records(home)?
        .ok_or_else(|| no_records(home, a.executions.first().map_or("", String::as_str)))?;
    let mut cols: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut records = Vec::new();
    for given in &a.executions {
        let id = store.resolve_id(given)?;
        let e = store.execution(&id)?;
        let mut rows: Vec<(String, String)> = vec![
            ("workflow".into(), e.workflow.clone()),
            ("status".into(), e.status.to_string()),
            ("started".into(), short_time(&e.created_at)[5..].to_string()),
            (
                "duration".into(),
                duration(&e.created_at, e.ended_at.as_deref()),
            ),
        ];
        if let Some(x) = &e.experiment {
            rows.push(("experiment".into(), x.clone()));
        }
        if let Some(m) = e.parameters.as_object() {
            for (k, v) in m {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                rows.push((format!("param {k}"), text));
            }
        }
        let steps = store.steps(&id)?;
        let mut metrics = serde_json::Map::new();
        for st in &steps {
            if let Some(m) = st.metrics.as_ref().and_then(Value::as_object) {
                for (k, v) in m {
                    let text = v
                        .as_f64()
                        .map(|x| format!("{x:.4}"))
                        .unwrap_or_else(|| v.to_string());
                    rows.push((format!("{}.{k}", st.name), text));
                    metrics.insert(format!("{}.{k}", st.name), v.clone());
                }
            }
        }
        for (k, _) in &rows {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        // The JSON keeps values as they were recorded: numbers stay numbers, unrounded.
        records.push(json!({
            "execution_id": id,
            "workflow": e.workflow,
            "status": e.status,
            "created_at": e.created_at,
            "ended_at": e.ended_at,
            "experiment_id": e.experiment,
            "parameters": e.parameters,
            "metrics": metrics,
        }));
        cols.push((id, rows));
    }
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&records).unwrap_or_default()
        );
        return Ok(());
    }
    let key_w = keys.iter().map(|k| k.len()).max().unwrap_or(8).clamp(8, 28);
    let col_w = cols
        .iter()
        .map(|(id, rows)| {
            rows.iter()
                .map(|(_, v)| v.len())
                .max()
                .unwrap_or(0)
                .max(id.len())
        })
        .max()
        .unwrap_or(12)
        .clamp(8, 20);
    let differs = |k: &str| {
        let vals: Vec<&str> = cols
            .iter()
            .map(|(_, rows)| {
                rows.iter()
                    .find(|(rk, _)| rk == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("-")
            })
            .collect();
        vals.windows(2).any(|w| w[0] != w[1]) && !matches!(k, "started" | "duration")
    };
    // Keep within 80 columns: as many executions per block as fit.
    let per_block = ((80 - key_w - 2) / (col_w + 2)).max(1);
    for block in cols.chunks(per_block) {
        let mut line = format!("{:key_w$}", "");
        for (id, _) in block {
            line.push_str(&format!("  {:>col_w$}", truncate(id, col_w)));
        }
        outln!("{}", line.trim_end());
        for k in &keys {
            let mut line = format!("{:key_w$}", truncate(k, key_w));
            for (_, rows) in block {
                let v = rows
                    .iter()
                    .find(|(rk, _)| rk == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("-");
                line.push_str(&format!("  {:>col_w$}", truncate(v, col_w)));
            }
            // Mark rows that differ between executions.
            outln!("{}{}", line.trim_end(), if differs(k) { "  *" } else { "" });
        }
        outln!();
    }
    if keys.iter().any(|k| differs(k)) {
        outln!("* differs between executions");
    } else {
        outln!("no differences");
    }
    Ok(())
}
