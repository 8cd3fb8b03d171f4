//! Arguments from a script, checked against the catalog and turned into values.
//!
//! A constructor takes one keyword map, positional arguments in the table's order, or
//! positional arguments followed by one map of the remaining keywords. Mistakes are
//! collected as diagnostics and the object is still built from what was valid, so one
//! run of a script reports every mistake in it.

use std::sync::Arc;

use indexmap::IndexMap;
use rhai::{Dynamic, Map};

use super::values::{EnumNs, Invalid, Ns, OutputRef};
pub use crate::catalog::describe::{consumption_kind, describe_ty, label_of};
use crate::catalog::{Catalog, ClassSpec, Ty};
use crate::diag::{did_you_mean, Diagnostic, Sink};
use crate::model::val::{EnumVal, Obj, Span, Val};

/// Builds an object of `spec` from call arguments.
pub fn construct(spec: &'static ClassSpec, mut args: Vec<Dynamic>, at: &Span, sink: &Sink) -> Obj {
    let label = LazyLabel(spec);
    let mut bound: IndexMap<&'static str, Dynamic> = IndexMap::new();

    // A trailing map is keywords when its keys are keywords of this constructor or when the
    // positional slot it would fill takes no dict.
    let mut keywords: Option<Map> = None;
    if args.last().is_some_and(|l| l.is_map()) {
        let slot = spec.params.get(args.len() - 1);
        let (any_known, owned) = {
            let last = args.last().expect("checked");
            let known = last
                .read_lock::<Map>()
                .is_some_and(|m| m.keys().any(|k| spec.param(k).is_some()));
            (known, !last.is_shared())
        };
        let slot_takes_dict = slot.is_some_and(|p| ty_accepts_dict(&p.ty));
        // A lone map is always keywords: a misspelt keyword must not pass as a dict.
        if args.len() == 1 || any_known || !slot_takes_dict {
            let last = args.pop().expect("checked");
            // The map literal is ours: take it rather than copy it.
            keywords = Some(if owned {
                last.cast::<Map>()
            } else {
                last.read_lock::<Map>()
                    .map(|m| m.clone())
                    .unwrap_or_default()
            });
        }
    }
    let before = sink.error_count();
    let mut suggested: Vec<&'static str> = Vec::new();

    if args.len() > spec.params.len() {
        let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
        sink.push(Diagnostic::error(
            at.clone(),
            format!(
                "`{label}` takes at most {} positional argument{} ({}), got {}",
                spec.params.len(),
                if spec.params.len() == 1 { "" } else { "s" },
                names.join(", "),
                args.len()
            ),
        ));
    }
    for (param, value) in spec.params.iter().zip(args) {
        bound.insert(param.name, value);
    }
    if let Some(map) = keywords {
        for (key, value) in map {
            match spec.param(&key) {
                Some(param) => {
                    if bound.contains_key(param.name) {
                        sink.push(Diagnostic::error(
                            at.clone(),
                            format!(
                                "`{label}` got keyword `{key}` twice (by position and by name)"
                            ),
                        ));
                    }
                    bound.insert(param.name, value);
                }
                None => {
                    let names = spec
                        .params
                        .iter()
                        .flat_map(|p| std::iter::once(p.name).chain(p.alias));
                    let help = match did_you_mean(&key, names) {
                        Some(s) => {
                            // The keyword it stands for is not also reported missing.
                            if let Some(p) = spec.param(s) {
                                suggested.push(p.name);
                            }
                            format!("did you mean `{s}`?")
                        }
                        None => format!(
                            "its keywords are: {}",
                            spec.params
                                .iter()
                                .map(|p| p.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    sink.push(
                        Diagnostic::error(at.clone(), format!("`{label}` has no keyword `{key}`"))
                            .with_help(help),
                    );
                }
            }
        }
    }

    let keep_steps = spec.name == "Workflow";
    let mut tainted = false;
    let mut out: IndexMap<&'static str, Val> = IndexMap::new();
    for param in &spec.params {
        match bound.swap_remove(param.name) {
            Some(value) if !value.is_unit() => {
                if value.is::<Invalid>() {
                    tainted = true;
                    continue;
                }
                if poisoned_inside(&value) {
                    tainted = true;
                }
                match convert(&value, &param.ty, keep_steps && param.name == "steps") {
                    Ok(v) => {
                        out.insert(param.name, v);
                    }
                    Err(Mismatch::Poisoned) => tainted = true,
                    Err(Mismatch::Wrong(detail)) => sink.push(
                        Diagnostic::error(
                            at.clone(),
                            format!(
                                "`{label}` keyword `{}` expects {}, got {detail}",
                                param.name,
                                describe_ty(&param.ty)
                            ),
                        )
                        .with_help_opt(hint_for(&value)),
                    ),
                }
            }
            _ if param.required && !suggested.contains(&param.name) => {
                sink.push(Diagnostic::error(
                    at.clone(),
                    format!(
                        "`{label}` needs the keyword `{}` ({})",
                        param.name,
                        describe_ty(&param.ty)
                    ),
                ))
            }
            _ => {}
        }
    }
    Obj {
        spec,
        args: out,
        at: at.clone(),
        tainted: tainted || sink.error_count() > before,
    }
}

/// The label, formatted only when a message needs it.
struct LazyLabel(&'static ClassSpec);

impl std::fmt::Display for LazyLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&label_of(self.0))
    }
}

/// Whether a list holds a value standing for an earlier mistake.
fn poisoned_inside(value: &Dynamic) -> bool {
    value
        .read_lock::<rhai::Array>()
        .is_some_and(|a| a.iter().any(|x| x.is::<Invalid>()))
}

fn hint_for(value: &Dynamic) -> Option<String> {
    if value.is::<OutputRef>() {
        return Some("call `.as_input()` on a step output to consume it".into());
    }
    let holds_subgraph = |v: &Dynamic| {
        v.read_lock::<std::sync::Arc<Obj>>()
            .is_some_and(|o| o.is("Subgraph"))
    };
    let subgraph = holds_subgraph(value)
        || value
            .read_lock::<rhai::Array>()
            .is_some_and(|items| items.iter().any(holds_subgraph));
    if subgraph {
        return Some(
            "a `wf.Subgraph` only groups steps for the reference's console and is not run here; list its steps in `steps` themselves".into(),
        );
    }
    None
}

fn ty_accepts_dict(ty: &Ty) -> bool {
    match ty {
        Ty::Dict | Ty::Any => true,
        Ty::OneOf(v) => v.iter().any(ty_accepts_dict),
        _ => false,
    }
}

pub enum Mismatch {
    /// The value stands for an earlier mistake, already reported.
    Poisoned,
    Wrong(String),
}

/// Converts a script value to a `Val` of type `ty`.
pub fn convert(value: &Dynamic, ty: &Ty, keep_steps: bool) -> Result<Val, Mismatch> {
    if value.is::<Invalid>() {
        return Err(Mismatch::Poisoned);
    }
    match ty {
        Ty::Any => plain(value),
        Ty::Str => match value.clone().into_immutable_string() {
            Ok(s) => Ok(Val::Str(s.as_str().into())),
            Err(_) => Err(wrong(value)),
        },
        Ty::Int => value.as_int().map(Val::Int).map_err(|_| wrong(value)),
        Ty::Float => match (value.as_float(), value.as_int()) {
            (Ok(f), _) => Ok(Val::Float(f)),
            (_, Ok(i)) => Ok(Val::Int(i)),
            _ => Err(wrong(value)),
        },
        Ty::Bool => value.as_bool().map(Val::Bool).map_err(|_| wrong(value)),
        Ty::Dict if value.is_map() => plain(value),
        Ty::AnyList if value.is_array() => plain(value),
        Ty::List(inner) if value.is_array() => {
            let Some(arr) = value.read_lock::<rhai::Array>() else {
                return Err(wrong(value));
            };
            let mut out = Vec::with_capacity(arr.len());
            for (i, item) in arr.iter().enumerate() {
                match convert(item, inner, keep_steps) {
                    Ok(v) => out.push(v),
                    Err(Mismatch::Poisoned) => {}
                    Err(Mismatch::Wrong(d)) => {
                        return Err(Mismatch::Wrong(format!("{d} at index {i}")));
                    }
                }
            }
            Ok(Val::List(out))
        }
        Ty::Class(classes) => {
            if let Some(n) = value.read_lock::<crate::model::definition::StepName>() {
                if classes.iter().any(|c| crate::catalog::is_step(c)) {
                    return Ok(Val::StepRef(n.0.as_str().into(), Span::default()));
                }
                return Err(Mismatch::Wrong(format!("step `{}`", n.0)));
            }
            let obj = if let Some(o) = value.read_lock::<Arc<Obj>>() {
                o.clone()
            } else if let Some(r) = value.read_lock::<OutputRef>() {
                Arc::new(r.consumption())
            } else {
                return Err(wrong(value));
            };
            if !classes.contains(&obj.spec.name) {
                return Err(wrong(value));
            }
            if obj.spec.is_step() && !keep_steps {
                return Ok(Val::StepRef(obj.name().into(), obj.at.clone()));
            }
            Ok(Val::Obj(obj))
        }
        Ty::Enum(name) => {
            if let Some(e) = value.read_lock::<EnumVal>() {
                if e.ty.name == *name {
                    return Ok(Val::Enum(*e));
                }
                return Err(wrong(value));
            }
            // The enumeration's value name as a string is accepted too.
            if let Ok(s) = value.clone().into_immutable_string() {
                let spec = Catalog::get()
                    .enumeration(name)
                    .ok_or_else(|| wrong(value))?;
                if let Some(v) = spec.values.iter().find(|v| **v == s.as_str()) {
                    return Ok(Val::Enum(EnumVal { ty: spec, name: v }));
                }
            }
            Err(wrong(value))
        }
        Ty::OneOf(alts) => {
            let mut best = None;
            for alt in alts {
                match convert(value, alt, keep_steps) {
                    Ok(v) => return Ok(v),
                    Err(Mismatch::Poisoned) => return Err(Mismatch::Poisoned),
                    Err(Mismatch::Wrong(d)) => {
                        // Prefer the message about a list's element.
                        if matches!(alt, Ty::List(_)) && value.is_array() {
                            best = Some(d);
                        }
                    }
                }
            }
            Err(best.map(Mismatch::Wrong).unwrap_or_else(|| wrong(value)))
        }
        _ => Err(wrong(value)),
    }
}

fn wrong(value: &Dynamic) -> Mismatch {
    Mismatch::Wrong(describe_dynamic(value))
}

/// Any script value as a `Val`, without a type to check against.
pub fn plain(value: &Dynamic) -> Result<Val, Mismatch> {
    if value.is_unit() {
        return Ok(Val::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Val::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Val::Int(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Val::Float(f));
    }
    if value.is_string() {
        return Ok(Val::Str(
            value.clone().into_string().unwrap_or_default().into(),
        ));
    }
    if value.is_char() {
        return Ok(Val::Str(value.to_string().into()));
    }
    if let Some(arr) = value.read_lock::<rhai::Array>() {
        let mut out = Vec::with_capacity(arr.len());
        for item in arr.iter() {
            out.push(plain(item)?);
        }
        return Ok(Val::List(out));
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut out = IndexMap::new();
        for (k, v) in map.iter() {
            out.insert(k.to_string(), plain(v)?);
        }
        return Ok(Val::Map(out));
    }
    if let Some(e) = value.read_lock::<EnumVal>() {
        return Ok(Val::Enum(*e));
    }
    if let Some(o) = value.read_lock::<Arc<Obj>>() {
        if o.spec.is_step() {
            return Ok(Val::StepRef(o.name().into(), o.at.clone()));
        }
        return Ok(Val::Obj(o.clone()));
    }
    if let Some(r) = value.read_lock::<OutputRef>() {
        return Ok(Val::Obj(Arc::new(r.consumption())));
    }
    if value.is::<Invalid>() {
        return Err(Mismatch::Poisoned);
    }
    Err(wrong(value))
}

/// A value as a script sees it again (property reads such as `step.name`).
pub fn to_dynamic(v: &Val) -> Dynamic {
    match v {
        Val::Null => Dynamic::UNIT,
        Val::Bool(b) => (*b).into(),
        Val::Int(i) => (*i).into(),
        Val::Float(f) => (*f).into(),
        Val::Str(s) => s.to_string().into(),
        Val::List(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Val::Map(m) => {
            let mut map = Map::new();
            for (k, v) in m {
                map.insert(k.as_str().into(), to_dynamic(v));
            }
            Dynamic::from_map(map)
        }
        Val::Enum(e) => Dynamic::from(*e),
        Val::Obj(o) => Dynamic::from(o.clone()),
        Val::StepRef(name, _) => name.to_string().into(),
    }
}

pub fn describe_dynamic(value: &Dynamic) -> String {
    if let Some(o) = value.read_lock::<Arc<Obj>>() {
        return format!("`{}`", o.spec.path());
    }
    if let Some(e) = value.read_lock::<EnumVal>() {
        return format!("`{}.{}`", e.ty.name, e.name);
    }
    if value.is::<OutputRef>() {
        return "a step output".into();
    }
    if let Some(ns) = value.read_lock::<Ns>() {
        return format!("the namespace `{}`", ns.0);
    }
    if let Some(e) = value.read_lock::<EnumNs>() {
        return format!("the enumeration `{}`", e.0.name);
    }
    match value.type_name() {
        "string" | "ImmutableString" => format!("str {:?}", value.to_string()),
        "i64" => format!("int {value}"),
        "f64" => format!("float {value}"),
        "bool" => format!("bool {value}"),
        "()" => "()".into(),
        _ if value.is_array() => "a list".into(),
        _ if value.is_map() => "a dict".into(),
        t => t.to_string(),
    }
}
