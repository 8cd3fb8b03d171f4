//! `wf check`: evaluate, validate, summarise.

use std::path::PathBuf;

use clap::Args;

use crate::model::workflow::value_key;
use serde_json::json;

use super::{exit, stderr_color};
use crate::diag::render;
use crate::loader::LoadOptions;
use crate::loader::{load_and_check, Checked};
use crate::model::definition::val_to_json;
use crate::present::summary::{parameter_type, summary_text};
use crate::script::engine::Limits;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The script (.rhai) or definition (.json) to check
    #[arg(required_unless_present = "list_api")]
    pub script: Option<PathBuf>,
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Print every `wf.*` constructor with its keywords, every enumeration and method
    #[arg(long)]
    pub list_api: bool,
    /// Which workflow, when the script binds several (variable or workflow name)
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Sandbox limit on the operations a script may run
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_operations)]
    pub max_operations: u64,
}

pub fn run(args: CheckArgs) -> i32 {
    if args.list_api {
        out!("{}", super::api::list_api());
        return exit::OK;
    }
    let Some(path) = args.script else {
        return exit::USAGE;
    };
    let opts = LoadOptions {
        limits: Limits {
            max_operations: args.max_operations,
            ..Limits::default()
        },
        workflow: args.workflow,
        command: "wf check",
        dev: None,
    };
    let checked = load_and_check(&path, &opts);
    let errors = checked.errors();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&checked)).unwrap_or_default()
        );
    } else {
        err!(
            "{}",
            render(&checked.diags, &checked.sources, stderr_color())
        );
        if errors == 0 {
            if let Some(w) = &checked.workflow {
                out!("{}", summary_text(w));
            }
        }
    }
    if errors > 0 {
        if !args.json {
            errln!(
                "error: `{}` is not a valid workflow: {errors} error{}",
                path.display(),
                if errors == 1 { "" } else { "s" }
            );
        }
        exit::FAILED
    } else {
        exit::OK
    }
}

fn summary_json(c: &Checked) -> serde_json::Value {
    let errors = c.errors();
    let mut out = json!({
        "valid": errors == 0,
        "errors": errors,
        "diagnostics": c.diags,
    });
    if let Some(w) = &c.workflow {
        out["workflow"] = json!(w.name);
        out["desc"] = json!(w.desc);
        out["steps"] = w
            .steps
            .iter()
            .map(|s| json!({ "name": s.name, "type": s.kind, "depends_on": s.dep_names() }))
            .collect();
        out["parameters"] = w
            .parameters
            .iter()
            .map(|p| {
                json!({
                    "name": w.shown_key(&value_key(p)),
                    "kind": p.spec.path(),
                    "type": parameter_type(p),
                    "default": p.arg("default").map(val_to_json),
                    "delay": p.get("delay").and_then(|v| v.as_bool()).unwrap_or(false),
                    "required": p.get("required").and_then(|v| v.as_bool()).unwrap_or(true),
                    "description": p.str_arg("description"),
                })
            })
            .collect();
        out["storages"] = w
            .storages
            .iter()
            .map(|s| json!({ "name": s.name(), "kind": s.spec.path() }))
            .collect();
    }
    out
}
