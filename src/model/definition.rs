//! The workflow definition as JSON: what `wf graph --format json` prints and what
//! `wf check` and `wf run` accept in place of a script.
//!
//! Objects are `{"$class": "wf.steps.JobStep", "at": "file:line:col", <keywords>...}`,
//! enumeration constants `{"$enum": "PlaceholderType.INT"}`, steps named where a step is
//! expected `{"$step": "train"}`. Reading one back (`crate::bindings::json`) goes through
//! the same constructors and checks as a script, so a definition is held to the same rules.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use super::val::Val;
use super::workflow::{DepKind, Workflow};

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

/// A step named in a definition where a step object is expected.
#[derive(Debug, Clone)]
pub struct StepName(pub String);

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

pub use crate::bindings::json::{from_json, value_from_json};
