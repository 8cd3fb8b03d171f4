//! The table of every `wf.*` name, read from `catalog.wfapi` (a transcription of the
//! reference manual's parameter tables). Registration, type checking, `--list-api` and the
//! JSON reader all work from this one table, so a name cannot exist in one and not the others.

pub mod describe;

use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("catalog.wfapi");

/// What a parameter accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Dict,
    AnyList,
    Any,
    /// A list whose elements are each of the inner type.
    List(Box<Ty>),
    /// An object of one of these classes (a `type` group is expanded here).
    Class(Vec<&'static str>),
    Enum(&'static str),
    OneOf(Vec<Ty>),
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub ty: Ty,
    /// The type as written in the table, for messages and `--list-api`.
    pub ty_text: &'static str,
    pub required: bool,
    pub default: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Class,
    Function,
    Internal,
    /// A method; `ns` then names the receiver (`Workflow`, `Storage`, `Output`).
    Method,
}

#[derive(Debug)]
pub struct ClassSpec {
    /// Short name, unique across namespaces: `JobStep`.
    pub name: &'static str,
    /// The namespace it was declared in: `wf.steps`.
    pub ns: &'static str,
    pub kind: EntryKind,
    pub params: Vec<Param>,
    /// A step class: a member of the table's `type Step = ...`.
    pub is_step: bool,
    pub is_placeholder: bool,
}

impl ClassSpec {
    pub fn path(&self) -> String {
        format!("{}.{}", self.ns, self.name)
    }
    pub fn param(&self, key: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| p.name == key || p.alias == Some(key))
    }
    pub fn is_step(&self) -> bool {
        self.is_step
    }
}

#[derive(Debug)]
pub struct EnumSpec {
    pub name: &'static str,
    pub ns: &'static str,
    pub values: Vec<&'static str>,
}

/// A member of a namespace, as seen through `wf.a.b`.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    Namespace(&'static str),
    Class(&'static ClassSpec),
    Enum(&'static EnumSpec),
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub classes: Vec<&'static ClassSpec>,
    pub methods: Vec<&'static ClassSpec>,
    pub enums: Vec<&'static EnumSpec>,
    /// Namespace path -> its members by name, in declaration order.
    pub members: HashMap<&'static str, Vec<(&'static str, Member)>>,
    /// Every namespace path, in declaration order.
    pub namespaces: Vec<&'static str>,
}

impl Catalog {
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| parse(SOURCE).unwrap_or_else(|e| panic!("catalog.wfapi: {e}")))
    }

    pub fn class(&self, name: &str) -> Option<&'static ClassSpec> {
        self.classes.iter().copied().find(|c| c.name == name)
    }

    pub fn method(&self, owner: &str, name: &str) -> Option<&'static ClassSpec> {
        self.methods
            .iter()
            .copied()
            .find(|m| m.ns == owner && m.name == name)
    }

    pub fn enumeration(&self, name: &str) -> Option<&'static EnumSpec> {
        self.enums.iter().copied().find(|e| e.name == name)
    }

    pub fn member(&self, ns: &str, name: &str) -> Option<Member> {
        self.members
            .get(ns)?
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }

    pub fn member_names(&self, ns: &str) -> Vec<&'static str> {
        self.members
            .get(ns)
            .map(|v| v.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default()
    }

    /// Every dotted path at which `class` is reachable.
    pub fn paths_of(&self, class: &str) -> Vec<String> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            for (n, m) in &self.members[ns] {
                if let Member::Class(c) = m {
                    if c.name == class {
                        out.push(format!("{ns}.{n}"));
                    }
                }
            }
        }
        out
    }
}

/// Transitional name of [`is_step`] for callers not yet moved.
pub fn step_type(class: &str) -> Option<&'static str> {
    is_step(class).then_some("step")
}

/// Whether `class` is a step class (`JobStep`, ...): the table's `type Step = ...` lists them.
pub fn is_step(class: &str) -> bool {
    Catalog::get().class(class).is_some_and(ClassSpec::is_step)
}

