//! Reading a workflow definition (the JSON `wf graph --format json` writes, see
//! `crate::model::definition`) back into objects, through the same constructors and checks
//! as a script, so a definition is held to the same rules.

use std::sync::Arc;

use rhai::{Dynamic, Map};
use serde_json::Value;

use super::convert::{construct, plain};
use crate::catalog::{Catalog, EntryKind};
use crate::diag::{Diagnostic, Sink};
use crate::model::definition::{StepName, FORMAT};
use crate::model::val::{EnumVal, Obj, Span, Val};

/// A value written by `val_to_json` (a recorded parameter), read back.
pub fn value_from_json(v: &Value) -> Option<Val> {
    let sink = Sink::default();
    let here = Span::default();
    let d = read(v, &here, &sink, "value")?;
    if sink.error_count() > 0 {
        return None;
    }
    plain(&d).ok()
}

/// Reads a definition. Problems are diagnostics at `file` (or at the script position the
/// definition recorded).
pub fn from_json(text: &str, file: &Arc<str>) -> (Option<Arc<Obj>>, Vec<Diagnostic>) {
    let here = Span::new(file.clone(), 0, 0);
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                None,
                vec![Diagnostic::error(
                    Span::new(file.clone(), e.line() as u32, e.column() as u32),
                    format!("the definition is not valid JSON: {e}"),
                )],
            )
        }
    };
    let Some(top) = value.as_object() else {
        return (
            None,
            vec![Diagnostic::error(here, "a definition is a JSON object")],
        );
    };
    const KNOWN: [&str; 7] = [
        "format",
        "name",
        "steps",
        "dependencies",
        "parameters",
        "storages",
        "workflow",
    ];
    let mut diags = Vec::new();
    for k in top.keys() {
        if !KNOWN.contains(&k.as_str()) {
            diags.push(
                Diagnostic::error(
                    here.clone(),
                    format!("the definition has an unknown field `{k}`"),
                )
                .with_help(format!("its fields are: {}", KNOWN.join(", "))),
            );
        }
    }
    match top.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        other => diags.push(
            Diagnostic::error(
                here.clone(),
                format!(
                    "the definition's `format` is {}, not `{FORMAT}`",
                    other.map(|s| format!("`{s}`")).unwrap_or("missing".into())
                ),
            )
            .with_help("write definitions with `wf graph SCRIPT --format json`"),
        ),
    }
    let sink = Sink::default();
    let workflow = match top.get("workflow") {
        Some(w) => match read(w, &here, &sink, "workflow") {
            Some(d) => d
                .read_lock::<Arc<Obj>>()
                .map(|o| o.clone())
                .filter(|o| o.is("Workflow")),
            None => None,
        },
        None => None,
    };
    if workflow.is_none() && sink.error_count() == 0 {
        diags.push(Diagnostic::error(
            here,
            "the definition holds no `workflow` object of class `wf.Workflow`",
        ));
    }
    diags.extend(sink.take());
    (workflow, diags)
}

fn read(v: &Value, parent: &Span, sink: &Sink, path: &str) -> Option<Dynamic> {
    Some(match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(0.0).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(read(item, parent, sink, &format!("{path}[{i}]"))?);
            }
            Dynamic::from_array(out)
        }
        Value::Object(m) => {
            if let Some(e) = m.get("$enum") {
                let text = e.as_str().unwrap_or("");
                let found = text.split_once('.').and_then(|(ty, name)| {
                    let spec = Catalog::get().enumeration(ty)?;
                    let name = spec.values.iter().find(|v| **v == name)?;
                    Some(EnumVal { ty: spec, name })
                });
                return match found {
                    Some(ev) => Some(Dynamic::from(ev)),
                    None => {
                        sink.push(Diagnostic::error(
                            parent.clone(),
                            format!("`{path}`: unknown enumeration value `{text}`"),
                        ));
                        None
                    }
                };
            }
            if let Some(s) = m.get("$step") {
                return Some(Dynamic::from(StepName(
                    s.as_str().unwrap_or("").to_string(),
                )));
            }
            let Some(class) = m.get("$class") else {
                let mut map = Map::new();
                for (k, x) in m {
                    map.insert(
                        k.as_str().into(),
                        read(x, parent, sink, &format!("{path}.{k}"))?,
                    );
                }
                return Some(Dynamic::from_map(map));
            };
            let class = class.as_str().unwrap_or("");
            let short = class.rsplit('.').next().unwrap_or(class);
            let Some(spec) = Catalog::get()
                .class(short)
                .filter(|s| s.kind != EntryKind::Function)
            else {
                sink.push(Diagnostic::error(
                    parent.clone(),
                    format!("`{path}`: unknown class `{class}`"),
                ));
                return None;
            };
            let at = m
                .get("at")
                .and_then(Value::as_str)
                .and_then(Span::parse)
                .unwrap_or_else(|| parent.clone());
            let mut map = Map::new();
            for (k, x) in m {
                if k == "$class" || k == "at" {
                    continue;
                }
                map.insert(
                    k.as_str().into(),
                    read(x, &at, sink, &format!("{path}.{k}"))?,
                );
            }
            let args = if map.is_empty() {
                Vec::new()
            } else {
                vec![Dynamic::from_map(map)]
            };
            let obj = construct(spec, args, &at, sink);
            Dynamic::from(Arc::new(obj))
        }
    })
}
