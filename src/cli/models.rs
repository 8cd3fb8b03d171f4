//! `wf models` and `wf model show|delete`: the local model registry (README, "Models and services").

use std::path::Path;

use clap::Subcommand;
use serde_json::Value;

use super::error::{Error, Result};
use super::records::open;
use crate::models;
use crate::store::home_dir;

/// `NAME` or `NAME@VERSION`.
fn split(text: &str) -> (&str, Option<&str>) {
    match text.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    }
}

#[derive(clap::Args, Debug)]
pub struct ModelsArgs {
    /// Print a JSON array, one object a model version
    #[arg(long)]
    pub json: bool,
}

pub fn list(home: Option<&Path>, a: ModelsArgs) -> Result {
    if super::no_records(home) {
        errln!("no models yet; a ModelStep registers one");
        return Ok(());
    }
    let store = open(home)?;
    let all = models::list(&store, None).map_err(Error::failed)?;
    if a.json {
        let v: Vec<Value> = all.iter().map(|m| m.to_json()).collect();
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    if all.is_empty() {
        errln!("no models yet; a ModelStep registers one");
        return Ok(());
    }
    outln!("{:<28} {:<9} {:<14} REGISTERED", "NAME", "VERSION", "TYPE");
    for m in all {
        outln!(
            "{:<28} {:<9} {:<14} {}",
            m.name,
            m.version,
            m.model_type,
            m.created_at
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// One model version (the latest without @VERSION): its configuration and files
    #[command(
        after_help = "Examples:\n  wf model show points-clf\n  wf model show points-clf@0.0.2 --json"
    )]
    Show {
        /// NAME or NAME@VERSION
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a model version and its files (refused while a service serves it)
    Delete {
        /// NAME@VERSION
        model: String,
    },
}

pub fn model(home: Option<&Path>, c: ModelCommand) -> Result {
    if super::no_records(home) {
        return Err(Error::failed(format!(
            "no models in this home (`{}`) yet; a ModelStep registers one",
            home_dir(home).display()
        )));
    }
    let store = open(home)?;
    match c {
        ModelCommand::Show { model, json } => {
            let (name, version) = split(&model);
            let m = models::get(&store, name, version).map_err(Error::failed)?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&m.to_json()).unwrap_or_default()
                );
                return Ok(());
            }
            outln!("{}@{} ({})", m.name, m.version, m.model_type);
            if !m.runtime.is_empty() {
                outln!("runtime:    {}", m.runtime);
            }
            outln!("files:      {}", m.path.display());
            outln!("from:       {}", m.source);
            outln!("registered: {}", m.created_at);
            if let Some(c) = m.config.as_object().filter(|c| !c.is_empty()) {
                outln!("config:");
                for (k, v) in c {
                    outln!("  {k} = {v}");
                }
            }
            Ok(())
        }
        ModelCommand::Delete { model } => {
            let (name, Some(version)) = split(&model) else {
                return Err(Error::usage("give the version to delete: NAME@VERSION"));
            };
            let m = models::delete(&store, name, version).map_err(Error::failed)?;
            errln!("deleted model {}@{}", m.name, m.version);
            Ok(())
        }
    }
}
