//! Values a script builds: plain data, enumeration constants and `wf` objects.
//! Every object remembers where the script created it.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::catalog::{Catalog, ClassSpec, EnumSpec};
pub use crate::diag::Span;

/// An enumeration constant, such as `wf.PlaceholderType.INT`.
#[derive(Debug, Clone, Copy)]
pub struct EnumVal {
    pub ty: &'static EnumSpec,
    pub name: &'static str,
}

impl PartialEq for EnumVal {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.ty, other.ty) && self.name == other.name
    }
}

impl fmt::Display for EnumVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A value held in an object's arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    List(Vec<Val>),
    Map(IndexMap<String, Val>),
    Enum(EnumVal),
    Obj(Arc<Obj>),
    /// A step named where a step is expected (`depend_steps`, `scene_steps`, branch lists).
    StepRef(Arc<str>, Span),
}

impl Val {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_obj(&self) -> Option<&Arc<Obj>> {
        match self {
            Val::Obj(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The elements of a list, or the value itself: the reference's "X or list of X".
    pub fn items(&self) -> &[Val] {
        match self {
            Val::List(v) => v,
            Val::Null => &[],
            other => std::slice::from_ref(other),
        }
    }
    /// A short description for messages: `int (5)`, `wf.steps.JobInput`.
    pub fn describe(&self) -> String {
        match self {
            Val::Null => "()".into(),
            Val::Bool(b) => format!("bool ({b})"),
            Val::Int(i) => format!("int ({i})"),
            Val::Float(x) => format!("float ({x})"),
            Val::Str(s) => format!("str ({s:?})"),
            Val::List(_) => "list".into(),
            Val::Map(_) => "dict".into(),
            Val::Enum(e) => format!("{}.{}", e.ty.name, e.name),
            Val::Obj(o) => o.spec.path(),
            Val::StepRef(n, _) => format!("step `{n}`"),
        }
    }
    /// Visits this value and everything inside it.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Val)) {
        f(self);
        match self {
            Val::List(v) => v.iter().for_each(|x| x.walk(f)),
            Val::Map(m) => m.values().for_each(|x| x.walk(f)),
            Val::Obj(o) => o.args.values().for_each(|x| x.walk(f)),
            _ => {}
        }
    }
}

/// A `wf` object: the class it was built from, the arguments it was given, where.
#[derive(Debug, Clone)]
pub struct Obj {
    pub spec: &'static ClassSpec,
    pub args: IndexMap<&'static str, Val>,
    pub at: Span,
    /// Built despite a reported mistake: rules that would repeat it are skipped.
    pub tainted: bool,
}

impl PartialEq for Obj {
    /// Two objects are equal when built alike, wherever they were built.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.spec, other.spec) && self.args == other.args
    }
}

impl Obj {
    pub fn class(&self) -> &'static str {
        self.spec.name
    }
    pub fn is(&self, class: &str) -> bool {
        self.spec.name == class
    }
    /// The argument given, else the table's default.
    pub fn get(&self, key: &str) -> Option<Val> {
        if let Some(v) = self.args.get(key) {
            return Some(v.clone());
        }
        let p = self.spec.param(key)?;
        p.default.as_ref().map(|d| json_to_plain(d, p))
    }
    pub fn arg(&self, key: &str) -> Option<&Val> {
        self.args.get(key)
    }
    pub fn str_arg(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Val::as_str)
    }
    pub fn name(&self) -> &str {
        self.str_arg("name").unwrap_or("")
    }
    pub fn is_placeholder(&self) -> bool {
        self.spec.is_placeholder
    }
    pub fn is_consumption(&self) -> bool {
        self.spec.name.ends_with("Consumption") || self.spec.name == "OutputVariable"
    }
}

/// A table default (plain JSON) as a value; enum defaults are written as their names.
fn json_to_plain(j: &serde_json::Value, p: &crate::catalog::Param) -> Val {
    use crate::catalog::Ty;
    match j {
        serde_json::Value::String(s) => {
            if let Ty::Enum(e) = &p.ty {
                if let Some(spec) = Catalog::get().enumeration(e) {
                    if let Some(name) = spec.values.iter().find(|v| **v == s.as_str()) {
                        return Val::Enum(EnumVal { ty: spec, name });
                    }
                }
            }
            Val::Str(s.as_str().into())
        }
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => Val::Float(n.as_f64().unwrap_or(0.0)),
        },
        _ => Val::Null,
    }
}