fn parse(src: &'static str) -> Result<Catalog, String> {
    let mut cat = Catalog::default();
    let mut groups: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
    let mut pending: Vec<(&'static str, &'static str, EntryKind, &'static str)> = Vec::new();
    let mut aliases: Vec<(&'static str, &'static str, &'static str)> = Vec::new();
    let mut ns: &'static str = "wf";
    cat.namespaces.push("wf");
    cat.members.insert("wf", Vec::new());

    for raw in src.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').ok_or(format!("bad line `{line}`"))?;
        let rest = rest.trim();
        match word {
            "ns" => {
                ns = rest;
                if !cat.members.contains_key(ns) {
                    cat.namespaces.push(ns);
                    cat.members.insert(ns, Vec::new());
                    // Make the namespace reachable from its parent.
                    let (parent, last) = ns.rsplit_once('.').ok_or("ns must be dotted")?;
                    cat.members
                        .get_mut(parent)
                        .ok_or(format!("ns {ns} before its parent"))?
                        .push((last, Member::Namespace(ns)));
                }
            }
            "type" => {
                let (name, body) = rest.split_once('=').ok_or("type needs =")?;
                let items = body.split('|').map(str::trim).collect();
                groups.insert(name.trim(), items);
            }
            "enum" => {
                let (name, body) = rest.split_once('=').ok_or("enum needs =")?;
                let spec: &'static EnumSpec = Box::leak(Box::new(EnumSpec {
                    name: name.trim(),
                    ns,
                    values: body.split_whitespace().collect(),
                }));
                cat.enums.push(spec);
                cat.members
                    .get_mut(ns)
                    .expect("namespace exists")
                    .push((spec.name, Member::Enum(spec)));
            }
            "class" | "fn" | "internal" | "method" => {
                let kind = match word {
                    "class" => EntryKind::Class,
                    "fn" => EntryKind::Function,
                    "method" => EntryKind::Method,
                    _ => EntryKind::Internal,
                };
                let open = rest.find('(').ok_or(format!("`{line}` needs ("))?;
                let close = rest.rfind(')').ok_or(format!("`{line}` needs )"))?;
                let (owner, name) = match kind {
                    EntryKind::Method => rest[..open]
                        .split_once('.')
                        .ok_or("method needs CLASS.NAME")?,
                    _ => (ns, &rest[..open]),
                };
                pending.push((name, owner, kind, &rest[open + 1..close]));
            }
            "alias" => {
                let (name, target) = rest.split_once('=').ok_or("alias needs =")?;
                aliases.push((ns, name.trim(), target.trim()));
            }
            other => return Err(format!("unknown entry `{other}`")),
        }
    }

    let class_names: Vec<&'static str> = pending
        .iter()
        .filter(|p| p.2 != EntryKind::Method)
        .map(|p| p.0)
        .collect();
    for (name, ns, kind, params_src) in pending {
        let mut params = Vec::new();
        for p in split_params(params_src) {
            params.push(parse_param(p, &groups, &class_names, &cat)?);
        }
        let spec: &'static ClassSpec = Box::leak(Box::new(ClassSpec {
            name,
            ns,
            kind,
            params,
            is_step: groups
                .get("Step")
                .is_some_and(|steps| steps.contains(&name)),
            is_placeholder: matches!(
                name,
                "Placeholder"
                    | "DatasetPlaceholder"
                    | "OBSPlaceholder"
                    | "LabelTaskPlaceholder"
                    | "ServiceUpdatePlaceholder"
                    | "SWRImagePlaceholder"
                    | "ServiceInputPlaceholder"
                    | "DataSelector"
            ),
        }));
        if kind == EntryKind::Method {
            cat.methods.push(spec);
            continue;
        }
        cat.classes.push(spec);
        if kind != EntryKind::Internal {
            cat.members
                .get_mut(ns)
                .expect("namespace exists")
                .push((name, Member::Class(spec)));
        }
    }
    for (ns, name, target) in aliases {
        let member = if let Some(c) = cat.class(target) {
            Member::Class(c)
        } else if let Some(e) = cat.enumeration(target) {
            Member::Enum(e)
        } else {
            return Err(format!("alias {name} names unknown {target}"));
        };
        cat.members
            .get_mut(ns)
            .expect("namespace exists")
            .push((name, member));
    }
    Ok(cat)
}

