//! A definition's objects: their classes, a walk over them, their positions, the
//! algorithms they name.

use serde_json::{Map, Value};

/// The short class name of a definition object (`wf.steps.JobStep` → `JobStep`).
pub(super) fn class(m: &Map<String, Value>) -> Option<&str> {
    let c = m.get("$class")?.as_str()?;
    Some(c.rsplit('.').next().unwrap_or(c))
}

/// Calls `f` on every object of a definition, children first.
pub(super) fn each_object(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                each_object(x, f);
            }
            f(m);
        }
        Value::Array(a) => {
            for x in a {
                each_object(x, f);
            }
        }
        _ => {}
    }
}

/// Calls `f` on every object of a definition that has a position (`at`), with that position.
/// Only objects have positions: a plain map may hold a key `at` of its own.
pub(super) fn each_position(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>, String)) {
    each_object(v, &mut |m| {
        let at = m
            .get("at")
            .and_then(Value::as_str)
            .filter(|_| m.contains_key("$class"))
            .map(str::to_string);
        if let Some(at) = at {
            f(m, at);
        }
    });
}

/// The file of an `at` position (`file:line:col`), and the rest.
pub(super) fn split_at(at: &str) -> Option<(&str, &str)> {
    let (rest, _col) = at.rsplit_once(':')?;
    let (file, _line) = rest.rsplit_once(':')?;
    Some((file, &at[file.len()..]))
}

/// The ids of the registered algorithms a definition names.
pub(super) fn algorithm_ids(def: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut def = def.clone();
    each_object(&mut def, &mut |m| {
        let key = match class(m) {
            Some("Algorithm") => "algorithm_id",
            Some("AIGalleryAlgorithm") => "subscription_id",
            _ => return,
        };
        if let Some(id) = m.get(key).and_then(Value::as_str) {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    });
    ids
}
