//! The workflow definition as JSON: what `wf graph --format json` prints and what
//! `wf check` and `wf run` accept in place of a script.
//!
//! Objects are `{"$class": "wf.steps.JobStep", "at": "file:line:col", <keywords>...}`,
//! enumeration constants `{"$enum": "PlaceholderType.INT"}`, steps named where a step is
//! expected `{"$step": "train"}`. Reading goes through the same constructors and checks
//! as a script, so a definition is held to the same rules.

use std::sync::Arc;

use rhai::{Dynamic, Map};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::val::{EnumVal, Obj, Span, Val};
use super::workflow::{DepKind, Workflow};
use crate::bindings::catalog::{Catalog, EntryKind};
use crate::bindings::convert::construct;
use crate::script::diag::{Diagnostic, Sink};

pub const FORMAT: &str = "wf.definition/1";

/// The definition of a workflow, with a derived summary for readers.
pub fn to_json(w: &Workflow) -> Value {
    serde_json::to_value(Definition(w)).unwrap_or(Value::Null)
}

/// The definition of a workflow, serialised as it is written: a large workflow is never
/// held as a JSON tree.
pub struct Definition<'a>(pub &'a Workflow);

impl Serialize for Definition<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.0;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("format", FORMAT)?;
        m.serialize_entry("name", &w.name)?;
        m.serialize_entry("steps", &Steps(w))?;
        m.serialize_entry("dependencies", &Dependencies(w))?;
        m.serialize_entry(
            "parameters",
            &w.parameters.iter().map(|p| p.name()).collect::<Vec<_>>(),
        )?;
        m.serialize_entry(
            "storages",
            &w.storages.iter().map(|s| s.name()).collect::<Vec<_>>(),
        )?;
        m.serialize_entry("workflow", &JsonVal(&Val::Obj(w.obj.clone())))?;
        m.end()
    }
}

struct Steps<'a>(&'a Workflow);

impl Serialize for Steps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .steps
                .iter()
                .map(|step| StepEntry(step.name.as_str(), step.kind.as_str())),
        )
    }
}

struct StepEntry<'a>(&'a str, &'a str);

impl Serialize for StepEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.0)?;
        m.serialize_entry("type", self.1)?;
        m.end()
    }
}

struct Dependencies<'a>(&'a Workflow);

impl Serialize for Dependencies<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.steps.len()))?;
        for step in &self.0.steps {
            m.serialize_entry(&step.name, &DepList(&step.deps))?;
        }
        m.end()
    }
}

struct DepList<'a>(&'a [super::workflow::Dep]);

impl Serialize for DepList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(DepEntry))
    }
}

struct DepEntry<'a>(&'a super::workflow::Dep);

impl Serialize for DepEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("step", &d.on)?;
        match &d.kind {
            DepKind::Explicit => {}
            DepKind::Data(out) => m.serialize_entry("output", out)?,
            DepKind::Branch(b) => m.serialize_entry("branch", b)?,
        }
        m.end()
    }
}

/// A value as `val_to_json` writes it, without building it.
pub struct JsonVal<'a>(pub &'a Val);

impl Serialize for JsonVal<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Val::Float(_) => s.serialize_unit(),
            Val::Str(text) => s.serialize_str(text),
            Val::List(items) => s.collect_seq(items.iter().map(JsonVal)),
            Val::Map(map) => s.collect_map(map.iter().map(|(k, v)| (k, JsonVal(v)))),
            Val::Enum(e) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("$enum", &format!("{}.{}", e.ty.name, e.name))?;
                m.end()
            }
            Val::StepRef(n, _) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("$step", n.as_ref())?;
                m.end()
            }
            Val::Obj(o) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("$class", &o.spec.path())?;
                if o.at.is_known() {
                    m.serialize_entry("at", &o.at.to_string())?;
                }
                for (k, v) in &o.args {
                    m.serialize_entry(k, &JsonVal(v))?;
                }
                m.end()
            }
        }
    }
}

pub fn val_to_json(v: &Val) -> Value {
    serde_json::to_value(JsonVal(v)).unwrap_or(Value::Null)
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
