//! `wf check`: evaluate, validate, summarise.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::model::workflow::value_key;
use serde_json::json;

use super::load::{load_and_check, Checked};
use super::{exit, stderr_color};
use crate::model::definition::val_to_json;
use crate::model::val::Val;
use crate::model::workflow::{DepKind, Workflow};
use crate::script::diag::render;
use crate::script::engine::{Limits, LoadOptions};

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

fn deps_text(w: &Workflow, i: usize) -> String {
    /// A step waiting for many shows the first few and how many more.
    const SHOWN: usize = 8;
    // One entry per step waited for, with what it hands over: `train (model_url)`.
    let mut parts: indexmap::IndexMap<&str, Vec<String>> = indexmap::IndexMap::new();
    for d in &w.steps[i].deps {
        let label = match &d.kind {
            DepKind::Explicit => None,
            DepKind::Data(out) => Some(out.clone()),
            DepKind::Branch(true) => Some("if true".to_string()),
            DepKind::Branch(false) => Some("if false".to_string()),
        };
        let labels = parts.entry(d.on.as_str()).or_default();
        if let Some(l) = label {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    let more = parts.len().saturating_sub(SHOWN);
    let mut text = parts
        .into_iter()
        .take(SHOWN)
        .map(|(n, labels)| {
            if labels.is_empty() {
                n.to_string()
            } else {
                format!("{n} ({})", labels.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// The readable summary: steps with kinds and dependencies, parameters, storages.
pub fn summary_text(w: &Workflow) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "workflow {}: {}", w.name, w.desc);
    let _ = writeln!(out, "\nsteps ({}):", w.steps.len());
    // Columns fit names up to a bound; a longer name pushes its own line only.
    let width = w
        .steps
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0)
        .min(64);
    let kind_width = w
        .steps
        .iter()
        .map(|s| s.kind.as_str().len())
        .max()
        .unwrap_or(0);
    for (i, s) in w.steps.iter().enumerate() {
        let deps = deps_text(w, i);
        let line = format!("  {:width$}  {:kind_width$}  after {deps}", s.name, s.kind);
        let line = if deps.is_empty() {
            line.trim_end().trim_end_matches("after").trim_end()
        } else {
            &line
        };
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "\nparameters ({}):", w.parameters.len());
    let pw = w
        .parameters
        .iter()
        .map(|p| w.shown_key(&value_key(p)).len())
        .max()
        .unwrap_or(0)
        .min(64);
    for p in &w.parameters {
        let name = w.shown_key(&value_key(p));
        let _ = writeln!(out, "  {name:pw$}  {}", parameter_line(p));
    }
    let _ = writeln!(out, "\nstorages ({}):", w.storages.len());
    for s in &w.storages {
        let _ = writeln!(out, "  {}  ({})", s.name(), s.spec.path());
    }
    out
}

fn parameter_line(p: &crate::model::val::Obj) -> String {
    let mut line = parameter_type(p);
    if let Some(d) = p.arg("default") {
        let _ = write!(line, "  default {}", show(d));
    } else if p.get("delay").and_then(|v| v.as_bool()) == Some(true) {
        line.push_str("  asked for when its step runs");
    } else if p.arg("required").and_then(Val::as_bool) == Some(false) {
        line.push_str("  optional");
    } else {
        line.push_str("  required");
    }
    if let Some(d) = p.str_arg("description") {
        let _ = write!(line, "  \"{d}\"");
    }
    line
}

/// `INT`, `ENUM [a, b]`, `LIST of int`, `dataset`, `OBS directory`, ...
pub fn parameter_type(p: &crate::model::val::Obj) -> String {
    match p.class() {
        "Placeholder" => {
            let ty = match p.arg("placeholder_type") {
                Some(Val::Enum(e)) => e.name.to_string(),
                _ => "?".into(),
            };
            match (ty.as_str(), p.str_arg("placeholder_format")) {
                ("LIST", Some(f)) => format!("LIST of {f}"),
                ("ENUM", _) => format!(
                    "ENUM [{}]",
                    p.arg("enum_list")
                        .map(Val::items)
                        .unwrap_or_default()
                        .iter()
                        .map(show)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (t, Some(f)) => format!("{t} ({f})"),
                (t, None) => t.to_string(),
            }
        }
        "DatasetPlaceholder" => "dataset".into(),
        "OBSPlaceholder" => format!("OBS {}", p.str_arg("object_type").unwrap_or("path")),
        "LabelTaskPlaceholder" => "labeling task".into(),
        "ServiceUpdatePlaceholder" => "service".into(),
        "SWRImagePlaceholder" => "image".into(),
        "ServiceInputPlaceholder" => "service models".into(),
        "DataSelector" => "dataset or OBS path".into(),
        other => other.into(),
    }
}

fn show(v: &Val) -> String {
    serde_json::to_string(&val_to_json(v)).unwrap_or_default()
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
