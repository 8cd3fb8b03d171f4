//! The workflow definition as JSON: what `wf graph --format json` prints and what
//! `wf check` and `wf run` accept in place of a script.
//!
//! Objects are `{"$class": "wf.steps.JobStep", "at": "file:line:col", <keywords>...}`,
//! enumeration constants `{"$enum": "PlaceholderType.INT"}`, steps named where a step is
//! expected `{"$step": "train"}`. Reading goes through the same constructors and checks
//! as a script, so a definition is held to the same rules.

use std::sync::Arc;

use rhai::{Dynamic, Map};
use serde_json::{json, Value};

use super::val::{EnumVal, Obj, Span, Val};
use super::workflow::{DepKind, Workflow};
use crate::bindings::catalog::{Catalog, EntryKind};
use crate::bindings::convert::construct;
use crate::script::diag::{Diagnostic, Sink};

pub const FORMAT: &str = "wf.definition/1";

/// The definition of a workflow, with a derived summary for readers.
pub fn to_json(w: &Workflow) -> Value {
    let deps: serde_json::Map<String, Value> = w
        .steps
        .iter()
        .map(|s| {
            let list: Vec<Value> = s
                .deps
                .iter()
                .map(|d| match &d.kind {
                    DepKind::Explicit => json!({ "step": d.on }),
                    DepKind::Data(out) => json!({ "step": d.on, "output": out }),
                    DepKind::Branch(b) => json!({ "step": d.on, "branch": b }),
                })
                .collect();
            (s.name.clone(), Value::Array(list))
        })
        .collect();
    json!({
        "format": FORMAT,
        "name": w.name,
        "steps": w.steps.iter().map(|s| json!({ "name": s.name, "type": s.kind.as_str() })).collect::<Vec<_>>(),
        "dependencies": deps,
        "parameters": w.parameters.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "storages": w.storages.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "workflow": val_to_json(&Val::Obj(w.obj.clone())),
    })
}

pub fn val_to_json(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => json!(b),
        Val::Int(i) => json!(i),
        Val::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Val::Str(s) => json!(s.as_ref()),
        Val::List(items) => Value::Array(items.iter().map(val_to_json).collect()),
        Val::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), val_to_json(v))).collect()),
        Val::Enum(e) => json!({ "$enum": format!("{}.{}", e.ty.name, e.name) }),
        Val::StepRef(n, _) => json!({ "$step": n.as_ref() }),
        Val::Obj(o) => {
            let mut m = serde_json::Map::new();
            m.insert("$class".into(), json!(o.spec.path()));
            if o.at.is_known() {
                m.insert("at".into(), json!(o.at.to_string()));
            }
            for (k, v) in &o.args {
                m.insert((*k).into(), val_to_json(v));
            }
            Value::Object(m)
        }
    }
}

/// A value written by `val_to_json` (a recorded parameter), read back.
pub fn value_from_json(v: &Value) -> Option<Val> {
    let sink = Sink::default();
    let here = Span::default();
    let d = read(v, &here, &sink, "value")?;
    if sink.error_count() > 0 {
        return None;
    }
    crate::bindings::convert::plain(&d).ok()
}

/// A step named in a definition where a step object is expected.
#[derive(Debug, Clone)]
pub struct StepName(pub String);

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
/// How deep a JSON value may nest: records and definitions must read it back (the JSON
/// reader stops at 128 levels).
pub const MAX_JSON_DEPTH: usize = 64;

/// How deep `v` nests (a scalar is 0).
pub fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}
