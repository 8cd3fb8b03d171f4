//! A workflow as a person reads it: its steps with kinds and what they wait for, its
//! parameters with their types and defaults, its storages (`wf check`, the REPL's `:graph`
//! and `:params`, the kernel's tables).

use std::fmt::Write as _;

use crate::model::definition::val_to_json;
use crate::model::val::Val;
use crate::model::workflow::{value_key, DepKind, Workflow};

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
