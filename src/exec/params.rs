//! Parameter values: `-p NAME=VALUE` text, values from a parameters file (JSON or TOML) or from
//! `set_placeholder`, checked against the placeholder they are for (`wf run --help`).
//!
//! A `Placeholder` takes a value of its `placeholder_type`; a data placeholder takes the
//! natural text of what it stands for (an OBS path, `dataset[@version]`, `dataset/task`, a
//! service id, an image path) and becomes an object of the concrete class (`OBSPath`,
//! `Dataset`, ...), as if the script had written it. A refused value is an error that names
//! the parameter and what it takes, because it is shown to the user as it is.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::model::val::{Obj, Val};

/// Why a parameter value was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// A value that does not fit its placeholder.
    #[error("parameter `{name}` takes {expected}, got `{got}`{}", why_suffix(.why.as_deref()))]
    Invalid {
        name: String,
        /// What it takes, with its article: "an INT", "one of `a`, `b`".
        expected: String,
        /// The value as given (shortened when long).
        got: String,
        /// The particular rule broken, when more can be said than `expected`.
        why: Option<String>,
    },
    #[error("`-p` value `{0}` has no `=`: write NAME=VALUE")]
    NoEquals(String),
    #[error("`-p` value `{0}` has no name before `=`: write NAME=VALUE")]
    EmptyName(String),
    #[error("parameters file `{}` {reason}", .path.display())]
    File { path: PathBuf, reason: FileProblem },
    /// The object given is not a placeholder, or is one this module cannot give a value to
    /// (a script mistake validation reports; kept as an error rather than a panic).
    #[error("parameter `{name}` cannot take a value: {reason}")]
    Unusable { name: String, reason: String },
}

/// What is wrong with a parameters file, after its name.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("does not exist")]
    Missing,
    #[error("cannot be read: {0}")]
    Unreadable(std::io::Error),
    /// A directory, a FIFO, a device: what it is, with its article.
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is larger than {} MiB; a parameter file holds at most that", MAX_PARAMS_BYTES >> 20)]
    TooLarge,
    #[error("is not UTF-8 text")]
    NotUtf8,
    #[error("is not JSON: {message} at {line}:{col}")]
    NotJson {
        message: String,
        line: usize,
        col: usize,
    },
    #[error("is not TOML: {message} at {line}:{col}")]
    NotToml {
        message: String,
        line: usize,
        col: usize,
    },
    /// A file named neither `.json` nor `.toml` that is neither: what TOML made of it.
    #[error("is neither JSON nor TOML; as TOML it {0}")]
    Neither(Box<FileProblem>),
    #[error("holds the number {0}, which a parameter cannot take")]
    Number(f64),
    /// Not a table at the top: what it is, with its article.
    #[error(
        "holds {0}; it must be a table of NAME = VALUE (in JSON, an object {{\"NAME\": VALUE}})"
    )]
    NotTable(&'static str),
}

/// Why a job's flavor value names no flavor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlavorRefError {
    #[error("the flavor is empty; give a flavor id such as `cpu.small`")]
    Empty,
    /// A field of the flavor object (`flavor_id`, `pool_id`) that is not an id: what it is.
    #[error("`{key}` is {got}, not a flavor id such as \"cpu.small\"")]
    Field { key: &'static str, got: String },
    /// `hint` names a misspelt `flavor_id` when there is one.
    #[error("the flavor object has no `flavor_id`{hint}; write {{\"flavor_id\": \"cpu.small\"}} or just the id")]
    NoFlavorId { hint: String },
    /// Neither an id nor an object: what it is.
    #[error("the flavor is {0}, not a flavor id or {{\"flavor_id\": ...}}")]
    NotAFlavor(String),
}

fn why_suffix(why: Option<&str>) -> String {
    why.map(|w| format!(": {w}")).unwrap_or_default()
}

/// The item type of a LIST placeholder (its `placeholder_format`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum ItemFormat {
    Int,
    Float,
    Str,
    Bool,
}

impl ItemFormat {
    fn parse(text: &str) -> Option<ItemFormat> {
        Some(match text.to_ascii_lowercase().as_str() {
            "int" => ItemFormat::Int,
            "float" => ItemFormat::Float,
            "str" => ItemFormat::Str,
            "bool" => ItemFormat::Bool,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            ItemFormat::Int => "int",
            ItemFormat::Float => "float",
            ItemFormat::Str => "str",
            ItemFormat::Bool => "bool",
        }
    }
    fn example(self) -> &'static str {
        match self {
            ItemFormat::Int => "[1, 2]",
            ItemFormat::Float => "[0.5, 1.5]",
            ItemFormat::Str => r#"["a", "b"]"#,
            ItemFormat::Bool => "[true, false]",
        }
    }
}

/// What a placeholder takes, read once from its arguments.
#[derive(Debug)]
enum Kind<'a> {
    Int,
    Float,
    Bool,
    Str,
    Enum(&'a [Val]),
    Json,
    /// `None`: no (or no item) format given, so any JSON items.
    List(Option<ItemFormat>),
    /// The OBS object type, `file` or `directory`, when given.
    Obs(Option<&'a str>),
    Dataset,
    LabelTask,
    Service,
    Image,
    /// The model name the entries must use, when the script gave it as plain text.
    ServiceInput {
        model_name: Option<&'a str>,
        model_version: Option<&'a str>,
    },
    Selector {
        obs: bool,
        dataset: bool,
    },
}

fn kind_of(p: &Obj) -> Result<Kind<'_>, ParamError> {
    let unusable = |reason: String| ParamError::Unusable {
        name: p.name().to_string(),
        reason,
    };
    Ok(match p.class() {
        "Placeholder" => {
            // Scripts give an enum constant; a definition read back may hold its name.
            let ty = match p.arg("placeholder_type") {
                Some(Val::Enum(e)) => e.name,
                Some(Val::Str(s)) => s,
                _ => return Err(unusable("it has no `placeholder_type`".into())),
            };
            match ty {
                "INT" => Kind::Int,
                "FLOAT" => Kind::Float,
                "BOOL" => Kind::Bool,
                "STR" => Kind::Str,
                "ENUM" => Kind::Enum(p.arg("enum_list").map(Val::items).unwrap_or(&[])),
                "JSON" => Kind::Json,
                "LIST" => Kind::List(p.str_arg("placeholder_format").and_then(ItemFormat::parse)),
                other => return Err(unusable(format!("unknown placeholder_type `{other}`"))),
            }
        }
        "OBSPlaceholder" => Kind::Obs(p.str_arg("object_type")),
        "DatasetPlaceholder" => Kind::Dataset,
        "LabelTaskPlaceholder" => Kind::LabelTask,
        "ServiceUpdatePlaceholder" => Kind::Service,
        "SWRImagePlaceholder" => Kind::Image,
        "ServiceInputPlaceholder" => Kind::ServiceInput {
            // A Placeholder model name is only known once parameters are resolved; the
            // service step checks it then.
            model_name: p.str_arg("model_name"),
            model_version: p.str_arg("model_version"),
        },
        "DataSelector" => {
            let types = p.arg("data_type_list").map(Val::items).unwrap_or(&[]);
            let has = |t: &str| types.iter().any(|v| v.as_str() == Some(t));
            let (obs, dataset) = (has("obs"), has("dataset"));
            // A list naming neither is a script mistake validation reports; take both here.
            if obs || dataset {
                Kind::Selector { obs, dataset }
            } else {
                Kind::Selector {
                    obs: true,
                    dataset: true,
                }
            }
        }
        other => return Err(unusable(format!("`{other}` is not a placeholder class"))),
    })
}

/// "INT", "ENUM (one of a, b)", "LIST of int", "OBS directory path", "dataset name[@version]",
/// ...: what `p` takes, for messages and prompts.
pub fn describe_expected(p: &Obj) -> String {
    match kind_of(p) {
        Ok(k) => describe(&k),
        Err(_) => format!("{} (no value can be given)", p.class()),
    }
}

