//! An input's value, typed, so a front-end can show more than text: the kernel draws a
//! workflow's DAG, a step's keywords and an execution record's steps as HTML.

use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::catalog::is_step;
use crate::model::val::Obj;

#[derive(Debug, Clone)]
pub enum Shown {
    Workflow(Arc<Obj>),
    /// A step object (`JobStep`, `ConditionStep`, ...).
    Step(Arc<Obj>),
    /// An execution record, as `workflow.run(...)` returns it and `wf show --json` prints it.
    Record(Value),
    /// Anything else: its text is all there is.
    Plain,
}

impl Shown {
    pub fn of(v: &Dynamic) -> Shown {
        if let Some(o) = v.read_lock::<Arc<Obj>>() {
            if o.is("Workflow") {
                return Shown::Workflow(o.clone());
            }
            if is_step(o.spec.name) {
                return Shown::Step(o.clone());
            }
            return Shown::Plain;
        }
        if v.is_map() {
            let json = to_json(v);
            let is_record = json.as_object().is_some_and(|m| {
                m.contains_key("execution_id")
                    && m.contains_key("status")
                    && m.get("steps").is_some_and(Value::is_array)
            });
            if is_record {
                return Shown::Record(json);
            }
        }
        Shown::Plain
    }
}

/// A script's value as JSON (maps, arrays, strings, numbers, booleans; other values as text).
pub fn to_json(v: &Dynamic) -> Value {
    if v.is_unit() {
        Value::Null
    } else if let Ok(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = v.as_int() {
        Value::from(i)
    } else if let Ok(f) = v.as_float() {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    } else if v.is_string() {
        Value::String(v.to_string())
    } else if let Some(a) = v.read_lock::<rhai::Array>() {
        Value::Array(a.iter().map(to_json).collect())
    } else if let Some(m) = v.read_lock::<rhai::Map>() {
        Value::Object(m.iter().map(|(k, x)| (k.to_string(), to_json(x))).collect())
    } else {
        Value::String(v.to_string())
    }
}
