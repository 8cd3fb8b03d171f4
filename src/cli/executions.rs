//! `wf executions`: the executions, newest first.

use std::path::Path;

use clap::Args;
use serde_json::Value;

use super::error::{Error, Result};
use super::records::open_records;
use crate::model::status::ExecStatus;
use crate::present::record::executions_table;

#[derive(Args, Debug)]
pub struct ExecutionsArgs {
    /// Only executions of this workflow
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only executions with this status (running, awaiting_input, executed, failed, stopped)
    #[arg(long)]
    pub status: Option<String>,
    /// Only executions of this experiment
    #[arg(long)]
    pub experiment: Option<String>,
    /// An array of execution records, newest first
    #[arg(long)]
    pub json: bool,
}

pub fn executions(home: Option<&Path>, a: ExecutionsArgs) -> Result {
    let status = a
        .status
        .as_deref()
        .map(ExecStatus::parse)
        .transpose()
        .map_err(|_| {
            let all: Vec<&str> = ExecStatus::ALL.iter().map(|s| s.as_str()).collect();
            Error::usage(format!(
                "--status {}: a status is one of {}",
                a.status.as_deref().unwrap_or(""),
                all.join(", ")
            ))
        })?;
    let Some(store) = open_records(home)? else {
        if a.json {
            outln!("[]");
        } else {
            errln!("no executions yet: `wf run SCRIPT` starts one");
        }
        return Ok(());
    };
    let rows = store.list(a.workflow.as_deref(), status, a.experiment.as_deref())?;
    if a.json {
        let records: Vec<Value> = rows
            .iter()
            .filter_map(|r| store.record(&r.id).ok())
            .map(|r| r.to_json())
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&records).unwrap_or_default()
        );
        return Ok(());
    }
    if rows.is_empty() {
        errln!("no executions yet: `wf run SCRIPT` starts one");
        return Ok(());
    }
    let (lines, interrupted) = executions_table(&store.home, rows);
    for l in lines {
        outln!("{l}");
    }
    if interrupted > 0 {
        errln!("interrupted: its runner died before it ended; `wf resume EXEC` carries it on");
    }
    Ok(())
}