fn describe(k: &Kind) -> String {
    match k {
        Kind::Int => "INT".into(),
        Kind::Float => "FLOAT".into(),
        Kind::Bool => "BOOL (true or false)".into(),
        Kind::Str => "STR".into(),
        Kind::Enum(list) => format!(
            "ENUM (one of {})",
            list.iter().map(text_form).collect::<Vec<_>>().join(", ")
        ),
        Kind::Json => "JSON (an object or array)".into(),
        Kind::List(Some(f)) => format!("LIST of {}", f.name()),
        Kind::List(None) => "LIST".into(),
        Kind::Obs(Some(t @ ("file" | "directory"))) => format!("OBS {t} path"),
        Kind::Obs(_) => "OBS path".into(),
        Kind::Dataset => "dataset name[@version]".into(),
        Kind::LabelTask => "labeling task dataset/task".into(),
        Kind::Service => "service id".into(),
        Kind::Image => "SWR image path".into(),
        Kind::ServiceInput { model_name, .. } => format!(
            r#"JSON list of service models [{{"model_name": "{}", "model_version": "V1", "weight": 100}}, ...]"#,
            model_name.unwrap_or("NAME")
        ),
        Kind::Selector {
            obs: true,
            dataset: true,
        } => "OBS path or dataset name[@version]".into(),
        Kind::Selector { obs: true, .. } => "OBS path".into(),
        Kind::Selector { .. } => "dataset name[@version]".into(),
    }
}

/// What `k` takes, as the object of "takes": "an INT", "one of `a`, `b`".
fn expected_phrase(k: &Kind) -> String {
    if let Kind::Enum(list) = k {
        return if list.is_empty() {
            "one of its `enum_list` values, but the list is empty".into()
        } else {
            format!(
                "one of {}",
                list.iter()
                    .map(|v| format!("`{}`", text_form(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
    }
    if let Kind::Json = k {
        return "JSON text (an object or array)".into();
    }
    let d = describe(k);
    let vowel = d.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']);
    // "SWR" is read letter by letter: "an SWR image".
    let article = if vowel || d.starts_with("SWR") {
        "an"
    } else {
        "a"
    };
    format!("{article} {d}")
}

/// Parses command-line text for placeholder `p`.
pub fn parse_text(p: &Obj, text: &str) -> Result<Val, ParamError> {
    let k = kind_of(p)?;
    from_text(p, &k, text).map_err(|why| invalid(p, &k, shorten(text), why))
}

/// Checks a value that arrived typed (from a JSON/TOML params file, or `set_placeholder` in a
/// script). Ints are accepted for FLOAT; a string is parsed as with [`parse_text`] for data
/// placeholders (and as JSON text for JSON, LIST and service-model placeholders); data
/// placeholders also take an object of their class's fields (`{"obs_path": ...}`, or the
/// `{"$class": ...}` form records store). `null` is taken only by a placeholder that is not
/// `required`.
pub fn check_value(p: &Obj, value: &Value) -> Result<Val, ParamError> {
    let k = kind_of(p)?;
    use crate::model::definition::{json_depth, MAX_JSON_DEPTH};
    if json_depth(value) > MAX_JSON_DEPTH {
        return Err(invalid(
            p,
            &k,
            "a value".into(),
            Some(format!("it nests deeper than {MAX_JSON_DEPTH} levels")),
        ));
    }
    if value.is_null() {
        let required = p.get("required").and_then(|v| v.as_bool()).unwrap_or(true);
        if !required {
            return Ok(Val::Null);
        }
        return Err(invalid(p, &k, "null".into(), Some("it is required".into())));
    }
    // A string where a number or bool belongs is shown quoted, or `"7"` would read as `7`.
    let got = match (&k, value) {
        (Kind::Int | Kind::Float | Kind::Bool, Value::String(_)) => value.to_string(),
        _ => show_json(value),
    };
    from_value(p, &k, value).map_err(|why| invalid(p, &k, shorten(&got), why))
}

fn invalid(p: &Obj, k: &Kind, got: String, why: Why) -> ParamError {
    ParamError::Invalid {
        name: p.name().to_string(),
        expected: expected_phrase(k),
        got,
        why,
    }
}

/// The rule a value broke, when there is more to say than what the parameter takes.
type Why = Option<String>;

fn from_text(p: &Obj, k: &Kind, text: &str) -> Result<Val, Why> {
    match k {
        Kind::Int => text.trim().parse::<i64>().map(Val::Int).map_err(|_| None),
        Kind::Float => parse_float(text).map(Val::Float).ok_or(None),
        Kind::Bool => parse_bool(text).map(Val::Bool).ok_or(None),
        Kind::Str => Ok(Val::Str(text.into())),
        Kind::Enum(list) => enum_match(list, text),
        Kind::Json => {
            let v = parse_json_text(text)?;
            json_container(&v)
        }
        Kind::List(f) => {
            let v = parse_json_text(text).map_err(|why| {
                why.map(|w| {
                    format!(
                        "{w}; write a JSON array such as {}",
                        f.map_or("[1, 2]", ItemFormat::example)
                    )
                })
            })?;
            list_items(*f, &v)
        }
        // A data value in its JSON form: the class's fields, or the record's `$class` form.
        Kind::Dataset | Kind::LabelTask | Kind::Obs(_) | Kind::Service | Kind::Image
            if text.trim_start().starts_with('{') =>
        {
            let v = parse_json_text(text)?;
            from_value(p, k, &v)
        }
        Kind::Obs(_) => obs_path(p, text),
        // The JSON form, `{"dataset_name": ..., "version_name": ...}`.
        Kind::Dataset => dataset(p, text),
        Kind::LabelTask => label_task(p, text),
        Kind::Service => word(text).map(|id| make(p, "ServiceData", &[("service_id", id)])),
        Kind::Image => word(text).map(|path| make(p, "SWRImage", &[("swr_path", path)])),
        Kind::ServiceInput {
            model_name,
            model_version,
        } => {
            let v = parse_json_text(text)?;
            service_models(&v, *model_name, *model_version)
        }
        Kind::Selector { obs, dataset: ds } => {
            // With both allowed, the manual's rule of thumb: anything path-like is OBS.
            let looks_obs = text.starts_with("obs://")
                || text.starts_with('.')
                || text.starts_with('/')
                || text.contains('/');
            if *obs && (!*ds || looks_obs) {
                obs_path(p, text)
            } else {
                dataset(p, text)
            }
        }
    }
}

fn from_value(p: &Obj, k: &Kind, v: &Value) -> Result<Val, Why> {
    match (k, v) {
        (Kind::Int, Value::Number(n)) => n
            .as_i64()
            .map(Val::Int)
            .ok_or_else(|| Some("not a whole number in range".into())),
        (Kind::Float, Value::Number(n)) => n.as_f64().map(Val::Float).ok_or(None),
        (Kind::Bool, Value::Bool(b)) => Ok(Val::Bool(*b)),
        (Kind::Str, Value::String(s)) => Ok(Val::Str(s.as_str().into())),
        // An ENUM is matched by text, so a number or bool in a file names the same element
        // as on the command line.
        (Kind::Enum(list), Value::String(s)) => enum_match(list, s),
        (Kind::Enum(list), Value::Number(_) | Value::Bool(_)) => enum_match(list, &v.to_string()),
        (Kind::Json, Value::Object(_) | Value::Array(_)) => Ok(json_to_val(v)),
        (Kind::List(f), Value::Array(_)) => list_items(*f, v),
        (
            Kind::ServiceInput {
                model_name,
                model_version,
            },
            Value::Array(_),
        ) => service_models(v, *model_name, *model_version),
        // JSON text inside a string (TOML has no null and awkward nesting; records and
        // `set_placeholder` may hold text too).
        (Kind::Json | Kind::List(_) | Kind::ServiceInput { .. }, Value::String(s)) => {
            from_text(p, k, s)
        }
        (
            Kind::Obs(_)
            | Kind::Dataset
            | Kind::LabelTask
            | Kind::Service
            | Kind::Image
            | Kind::Selector { .. },
            Value::String(s),
        ) => from_text(p, k, s),
        (
            Kind::Obs(_)
            | Kind::Dataset
            | Kind::LabelTask
            | Kind::Service
            | Kind::Image
            | Kind::Selector { .. },
            Value::Object(m),
        ) => from_fields(p, k, m),
        _ => Err(Some(format!("{} is not accepted here", json_kind(v)))),
    }
}

// ---- scalars ----

fn parse_float(text: &str) -> Option<f64> {
    // Rust also reads "inf" and "NaN", which no JSON record or comparison can hold.
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "True" | "1" => Some(true),
        "false" | "False" | "0" => Some(false),
        _ => None,
    }
}

/// An enum element's text, as the user types it.
fn text_form(v: &Val) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Bool(b) => b.to_string(),
        other => other.describe(),
    }
}

/// The element of `list` that `text` names. Numbers compare by value, so `1.0` names `1.0`
/// whether written `1` or `1.0`.
fn enum_match(list: &[Val], text: &str) -> Result<Val, Why> {
    let t = text.trim();
    list.iter()
        .find(|e| match e {
            Val::Str(s) => &**s == text || &**s == t,
            Val::Int(i) => t.parse::<i64>().ok() == Some(*i),
            Val::Float(x) => t.parse::<f64>().ok() == Some(*x),
            Val::Bool(b) => parse_bool(t) == Some(*b),
            _ => false,
        })
        .cloned()
        .ok_or(None)
}

// ---- JSON ----

fn parse_json_text(text: &str) -> Result<Value, Why> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        // serde_json ends with " at line L column C"; keep its message, say `L:C`.
        let msg = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i]);
        Some(format!("not JSON: {msg} at {}:{}", e.line(), e.column()))
    })
}

