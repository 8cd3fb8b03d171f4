//! How the catalog's names and types read in messages: `wf.steps.JobStep`,
//! `str or wf.Placeholder`, and a step's output as "a step's dataset output".

use super::{Catalog, ClassSpec, EntryKind, Ty};

/// How the object is named in messages: `wf.steps.JobStep`, or `join` for a method.
pub fn label_of(spec: &ClassSpec) -> String {
    match spec.kind {
        EntryKind::Method => format!("{}.{}", spec.ns.to_lowercase(), spec.name),
        _ => spec.path(),
    }
}

/// A type for messages: `str or wf.Placeholder`, `wf.steps.JobInput or a list of them`.
pub fn describe_ty(ty: &Ty) -> String {
    match ty {
        Ty::Str => "str".into(),
        Ty::Int => "int".into(),
        Ty::Float => "float".into(),
        Ty::Bool => "bool".into(),
        Ty::Dict => "a dict".into(),
        Ty::AnyList => "a list".into(),
        Ty::Any => "any value".into(),
        Ty::List(inner) => format!("a list of {}", describe_ty(inner)),
        Ty::Class(classes) => join_or(&class_names(classes)),
        Ty::Enum(e) => {
            let ns = Catalog::get().enumeration(e).map(|s| s.ns).unwrap_or("wf");
            format!("a `{ns}.{e}` value")
        }
        Ty::OneOf(alts) => {
            // "X or a list of X" reads better than listing X twice.
            if let [one, Ty::List(inner)] = alts.as_slice() {
                if one == inner.as_ref() {
                    return format!("{} or a list of them", describe_ty(one));
                }
            }
            let mut parts: Vec<String> = Vec::new();
            for alt in alts {
                match alt {
                    Ty::Class(classes) => parts.extend(class_names(classes)),
                    other => parts.push(describe_ty(other)),
                }
            }
            join_or(&parts)
        }
    }
}

fn class_names(classes: &[&'static str]) -> Vec<String> {
    let cat = Catalog::get();
    if classes.len() > 4 && classes.iter().all(|c| super::is_step(c)) {
        return vec!["a step".into()];
    }
    classes
        .iter()
        .map(|c| match cat.class(c) {
            Some(spec) if spec.kind != EntryKind::Internal => {
                format!("`{}`", spec.path())
            }
            _ => match *c {
                "OBSConsumption"
                | "DatasetConsumption"
                | "LabelTaskConsumption"
                | "MetricsConsumption"
                | "ModelConsumption"
                | "ServiceConsumption" => {
                    format!("a step's {} output (`.as_input()`)", consumption_kind(c))
                }
                "StoragePath" => "`storage.join(...)`".into(),
                other => format!("`{other}`"),
            },
        })
        .collect()
}

pub fn consumption_kind(class: &str) -> &'static str {
    match class {
        "OBSConsumption" => "OBS",
        "DatasetConsumption" => "dataset",
        "LabelTaskConsumption" => "labeling task",
        "MetricsConsumption" => "metrics",
        "ModelConsumption" => "model",
        "ServiceConsumption" => "service",
        _ => "data",
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