fn split_params(src: &'static str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut in_str) = (0i32, 0usize, false);
    for (i, ch) in src.char_indices() {
        match ch {
            '"' => in_str = !in_str,
            '[' | '{' if !in_str => depth += 1,
            ']' | '}' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                out.push(src[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = src[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

fn parse_param(
    src: &'static str,
    groups: &HashMap<&'static str, Vec<&'static str>>,
    classes: &[&'static str],
    cat: &Catalog,
) -> Result<Param, String> {
    let (names, rest) = src
        .split_once(':')
        .ok_or(format!("param `{src}` needs :"))?;
    let (name, alias) = match names.split_once('|') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (names.trim(), None),
    };
    let (ty_part, default) = match rest.split_once('=') {
        Some((t, d)) => {
            let d =
                serde_json::from_str(d.trim()).map_err(|e| format!("default of {name}: {e}"))?;
            (t.trim(), Some(d))
        }
        None => (rest.trim(), None),
    };
    let (ty_text, required) = match ty_part.strip_suffix('!') {
        Some(t) => (t.trim(), true),
        None => (ty_part, false),
    };
    let ty = parse_ty(ty_text, groups, classes, cat)?;
    Ok(Param {
        name,
        alias,
        ty,
        ty_text,
        required,
        default,
    })
}

fn parse_ty(
    text: &'static str,
    groups: &HashMap<&'static str, Vec<&'static str>>,
    classes: &[&'static str],
    cat: &Catalog,
) -> Result<Ty, String> {
    // Split on top-level `|`.
    let mut alts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in text.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            '|' if depth == 0 => {
                alts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    alts.push(&text[start..]);
    let mut tys: Vec<Ty> = Vec::new();
    let mut class_set: Vec<&'static str> = Vec::new();
    for alt in alts {
        let alt = alt.trim();
        if let Some(inner) = alt.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
            tys.push(Ty::List(Box::new(parse_ty(inner, groups, classes, cat)?)));
            continue;
        }
        match alt {
            "str" => tys.push(Ty::Str),
            "int" => tys.push(Ty::Int),
            "float" => tys.push(Ty::Float),
            "bool" => tys.push(Ty::Bool),
            "dict" => tys.push(Ty::Dict),
            "list" => tys.push(Ty::AnyList),
            "any" => tys.push(Ty::Any),
            other => {
                if let Some(members) = groups.get(other) {
                    for m in members {
                        match *m {
                            "str" => tys.push(Ty::Str),
                            "list" => tys.push(Ty::AnyList),
                            c if classes.contains(&c) => class_set.push(c),
                            c => match groups.get(c) {
                                Some(inner) => class_set.extend(inner.iter().copied()),
                                None => return Err(format!("type {other}: unknown {c}")),
                            },
                        }
                    }
                } else if classes.contains(&other) {
                    class_set.push(other);
                } else if cat.enumeration(other).is_some() {
                    tys.push(Ty::Enum(cat.enumeration(other).expect("checked").name));
                } else {
                    return Err(format!("unknown type `{other}`"));
                }
            }
        }
    }
    if !class_set.is_empty() {
        class_set.dedup();
        tys.insert(0, Ty::Class(class_set));
    }
    Ok(if tys.len() == 1 {
        tys.pop().expect("one")
    } else {
        Ty::OneOf(tys)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_resolves_paths() {
        let cat = Catalog::get();
        assert!(cat.class("JobStep").is_some());
        assert_eq!(cat.paths_of("LogExportPath").len(), 2);
        let job = cat.class("JobStep").unwrap();
        assert!(job.param("dependencies").is_some());
        assert!(job.param("name").unwrap().required);
        assert!(matches!(
            cat.member("wf.steps", "ConditionTypeEnum"),
            Some(Member::Enum(_))
        ));
    }

    #[test]
    fn the_step_classes_are_the_step_kinds() {
        let mut steps: Vec<&str> = Catalog::get()
            .classes
            .iter()
            .filter(|c| c.is_step())
            .map(|c| c.name)
            .collect();
        let mut kinds: Vec<&str> = crate::model::kind::StepKind::ALL
            .iter()
            .map(|k| k.class())
            .collect();
        steps.sort();
        kinds.sort();
        assert_eq!(steps, kinds);
    }
}