fn json_container(v: &Value) -> Result<Val, Why> {
    match v {
        Value::Object(_) | Value::Array(_) => Ok(json_to_val(v)),
        other => Err(Some(format!(
            "{} is not a JSON object or array",
            json_kind(other)
        ))),
    }
}

/// JSON as a value: objects become maps, whole numbers `Int`, other numbers `Float`.
fn json_to_val(v: &Value) -> Val {
    match v {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            // serde_json numbers are always representable as f64 (u64 beyond i64 included).
            None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Val::Str(s.as_str().into()),
        Value::Array(items) => Val::List(items.iter().map(json_to_val).collect()),
        Value::Object(m) => Val::Map(m.iter().map(|(k, v)| (k.clone(), json_to_val(v))).collect()),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as the user would write it: strings bare, anything else as compact JSON.
fn show_json(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Long values (a JSON list of models) are cut in messages; the rule broken says the rest.
fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn list_items(f: Option<ItemFormat>, v: &Value) -> Result<Val, Why> {
    let Value::Array(items) = v else {
        return Err(Some(format!(
            "{} is not a JSON array; write one such as {}",
            json_kind(v),
            f.map_or("[1, 2]", ItemFormat::example)
        )));
    };
    let Some(f) = f else {
        return Ok(json_to_val(v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let ok = match (f, item) {
                (ItemFormat::Int, Value::Number(n)) => n.as_i64().map(Val::Int),
                // An int is a fine float.
                (ItemFormat::Float, Value::Number(n)) => n.as_f64().map(Val::Float),
                (ItemFormat::Str, Value::String(s)) => Some(Val::Str(s.as_str().into())),
                (ItemFormat::Bool, Value::Bool(b)) => Some(Val::Bool(*b)),
                _ => None,
            };
            ok.ok_or_else(|| Some(format!("item {i} (`{item}`) is not {}", article_format(f))))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Val::List)
}

fn article_format(f: ItemFormat) -> &'static str {
    match f {
        ItemFormat::Int => "an int",
        ItemFormat::Float => "a float",
        ItemFormat::Str => "a str",
        ItemFormat::Bool => "a bool",
    }
}

// ---- data placeholders ----

/// An object of a `wf.data` class, as if the script had built it where the placeholder is.
fn make(p: &Obj, class: &str, fields: &[(&'static str, &str)]) -> Val {
    let spec = Catalog::get()
        .class(class)
        .unwrap_or_else(|| panic!("catalog.wfapi defines `{class}`"));
    Val::Obj(
        Obj {
            spec,
            args: fields
                .iter()
                .map(|(k, v)| (*k, Val::Str((*v).into())))
                .collect(),
            at: p.at.clone(),
            tainted: false,
        }
        .into(),
    )
}

fn obs_path(p: &Obj, text: &str) -> Result<Val, Why> {
    // Paths are taken as written (spaces included); only an empty one means nothing.
    if text.trim().is_empty() {
        return Err(Some("the path is empty".into()));
    }
    Ok(make(p, "OBSPath", &[("obs_path", text)]))
}

/// A single token: ids and image paths never hold spaces.
fn word(text: &str) -> Result<&str, Why> {
    let t = text.trim();
    if t.is_empty() {
        Err(Some("it is empty".into()))
    } else if t.contains(char::is_whitespace) {
        Err(Some("it holds spaces".into()))
    } else {
        Ok(t)
    }
}

fn dataset(p: &Obj, text: &str) -> Result<Val, Why> {
    let t = text.trim();
    let (name, version) = match t.split_once('@') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (t, None),
    };
    if name.is_empty() {
        return Err(Some("the dataset name is empty".into()));
    }
    crate::datasets::valid_name("dataset", name).map_err(|e| Some(e.to_string()))?;
    if let Some(v) = version.filter(|v| !v.is_empty() && !v.contains('@')) {
        crate::datasets::valid_name("version", v).map_err(|e| Some(e.to_string()))?;
    }
    match version {
        None => Ok(make(p, "Dataset", &[("dataset_name", name)])),
        Some("") => Err(Some("the version after `@` is empty".into())),
        Some(v) if v.contains('@') => Err(Some("it holds more than one `@`".into())),
        Some(v) => Ok(make(
            p,
            "Dataset",
            &[("dataset_name", name), ("version_name", v)],
        )),
    }
}

fn label_task(p: &Obj, text: &str) -> Result<Val, Why> {
    let t = text.trim();
    let Some((ds, task)) = t.split_once('/') else {
        return Err(Some("write the dataset, `/`, then the task".into()));
    };
    let (ds, task) = (ds.trim(), task.trim());
    if ds.is_empty() || task.is_empty() {
        return Err(Some("both the dataset and the task must be named".into()));
    }
    if task.contains('/') {
        return Err(Some("it holds more than one `/`".into()));
    }
    crate::datasets::valid_name("dataset", ds).map_err(|e| Some(e.to_string()))?;
    crate::datasets::valid_name("labeling task", task).map_err(|e| Some(e.to_string()))?;
    Ok(make(
        p,
        "LabelTask",
        &[("dataset_name", ds), ("task_name", task)],
    ))
}

/// A data placeholder's value given as its class's fields (`{"obs_path": "..."}`), or in the
/// `{"$class": "wf.data.OBSPath", ...}` form execution records hold.
fn from_fields(p: &Obj, k: &Kind, m: &serde_json::Map<String, Value>) -> Result<Val, Why> {
    let class = match k {
        Kind::Obs(_) => "OBSPath",
        Kind::Dataset => "Dataset",
        Kind::LabelTask => "LabelTask",
        Kind::Service => "ServiceData",
        Kind::Image => "SWRImage",
        Kind::Selector { obs, dataset } => {
            let named = m.get("$class").and_then(Value::as_str).unwrap_or("");
            if *obs && (m.contains_key("obs_path") || named.ends_with("OBSPath")) {
                "OBSPath"
            } else if *dataset {
                "Dataset"
            } else {
                "OBSPath"
            }
        }
        _ => return Err(None),
    };
    let fields: &[(&'static str, bool)] = match class {
        "OBSPath" => &[("obs_path", true)],
        "Dataset" => &[("dataset_name", true), ("version_name", false)],
        "LabelTask" => &[("dataset_name", true), ("task_name", true)],
        "ServiceData" => &[("service_id", true)],
        _ => &[("swr_path", true)],
    };
    let names = || {
        fields
            .iter()
            .map(|(f, _)| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(c) = m.get("$class") {
        let c = c.as_str().unwrap_or("");
        if c.rsplit('.').next() != Some(class) {
            return Err(Some(format!("`$class` is `{c}`, not `{class}`")));
        }
    }
    for key in m.keys() {
        // `at` is where a recorded object was built; it carries no value.
        if key != "$class" && key != "at" && !fields.iter().any(|(f, _)| f == key) {
            return Err(Some(format!(
                "unknown field `{key}`; `{class}` takes {}",
                names()
            )));
        }
    }
    let mut texts: Vec<(&'static str, &str)> = Vec::new();
    for (f, required) in fields {
        match m.get(*f) {
            Some(Value::String(s)) if !s.trim().is_empty() => texts.push((f, s)),
            Some(Value::String(_)) => return Err(Some(format!("`{f}` is empty"))),
            Some(other) => {
                return Err(Some(format!("`{f}` is {}, not a string", json_kind(other))))
            }
            None if *required => return Err(Some(format!("`{f}` is missing"))),
            None => {}
        }
    }
    // The same checks as text, so a file cannot slip in what `-p` refuses.
    match class {
        "Dataset" if texts.iter().any(|(_, v)| v.contains('@')) => {
            Err(Some("a name or version holds `@`".into()))
        }
        "LabelTask" if texts.iter().any(|(_, v)| v.contains('/')) => {
            Err(Some("a name holds `/`".into()))
        }
        "ServiceData" | "SWRImage" => word(texts[0].1).map(|w| make(p, class, &[(texts[0].0, w)])),
        _ => Ok(make(p, class, &texts)),
    }
}

/// The service models of a `ServiceInputPlaceholder`, as the reference's prompt asks for them:
/// `[{"model_name", "model_version", "specification"?, "envs"?, "weight"?}, ...]`, one model
/// name, distinct versions, integer weights summing to 100 (a lone entry may leave its weight
/// out and gets 100). Entries may leave out the model name and version the placeholder fixes.
fn service_models(
    v: &Value,
    fixed_name: Option<&str>,
    fixed_version: Option<&str>,
) -> Result<Val, Why> {
    let why = |s: String| Some(s);
    let Value::Array(items) = v else {
        return Err(why(format!(
            "{} is not a JSON list; the list's `[` and `]` are required",
            json_kind(v)
        )));
    };
    if items.is_empty() {
        return Err(why(
            "the list is empty; give at least one model version".into()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut first_name: Option<String> = None;
    // version -> the entry that has it
    let mut versions: IndexMap<String, usize> = IndexMap::new();
    let mut weights: Vec<Option<i64>> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(why(format!(
                "entry {i} is {}, not an object",
                json_kind(item)
            )));
        };
        let text_field = |f: &str, fixed: Option<&str>| -> Result<String, Why> {
            match m.get(f) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err(why(format!("entry {i} has an empty `{f}`"))),
                Some(other) => Err(why(format!(
                    "entry {i} has `{f}` as {}, not a string",
                    json_kind(other)
                ))),
                None => fixed
                    .map(str::to_string)
                    .ok_or_else(|| why(format!("entry {i} has no `{f}`"))),
            }
        };
        let name = text_field("model_name", fixed_name)?;
        if let Some(fixed) = fixed_name {
            if name != fixed {
                return Err(why(format!(
                    "entry {i} has model_name `{name}`, but this input deploys `{fixed}`"
                )));
            }
        }
        match &first_name {
            Some(first) if *first != name => {
                return Err(why(format!(
                    "entry {i} has model_name `{name}` but entry 0 has `{first}`; all entries deploy the same model"
                )))
            }
            Some(_) => {}
            None => first_name = Some(name.clone()),
        }
        let version = text_field("model_version", fixed_version)?;
        if let Some(&j) = versions.get(&version) {
            return Err(why(format!(
                "entries {j} and {i} both have model_version `{version}`; two entries cannot share a version"
            )));
        }
        versions.insert(version.clone(), i);
        if let Some(s) = m.get("specification") {
            if !s.is_string() {
                return Err(why(format!(
                    "entry {i} has `specification` as {}, not a string",
                    json_kind(s)
                )));
            }
        }
        if let Some(e) = m.get("envs") {
            if !e.is_object() {
                return Err(why(format!(
                    "entry {i} has `envs` as {}, not an object",
                    json_kind(e)
                )));
            }
        }
        let weight = match m.get("weight") {
            None => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(w) if (0..=100).contains(&w) => Some(w),
                _ => {
                    return Err(why(format!(
                        "entry {i} has weight {n}; a weight is a whole number from 0 to 100"
                    )))
                }
            },
            Some(other) => {
                return Err(why(format!(
                    "entry {i} has `weight` as {}, not a whole number",
                    json_kind(other)
                )))
            }
        };
        weights.push(weight);
        let mut entry = json_to_val(item);
        if let Val::Map(map) = &mut entry {
            // Record what the entry stands for, even where the placeholder supplied it.
            map.insert("model_name".into(), Val::Str(name.as_str().into()));
            map.insert("model_version".into(), Val::Str(version.as_str().into()));
        }
        out.push(entry);
    }
    let given = weights.iter().filter(|w| w.is_some()).count();
    if given == 0 {
        if out.len() > 1 {
            return Err(why(
                "several versions share traffic by weight: give each entry a `weight`, summing to 100"
                    .into(),
            ));
        }
        if let Some(Val::Map(map)) = out.first_mut() {
            map.insert("weight".into(), Val::Int(100));
        }
    } else if let Some(i) = weights.iter().position(Option::is_none) {
        return Err(why(format!(
            "entry {i} has no `weight`; when one entry has a weight, every entry needs one"
        )));
    } else {
        let sum: i64 = weights.iter().flatten().sum();
        if sum != 100 {
            return Err(why(format!("the weights sum to {sum}, not 100")));
        }
    }
    Ok(Val::List(out))
}

// ---- flavors ----

/// A job flavor's value given as text to the placeholder that holds it: a JSON object
/// (`{"flavor_id": ...}`), a JSON string (`"cpu.small"` is the string, without its quotes), or
/// simply the id (`cpu.small`, `pool:flavor`).
pub fn flavor_text(text: &str) -> Val {
    let trimmed = text.trim();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => json_to_val(&v),
        Ok(Value::String(s)) => Val::Str(s.trim().into()),
        _ => Val::Str(trimmed.into()),
    }
}

/// The flavor a job's flavor value names: `id`, or `pool:id` for a resource pool's; or why
/// it names none (an object without a `flavor_id`, a number, ...).
pub fn flavor_ref(v: &Val) -> Result<String, FlavorRefError> {
    const KEYS: [&str; 2] = ["flavor_id", "pool_id"];
    match v {
        Val::Str(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Val::Str(_) => Err(FlavorRefError::Empty),
        Val::Map(m) => {
            let field = |key: &'static str| -> Result<Option<String>, FlavorRefError> {
                match m.get(key) {
                    None | Some(Val::Null) => Ok(None),
                    Some(Val::Str(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                    Some(other) => Err(FlavorRefError::Field {
                        key,
                        got: other.describe(),
                    }),
                }
            };
            let Some(id) = field("flavor_id")? else {
                let unknown: Vec<&str> = m
                    .keys()
                    .map(String::as_str)
                    .filter(|k| !KEYS.contains(k))
                    .collect();
                let hint = unknown
                    .iter()
                    .find_map(|k| {
                        // `flavour`, `flavor`, `flavorId`, `id`: all meant `flavor_id`.
                        crate::diag::did_you_mean(k, ["flavor_id", "flavor", "id"])
                            .map(|_| format!(" (`{k}`: did you mean `flavor_id`?)"))
                    })
                    .unwrap_or_default();
                return Err(FlavorRefError::NoFlavorId { hint });
            };
            Ok(match field("pool_id")? {
                Some(pool) => format!("{pool}:{id}"),
                None => id,
            })
        }
        other => Err(FlavorRefError::NotAFlavor(other.describe())),
    }
}

// ---- the command line and files ----

/// Splits `NAME=VALUE` at the first `=` (values may hold `=`); error if no `=` or empty name.
pub fn split_assignment(text: &str) -> Result<(String, String), ParamError> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(ParamError::NoEquals(text.to_string()));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(ParamError::EmptyName(text.to_string()));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Reads a params file: JSON or TOML (by extension `.json`/`.toml`, else JSON then TOML), a
/// table of name -> value. TOML tables come back in name order (the `toml` crate sorts them).
/// A parameter file holds at most this much.
const MAX_PARAMS_BYTES: u64 = 16 << 20;

/// A parameter file's text: a regular file (a FIFO or a device would never end), bounded.
fn read_params_text(path: &Path) -> Result<String, FileProblem> {
    use std::io::Read;
    let cannot = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => FileProblem::Missing,
        _ => FileProblem::Unreadable(e),
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(FileProblem::NotRegular(super::metrics::file_kind(&meta)));
    }
    let mut bytes = Vec::new();
    super::metrics::open_nonblocking(path)
        .and_then(|f| f.take(MAX_PARAMS_BYTES + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_PARAMS_BYTES {
        return Err(FileProblem::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| FileProblem::NotUtf8)
}

pub fn read_params_file(path: &Path) -> Result<IndexMap<String, Value>, ParamError> {
    let err = |reason: FileProblem| ParamError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = read_params_text(path).map_err(err)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let value = match ext.as_deref() {
        Some("json") => params_json(text).map_err(err)?,
        Some("toml") => params_toml(text).map_err(err)?,
        _ => match params_json(text) {
            Ok(v) => v,
            // Text that opens like a JSON object is JSON gone wrong; say so, not TOML's view.
            Err(e) if text.trim_start().starts_with('{') => return Err(err(e)),
            Err(_) => params_toml(text).map_err(|e| err(FileProblem::Neither(Box::new(e))))?,
        },
    };
    match value {
        Value::Object(m) => Ok(m.into_iter().collect()),
        other => Err(err(FileProblem::NotTable(json_kind(&other)))),
    }
}

fn params_json(text: &str) -> Result<Value, FileProblem> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let msg = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i]);
        FileProblem::NotJson {
            message: msg.to_string(),
            line: e.line(),
            col: e.column(),
        }
    })
}

fn params_toml(text: &str) -> Result<Value, FileProblem> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        FileProblem::NotToml {
            message: e.message().trim().to_string(),
            line,
            col,
        }
    })?;
    toml_to_json(toml::Value::Table(table))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn toml_to_json(v: toml::Value) -> Result<Value, FileProblem> {
    Ok(match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or(FileProblem::Number(x))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        // A date has no parameter type of its own; STR placeholders take its text.
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(toml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Object(
            t.into_iter()
                .map(|(k, v)| toml_to_json(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ClassSpec;
    use crate::model::val::{EnumVal, Span};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn spec(class: &str) -> &'static ClassSpec {
        Catalog::get().class(class).expect("class in catalog")
    }

    fn obj(class: &str, args: Vec<(&'static str, Val)>) -> Obj {
        Obj {
            spec: spec(class),
            args: args.into_iter().collect(),
            at: Span::default(),
            tainted: false,
        }
    }

    fn s(text: &str) -> Val {
        Val::Str(text.into())
    }

    fn ty(name: &str) -> Val {
        let e = Catalog::get().enumeration("PlaceholderType").expect("enum");
        let name = e.values.iter().find(|v| **v == name).expect("type name");
        Val::Enum(EnumVal { ty: e, name })
    }

    fn ph(name: &str, t: &str, more: Vec<(&'static str, Val)>) -> Obj {
        let mut args = vec![("name", s(name)), ("placeholder_type", ty(t))];
        args.extend(more);
        obj("Placeholder", args)
    }

    fn data_ph(class: &str, name: &str, more: Vec<(&'static str, Val)>) -> Obj {
        let mut args = vec![("name", s(name))];
        args.extend(more);
        obj(class, args)
    }

    fn err(r: Result<Val, ParamError>) -> String {
        match r {
            Ok(v) => panic!("accepted: {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The class and string arguments of a built object.
    fn fields(v: &Val) -> (&'static str, Vec<(&'static str, String)>) {
        let o = v.as_obj().expect("an object");
        let args = o
            .args
            .iter()
            .map(|(k, v)| (*k, v.as_str().expect("str arg").to_string()))
            .collect();
        (o.class(), args)
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wf-params-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("write temp file");
        path
    }

    #[test]
    fn built_classes_have_the_fields_used() {
        for (class, f) in [
            ("OBSPath", "obs_path"),
            ("Dataset", "dataset_name"),
            ("Dataset", "version_name"),
            ("LabelTask", "dataset_name"),
            ("LabelTask", "task_name"),
            ("ServiceData", "service_id"),
            ("SWRImage", "swr_path"),
        ] {
            assert!(spec(class).param(f).is_some(), "{class}.{f}");
        }
    }

    #[test]
    fn int() {
        let p = ph("epochs", "INT", vec![]);
        assert_eq!(parse_text(&p, "10").unwrap(), Val::Int(10));
        assert_eq!(parse_text(&p, " -3 ").unwrap(), Val::Int(-3));
        assert_eq!(
            err(parse_text(&p, "ten")),
            "parameter `epochs` takes an INT, got `ten`"
        );
        assert!(err(parse_text(&p, "1.5")).contains("takes an INT"));
        assert_eq!(check_value(&p, &json!(7)).unwrap(), Val::Int(7));
        assert!(err(check_value(&p, &json!(7.5))).contains("not a whole number"));
        assert!(err(check_value(&p, &json!("7")))
            .contains("got `\"7\"`: a string is not accepted here"));
        assert_eq!(describe_expected(&p), "INT");
    }

    #[test]
    fn float() {
        let p = ph("lr", "FLOAT", vec![]);
        assert_eq!(parse_text(&p, "0.01").unwrap(), Val::Float(0.01));
        assert_eq!(parse_text(&p, "2").unwrap(), Val::Float(2.0));
        assert_eq!(parse_text(&p, "1e-3").unwrap(), Val::Float(0.001));
        assert_eq!(
            err(parse_text(&p, "fast")),
            "parameter `lr` takes a FLOAT, got `fast`"
        );
        assert!(parse_text(&p, "NaN").is_err());
        assert!(parse_text(&p, "inf").is_err());
        // Ints are accepted for FLOAT.
        assert_eq!(check_value(&p, &json!(3)).unwrap(), Val::Float(3.0));
        assert_eq!(check_value(&p, &json!(0.5)).unwrap(), Val::Float(0.5));
        assert!(check_value(&p, &json!(true)).is_err());
    }

    #[test]
    fn bool() {
        let p = ph("flag", "BOOL", vec![]);
        for (t, b) in [
            ("true", true),
            ("True", true),
            ("1", true),
            ("false", false),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(parse_text(&p, t).unwrap(), Val::Bool(b), "{t}");
        }
        assert_eq!(
            err(parse_text(&p, "yes")),
            "parameter `flag` takes a BOOL (true or false), got `yes`"
        );
        assert_eq!(check_value(&p, &json!(false)).unwrap(), Val::Bool(false));
        assert!(check_value(&p, &json!(1)).is_err());
    }

    #[test]
    fn str() {
        let p = ph("tag", "STR", vec![]);
        assert_eq!(parse_text(&p, " a b=c ").unwrap(), s(" a b=c "));
        assert_eq!(parse_text(&p, "").unwrap(), s(""));
        assert_eq!(check_value(&p, &json!("x")).unwrap(), s("x"));
        assert_eq!(
            err(check_value(&p, &json!(5))),
            "parameter `tag` takes a STR, got `5`: a number is not accepted here"
        );
    }

    #[test]
    fn enum_of_strings() {
        let p = ph(
            "mode",
            "ENUM",
            vec![("enum_list", Val::List(vec![s("a"), s("b")]))],
        );
        assert_eq!(parse_text(&p, "b").unwrap(), s("b"));
        assert_eq!(
            err(parse_text(&p, "c")),
            "parameter `mode` takes one of `a`, `b`, got `c`"
        );
        assert_eq!(check_value(&p, &json!("a")).unwrap(), s("a"));
        assert_eq!(describe_expected(&p), "ENUM (one of a, b)");
        let empty = ph("mode", "ENUM", vec![]);
        assert!(err(parse_text(&empty, "a")).contains("the list is empty"));
    }

    #[test]
    fn enum_of_ints() {
        let p = ph(
            "batch",
            "ENUM",
            vec![("enum_list", Val::List(vec![Val::Int(16), Val::Int(32)]))],
        );
        assert_eq!(parse_text(&p, "32").unwrap(), Val::Int(32));
        assert_eq!(check_value(&p, &json!(16)).unwrap(), Val::Int(16));
        assert_eq!(check_value(&p, &json!("16")).unwrap(), Val::Int(16));
        assert_eq!(
            err(parse_text(&p, "64")),
            "parameter `batch` takes one of `16`, `32`, got `64`"
        );
    }

    #[test]
    fn json() {
        let p = ph("cfg", "JSON", vec![]);
        let v = parse_text(&p, r#"{"a": 1, "b": [2.5, "x", null, true]}"#).unwrap();
        let Val::Map(m) = &v else { panic!("{v:?}") };
        assert_eq!(m["a"], Val::Int(1));
        assert_eq!(
            m["b"],
            Val::List(vec![Val::Float(2.5), s("x"), Val::Null, Val::Bool(true)])
        );
        assert_eq!(parse_text(&p, "[1]").unwrap(), Val::List(vec![Val::Int(1)]));
        let e = err(parse_text(&p, "{a: 1}"));
        assert!(
            e.starts_with("parameter `cfg` takes JSON text (an object or array), got `{a: 1}`: not JSON: key must be a string at 1:2"),
            "{e}"
        );
        assert!(err(parse_text(&p, "5")).contains("a number is not a JSON object or array"));
        assert_eq!(
            check_value(&p, &json!({"k": "v"})).unwrap(),
            parse_text(&p, r#"{"k":"v"}"#).unwrap()
        );
        // JSON text inside a string, as TOML files may hold it.
        assert_eq!(
            check_value(&p, &json!(r#"{"k":"v"}"#)).unwrap(),
            parse_text(&p, r#"{"k":"v"}"#).unwrap()
        );
    }

    #[test]
    fn lists_of_each_format() {
        let list = |f: &str| ph("xs", "LIST", vec![("placeholder_format", s(f))]);
        assert_eq!(
            parse_text(&list("int"), "[1, 2]").unwrap(),
            Val::List(vec![Val::Int(1), Val::Int(2)])
        );
        assert_eq!(
            parse_text(&list("float"), "[1, 2.5]").unwrap(),
            Val::List(vec![Val::Float(1.0), Val::Float(2.5)])
        );
        assert_eq!(
            parse_text(&list("str"), r#"["a"]"#).unwrap(),
            Val::List(vec![s("a")])
        );
        assert_eq!(
            parse_text(&list("bool"), "[true, false]").unwrap(),
            Val::List(vec![Val::Bool(true), Val::Bool(false)])
        );
        assert_eq!(parse_text(&list("int"), "[]").unwrap(), Val::List(vec![]));

        let e = err(parse_text(&list("int"), "[1, 2.5]"));
        assert_eq!(
            e,
            "parameter `xs` takes a LIST of int, got `[1, 2.5]`: item 1 (`2.5`) is not an int"
        );
        assert!(err(parse_text(&list("str"), "[1]")).contains("item 0 (`1`) is not a str"));
        assert!(err(parse_text(&list("bool"), "[1]")).contains("is not a bool"));
        assert!(err(parse_text(&list("float"), r#"["x"]"#)).contains("is not a float"));
        let e = err(parse_text(&list("int"), "1,2"));
        assert!(
            e.contains("not JSON") && e.contains("write a JSON array such as [1, 2]"),
            "{e}"
        );
        assert!(
            err(parse_text(&list("int"), r#"{"a": 1}"#)).contains("an object is not a JSON array")
        );
        assert_eq!(describe_expected(&list("int")), "LIST of int");

        // Without a format, any items.
        let any = ph("xs", "LIST", vec![]);
        assert_eq!(
            parse_text(&any, r#"[1, "a"]"#).unwrap(),
            Val::List(vec![Val::Int(1), s("a")])
        );
        // Typed values and JSON text in a string.
        assert_eq!(
            check_value(&list("int"), &json!([3])).unwrap(),
            Val::List(vec![Val::Int(3)])
        );
        assert_eq!(
            check_value(&list("int"), &json!("[3]")).unwrap(),
            Val::List(vec![Val::Int(3)])
        );
        assert!(check_value(&list("int"), &json!(["3"])).is_err());
    }

    #[test]
    fn null_only_when_not_required() {
        let p = ph("opt", "INT", vec![("required", Val::Bool(false))]);
        assert_eq!(check_value(&p, &Value::Null).unwrap(), Val::Null);
        let p = ph("req", "INT", vec![]);
        assert_eq!(
            err(check_value(&p, &Value::Null)),
            "parameter `req` takes an INT, got `null`: it is required"
        );
    }

    #[test]
    fn obs_placeholder() {
        let p = data_ph(
            "OBSPlaceholder",
            "data",
            vec![("object_type", s("directory"))],
        );
        let v = parse_text(&p, "obs://bucket/train/").unwrap();
        assert_eq!(
            fields(&v),
            ("OBSPath", vec![("obs_path", "obs://bucket/train/".into())])
        );
        assert_eq!(describe_expected(&p), "OBS directory path");
        assert_eq!(
            err(parse_text(&p, " ")),
            "parameter `data` takes an OBS directory path, got ` `: the path is empty"
        );
        let f = data_ph("OBSPlaceholder", "file", vec![("object_type", s("file"))]);
        assert_eq!(describe_expected(&f), "OBS file path");
        // Typed: a string, or the object's fields.
        assert_eq!(
            check_value(&p, &json!("/data")).unwrap(),
            parse_text(&p, "/data").unwrap()
        );
        assert_eq!(
            check_value(&p, &json!({"obs_path": "/data"})).unwrap(),
            parse_text(&p, "/data").unwrap()
        );
        assert_eq!(
            check_value(
                &p,
                &json!({"$class": "wf.data.OBSPath", "at": "s.rhai:1:1", "obs_path": "/data"})
            )
            .unwrap(),
            parse_text(&p, "/data").unwrap()
        );
        assert!(err(check_value(&p, &json!({"path": "/data"})))
            .contains("unknown field `path`; `OBSPath` takes `obs_path`"));
        assert!(err(check_value(
            &p,
            &json!({"$class": "wf.data.Dataset", "obs_path": "/d"})
        ))
        .contains("not `OBSPath`"));
        assert!(err(check_value(&p, &json!(5))).contains("a number is not accepted here"));
    }

    #[test]
    fn dataset_placeholder() {
        let p = data_ph("DatasetPlaceholder", "ds", vec![]);
        assert_eq!(
            fields(&parse_text(&p, "flowers").unwrap()),
            ("Dataset", vec![("dataset_name", "flowers".into())])
        );
        assert_eq!(
            fields(&parse_text(&p, "flowers@V002").unwrap()),
            (
                "Dataset",
                vec![
                    ("dataset_name", "flowers".into()),
                    ("version_name", "V002".into())
                ]
            )
        );
        assert_eq!(
            err(parse_text(&p, "flowers@")),
            "parameter `ds` takes a dataset name[@version], got `flowers@`: the version after `@` is empty"
        );
        assert!(err(parse_text(&p, "@V1")).contains("the dataset name is empty"));
        assert!(err(parse_text(&p, "a@b@c")).contains("more than one `@`"));
        assert_eq!(
            check_value(
                &p,
                &json!({"dataset_name": "flowers", "version_name": "V002"})
            )
            .unwrap(),
            parse_text(&p, "flowers@V002").unwrap()
        );
        assert!(err(check_value(&p, &json!({"version_name": "V1"})))
            .contains("`dataset_name` is missing"));
        assert!(err(check_value(&p, &json!({"dataset_name": 3})))
            .contains("`dataset_name` is a number, not a string"));
    }

    #[test]
    fn label_task_placeholder() {
        let p = data_ph("LabelTaskPlaceholder", "task", vec![]);
        assert_eq!(
            fields(&parse_text(&p, "flowers/round1").unwrap()),
            (
                "LabelTask",
                vec![
                    ("dataset_name", "flowers".into()),
                    ("task_name", "round1".into())
                ]
            )
        );
        assert_eq!(
            err(parse_text(&p, "flowers")),
            "parameter `task` takes a labeling task dataset/task, got `flowers`: write the dataset, `/`, then the task"
        );
        assert!(err(parse_text(&p, "flowers/")).contains("both the dataset and the task"));
        assert!(err(parse_text(&p, "/t")).contains("both the dataset and the task"));
        assert!(err(parse_text(&p, "a/b/c")).contains("more than one `/`"));
    }

    #[test]
    fn service_and_image_placeholders() {
        let p = data_ph("ServiceUpdatePlaceholder", "svc", vec![]);
        assert_eq!(
            fields(&parse_text(&p, "svc-123").unwrap()),
            ("ServiceData", vec![("service_id", "svc-123".into())])
        );
        assert_eq!(
            err(parse_text(&p, "")),
            "parameter `svc` takes a service id, got ``: it is empty"
        );
        assert!(err(parse_text(&p, "a b")).contains("it holds spaces"));
        let i = data_ph("SWRImagePlaceholder", "img", vec![]);
        assert_eq!(
            fields(&parse_text(&i, "swr.example.com/org/app:1.0").unwrap()),
            (
                "SWRImage",
                vec![("swr_path", "swr.example.com/org/app:1.0".into())]
            )
        );
        assert_eq!(describe_expected(&i), "SWR image path");
        assert!(err(parse_text(&i, "")).starts_with("parameter `img` takes an SWR image path"));
        assert_eq!(
            check_value(&i, &json!({"swr_path": "a:1"})).unwrap(),
            parse_text(&i, "a:1").unwrap()
        );
    }

    #[test]
    fn data_selector() {
        let both = data_ph(
            "DataSelector",
            "sel",
            vec![("data_type_list", Val::List(vec![s("obs"), s("dataset")]))],
        );
        for t in ["obs://b/k", "./data", "/abs", "rel/dir"] {
            assert_eq!(fields(&parse_text(&both, t).unwrap()).0, "OBSPath", "{t}");
        }
        assert_eq!(
            fields(&parse_text(&both, "flowers@V1").unwrap()).0,
            "Dataset"
        );
        assert_eq!(
            describe_expected(&both),
            "OBS path or dataset name[@version]"
        );
        let obs_only = data_ph(
            "DataSelector",
            "sel",
            vec![("data_type_list", Val::List(vec![s("obs")]))],
        );
        assert_eq!(
            fields(&parse_text(&obs_only, "flowers").unwrap()).0,
            "OBSPath"
        );
        let ds_only = data_ph(
            "DataSelector",
            "sel",
            vec![("data_type_list", Val::List(vec![s("dataset")]))],
        );
        assert_eq!(
            fields(&parse_text(&ds_only, "flowers").unwrap()).0,
            "Dataset"
        );
        assert!(err(parse_text(&both, "@v"))
            .starts_with("parameter `sel` takes an OBS path or dataset name[@version]"));
        assert_eq!(
            fields(&check_value(&both, &json!({"obs_path": "/x"})).unwrap()).0,
            "OBSPath"
        );
        assert_eq!(
            fields(&check_value(&both, &json!({"dataset_name": "d"})).unwrap()).0,
            "Dataset"
        );
    }

    fn service(model: Option<&str>) -> Obj {
        let mut more = vec![];
        if let Some(m) = model {
            more.push(("model_name", s(m)));
        } else {
            more.push(("model_name", Val::Obj(ph("model", "STR", vec![]).into())));
        }
        data_ph("ServiceInputPlaceholder", "models", more)
    }

    #[test]
    fn service_models_good() {
        let p = service(Some("m"));
        let v = parse_text(
            &p,
            r#"[{"model_name": "m", "model_version": "v1", "specification": "cpu", "weight": 60},
                {"model_name": "m", "model_version": "v2", "weight": 40, "envs": {"A": "1"}}]"#,
        )
        .unwrap();
        let Val::List(items) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(items.len(), 2);
        let Val::Map(first) = &items[0] else { panic!() };
        assert_eq!(first["weight"], Val::Int(60));
        assert_eq!(first["specification"], s("cpu"));

        // A single entry without weight gets 100; fixed name may be left out.
        let v = parse_text(&p, r#"[{"model_version": "v1"}]"#).unwrap();
        let Val::List(items) = &v else { panic!() };
        let Val::Map(only) = &items[0] else { panic!() };
        assert_eq!(only["weight"], Val::Int(100));
        assert_eq!(only["model_name"], s("m"));

        // Typed, and with a placeholder model name (not checked here).
        let any = service(None);
        assert!(check_value(&any, &json!([{"model_name": "x", "model_version": "1"}])).is_ok());
        assert!(
            describe_expected(&p).starts_with(r#"JSON list of service models [{"model_name": "m""#)
        );
    }

    #[test]
    fn service_models_rules() {
        let p = service(Some("m"));
        let e = |t: &str| err(parse_text(&p, t));
        let m = e(r#"{"model_name": "m", "model_version": "v1"}"#);
        assert!(
            m.starts_with("parameter `models` takes a JSON list of service models"),
            "{m}"
        );
        assert!(
            m.ends_with("an object is not a JSON list; the list's `[` and `]` are required"),
            "{m}"
        );
        assert!(e("[]").contains("the list is empty"));
        assert!(e("[1]").contains("entry 0 is a number, not an object"));
        assert!(e("[{").contains("not JSON"));
        let any = service(None);
        assert!(err(parse_text(&any, r#"[{"model_version": "v1"}]"#))
            .contains("entry 0 has no `model_name`"));
        assert!(e(r#"[{"model_name": "m"}]"#).contains("entry 0 has no `model_version`"));
        assert!(e(r#"[{"model_name": "x", "model_version": "v1"}]"#)
            .contains("entry 0 has model_name `x`, but this input deploys `m`"));
        assert!(err(parse_text(
            &any,
            r#"[{"model_name": "a", "model_version": "v1", "weight": 50}, {"model_name": "b", "model_version": "v2", "weight": 50}]"#
        ))
        .contains("entry 1 has model_name `b` but entry 0 has `a`"));
        assert!(e(
            r#"[{"model_version": "v1", "weight": 50}, {"model_version": "v1", "weight": 50}]"#
        )
        .contains("entries 0 and 1 both have model_version `v1`"));
        assert!(e(
            r#"[{"model_version": "v1", "weight": 50}, {"model_version": "v2", "weight": 30}]"#
        )
        .contains("the weights sum to 80, not 100"));
        assert!(
            e(r#"[{"model_version": "v1", "weight": 100}, {"model_version": "v2"}]"#).contains(
                "entry 1 has no `weight`; when one entry has a weight, every entry needs one"
            )
        );
        assert!(e(r#"[{"model_version": "v1"}, {"model_version": "v2"}]"#)
            .contains("give each entry a `weight`, summing to 100"));
        assert!(e(r#"[{"model_version": "v1", "weight": 50.5}]"#)
            .contains("a weight is a whole number from 0 to 100"));
        assert!(e(r#"[{"model_version": "v1", "weight": "100"}]"#).contains("`weight` as a string"));
        assert!(
            e(r#"[{"model_version": "v1", "weight": 100, "specification": 1}]"#)
                .contains("`specification` as a number")
        );
        assert!(e(r#"[{"model_version": "v1", "weight": 100, "envs": []}]"#)
            .contains("`envs` as an array"));
        // A long value is shortened in the message.
        let long = format!(
            r#"[{{"model_version": "v1", "weight": 1, "specification": "{}"}}]"#,
            "x".repeat(200)
        );
        assert!(e(&long).contains("…`: the weights sum to 1"));
    }

    #[test]
    fn not_a_placeholder() {
        let o = obj("OBSPath", vec![("obs_path", s("/x"))]);
        assert!(err(parse_text(&o, "1")).contains("is not a placeholder class"));
        let broken = obj("Placeholder", vec![("name", s("p"))]);
        assert_eq!(
            err(parse_text(&broken, "1")),
            "parameter `p` cannot take a value: it has no `placeholder_type`"
        );
    }

    #[test]
    fn placeholder_type_as_text() {
        // Definitions read back may hold the type's name.
        let p = obj(
            "Placeholder",
            vec![("name", s("n")), ("placeholder_type", s("INT"))],
        );
        assert_eq!(parse_text(&p, "4").unwrap(), Val::Int(4));
    }

    #[test]
    fn split() {
        assert_eq!(split_assignment("a=1").unwrap(), ("a".into(), "1".into()));
        assert_eq!(
            split_assignment("cfg={\"k\":\"a=b\"}").unwrap(),
            ("cfg".into(), "{\"k\":\"a=b\"}".into())
        );
        assert_eq!(split_assignment("s=").unwrap(), ("s".into(), "".into()));
        assert_eq!(
            split_assignment("epochs").unwrap_err().to_string(),
            "`-p` value `epochs` has no `=`: write NAME=VALUE"
        );
        assert_eq!(
            split_assignment("=5").unwrap_err().to_string(),
            "`-p` value `=5` has no name before `=`: write NAME=VALUE"
        );
    }

    /// Each way a flavor value names no flavor is told in full.
    #[test]
    fn flavor_values_that_name_no_flavor() {
        let map = |pairs: &[(&str, Val)]| {
            Val::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            )
        };
        assert_eq!(
            flavor_ref(&Val::Str(" cpu.small ".into())).unwrap(),
            "cpu.small"
        );
        let pooled = map(&[
            ("flavor_id", Val::Str("cpu-2".into())),
            ("pool_id", Val::Str("ray".into())),
        ]);
        assert_eq!(flavor_ref(&pooled).unwrap(), "ray:cpu-2");
        let cases = [
            (
                Val::Str("  ".into()),
                "the flavor is empty; give a flavor id such as `cpu.small`",
            ),
            (
                map(&[("flavor_id", Val::Int(3))]),
                "`flavor_id` is int (3), not a flavor id such as \"cpu.small\"",
            ),
            (
                map(&[("flavour", Val::Str("cpu.small".into()))]),
                "the flavor object has no `flavor_id` (`flavour`: did you mean `flavor_id`?); write {\"flavor_id\": \"cpu.small\"} or just the id",
            ),
            (
                Val::Int(2),
                "the flavor is int (2), not a flavor id or {\"flavor_id\": ...}",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(flavor_ref(&v).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn params_file_json() {
        let p = temp_file(
            "p.json",
            r#"{"epochs": 5, "lr": 0.1, "data": "/d", "cfg": {"a": [1]}}"#,
        );
        let m = read_params_file(&p).unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["epochs", "lr", "data", "cfg"]
        );
        assert_eq!(m["cfg"], json!({"a": [1]}));
        let _ = std::fs::remove_file(p);

        let p = temp_file("bad.json", "{\"a\": }");
        let e = read_params_file(&p).unwrap_err().to_string();
        assert!(e.contains("is not JSON: ") && e.ends_with("at 1:7"), "{e}");
        let _ = std::fs::remove_file(p);

        let p = temp_file("arr.json", "[1]");
        let e = read_params_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("holds an array; it must be a table of NAME = VALUE"),
            "{e}"
        );
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn params_file_toml() {
        let p = temp_file(
            "p.toml",
            "epochs = 5\nlr = 0.5\nflag = true\nxs = [1, 2]\nwhen = 2024-01-02\n[cfg]\na = \"b\"\n",
        );
        let m = read_params_file(&p).unwrap();
        assert_eq!(m["epochs"], json!(5));
        assert_eq!(m["lr"], json!(0.5));
        assert_eq!(m["flag"], json!(true));
        assert_eq!(m["xs"], json!([1, 2]));
        assert_eq!(m["when"], json!("2024-01-02"));
        assert_eq!(m["cfg"], json!({"a": "b"}));
        let _ = std::fs::remove_file(p);

        let p = temp_file("bad.toml", "a = 1\nb = \n");
        let e = read_params_file(&p).unwrap_err().to_string();
        assert!(e.contains("is not TOML: ") && e.contains(" at 2:"), "{e}");
        let _ = std::fs::remove_file(p);

        let p = temp_file("nan.toml", "x = nan\n");
        assert!(read_params_file(&p)
            .unwrap_err()
            .to_string()
            .contains("cannot take"));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn params_file_without_extension() {
        let p = temp_file("params", r#"{"a": 1}"#);
        assert_eq!(read_params_file(&p).unwrap()["a"], json!(1));
        let _ = std::fs::remove_file(p);
        let p = temp_file("params", "a = 1\n");
        assert_eq!(read_params_file(&p).unwrap()["a"], json!(1));
        let _ = std::fs::remove_file(p);
        let p = temp_file("params", "{\"a\": 1,}");
        assert!(read_params_file(&p)
            .unwrap_err()
            .to_string()
            .contains("is not JSON"));
        let _ = std::fs::remove_file(p);
        let p = temp_file("params", "a ==\n");
        assert!(read_params_file(&p)
            .unwrap_err()
            .to_string()
            .contains("is neither JSON nor TOML; as TOML it is not TOML"));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn params_file_missing_or_binary() {
        let p = std::env::temp_dir().join("wf-params-surely-missing-91c/p.json");
        let e = read_params_file(&p).unwrap_err().to_string();
        assert!(
            e.starts_with("parameters file `") && e.ends_with("` does not exist"),
            "{e}"
        );
        let p = temp_file("bin.json", "");
        std::fs::write(&p, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_params_file(&p)
            .unwrap_err()
            .to_string()
            .contains("is not UTF-8 text"));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn file_values_check_against_placeholders() {
        let p = temp_file("mix.toml", "epochs = \"ten\"\n");
        let m = read_params_file(&p).unwrap();
        let epochs = ph("epochs", "INT", vec![]);
        assert_eq!(
            err(check_value(&epochs, &m["epochs"])),
            "parameter `epochs` takes an INT, got `\"ten\"`: a string is not accepted here"
        );
        let _ = std::fs::remove_file(p);
    }
}
