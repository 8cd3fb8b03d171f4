//! `wf show`: one execution, its steps with status, duration and why.

use std::path::Path;

use clap::Args;

use super::error::Result;
use super::records::{no_records, open_records};
use crate::present::record::execution_text;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The execution (a unique prefix of its id, or `latest`)
    pub execution: String,
    /// The execution record as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn show(home: Option<&Path>, a: ShowArgs) -> Result {
    let store = open_records(home)?.ok_or_else(|| no_records(home, &a.execution))?;
    let id = store.resolve_id(&a.execution)?;
    let record = store.record(&id)?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&record).unwrap_or_default()
        );
        return Ok(());
    }
    let e = store.execution(&id)?;
    let steps = store.steps(&id)?;
    out!("{}", execution_text(&store.home, &e, &steps));
    Ok(())
}
