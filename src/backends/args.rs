//! Reading a step's arguments while planning, shared by the backends: lists of objects,
//! properties as text (placeholders given their values), booleans.

use std::sync::Arc;

use crate::exec::backend::PlanCtx;
use crate::model::val::{Obj, Val};

/// The objects of an argument that is one object or a list of them.
pub fn objs(v: Option<&Val>) -> Vec<Arc<Obj>> {
    v.map(Val::items)
        .unwrap_or_default()
        .iter()
        .filter_map(Val::as_obj)
        .cloned()
        .collect()
}

/// A property as text (a placeholder's value, an enum's name); `None` when not given.
pub fn text(ctx: &PlanCtx, o: &Obj, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Val::Null) => Ok(None),
        Some(v) => {
            let t = ctx.values.text(&v).map_err(|e| format!("`{key}`: {e}"))?;
            Ok((!t.is_empty()).then_some(t))
        }
    }
}

/// A boolean property (`true`/`false`, or their text), its table default when not given.
pub fn flag(ctx: &PlanCtx, o: &Obj, key: &str, default: bool) -> Result<bool, String> {
    match text(ctx, o, key)? {
        None => Ok(default),
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("`{key}` is `{t}`, not true or false")),
        },
    }
}
