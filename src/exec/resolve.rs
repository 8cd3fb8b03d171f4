//! What the values of a step's definition stand for in one execution: placeholders become
//! their values, storages and OBS paths local paths, consumed outputs the producer's paths,
//! metrics numbers; and a condition's truth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::datasets::DataRef;
use crate::model::status::Status;
use crate::model::val::{Obj, Val};
use crate::model::workflow::value_key;
use crate::store::StepRow;

/// What an earlier step left for later ones.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    pub status: Option<Status>,
    /// output name -> `{"path": ...}` (and other fields for services later)
    pub outputs: IndexMap<String, Value>,
    /// float metrics by key
    pub metrics: IndexMap<String, f64>,
    /// the backend's detail (a condition's `result`)
    pub detail: Map<String, Value>,
    /// which execution produced it, when it was reused from an earlier one
    pub from_execution: Option<String>,
}

impl Produced {
    /// What a step left, as its record holds it.
    pub fn from_row(row: &StepRow, from_execution: Option<String>) -> Produced {
        Produced {
            status: Some(row.status),
            outputs: row
                .outputs
                .as_ref()
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            metrics: row
                .metrics
                .as_ref()
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                        .collect()
                })
                .unwrap_or_default(),
            detail: row.detail.clone(),
            from_execution,
        }
    }

    /// A condition step's result, once it executed.
    pub fn result(&self) -> Option<bool> {
        self.detail.get("result").and_then(Value::as_bool)
    }
}

pub struct Ctx<'a> {
    pub exec_id: &'a str,
    pub home: &'a Path,
    pub base_dir: &'a Path,
    pub params: &'a HashMap<String, Val>,
    pub storages: &'a HashMap<String, PathBuf>,
    pub produced: &'a HashMap<String, Produced>,
}

pub type R<T> = Result<T, String>;

impl Ctx<'_> {
    /// A path written in a script: `obs://bucket/key` maps into the home's object folder,
    /// relative paths are relative to the script's folder.
    pub fn local_path(&self, text: &str) -> PathBuf {
        if let Some(rest) = text.strip_prefix("obs://") {
            return self.home.join("obs").join(rest.trim_start_matches('/'));
        }
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The value of a placeholder, or the value itself.
    pub fn value(&self, v: &Val) -> R<Val> {
        match v {
            Val::Obj(o) if o.is_placeholder() => match self.params.get(&value_key(o)) {
                Some(x) => Ok(x.clone()),
                None => Err(format!("parameter `{}` has no value", o.name())),
            },
            other => Ok(other.clone()),
        }
    }

    fn storage_root(&self, storage: &Obj) -> R<PathBuf> {
        self.storages.get(storage.name()).cloned().ok_or_else(|| {
            format!(
                "storage `{}` has no root; give --storage {}=DIR",
                storage.name(),
                storage.name()
            )
        })
    }

    /// A local path for a path-like value, always absolute: a job runs in its code folder,
    /// not in the folder `wf` was started in (a relative `--home` or storage root).
    pub fn path(&self, v: &Val) -> R<PathBuf> {
        let p = self.path_as_given(v)?;
        Ok(if p.is_absolute() {
            p
        } else {
            std::path::absolute(&p).unwrap_or(p)
        })
    }

    fn path_as_given(&self, v: &Val) -> R<PathBuf> {
        match v {
            Val::Str(s) => Ok(self.local_path(s)),
            Val::Obj(o) => match o.class() {
                "StoragePath" => {
                    let storage = o
                        .arg("storage")
                        .and_then(Val::as_obj)
                        .ok_or("a storage path without its storage")?;
                    let mut p = self.storage_root(storage)?;
                    if o.arg("with_execution_id").and_then(Val::as_bool) == Some(true) {
                        p.push(self.exec_id);
                    }
                    let dir = o.str_arg("directory").unwrap_or("");
                    if !dir.is_empty() {
                        p.push(dir);
                    }
                    Ok(p)
                }
                "Storage" | "InputStorage" => self.storage_root(o),
                "OutputStorage" => Ok(self.storage_root(o)?.join(self.exec_id)),
                "OBSPath" => self.path(o.arg("obs_path").unwrap_or(&Val::Null)),
                "OBSConsumption"
                | "DatasetConsumption"
                | "LabelTaskConsumption"
                | "ModelConsumption" => match self.data_ref(v)? {
                    Some(r) => self.data_folder(&r),
                    None => self.consumed_path(o),
                },
                "DataConsumptionSelector" => self.path(&Val::Obj(self.select(o)?)),
                _ if o.is_placeholder() => self.path(&self.value(v)?),
                "Dataset" | "LabelTask" => match self.data_ref(v)? {
                    Some(r) => self.data_folder(&r),
                    None => Err(format!("a `{}` without its dataset", o.class())),
                },
                other => Err(format!("a `{other}` is not a path")),
            },
            other => Err(format!("{} is not a path", other.describe())),
        }
    }

    /// The dataset, version or labeling task a value names: a `Dataset` or `LabelTask`
    /// (written, or a placeholder's value), or the output of a step that produced one.
    /// `None` for anything else (an OBS path).
    pub fn data_ref(&self, v: &Val) -> R<Option<DataRef>> {
        let Val::Obj(o) = v else { return Ok(None) };
        let named = |key: &str| -> R<Option<String>> {
            match o.arg(key) {
                None | Some(Val::Null) => Ok(None),
                Some(x) => {
                    let t = self.text(x)?;
                    Ok((!t.is_empty()).then_some(t))
                }
            }
        };
        match o.class() {
            _ if o.is_placeholder() => self.data_ref(&self.value(v)?),
            "Dataset" | "LabelTask" => {
                let dataset = named("dataset_name")?.ok_or("a dataset without `dataset_name`")?;
                Ok(Some(DataRef {
                    dataset,
                    version: named("version_name")?,
                    task: named("task_name")?,
                }))
            }
            "DataConsumptionSelector" => self.data_ref(&Val::Obj(self.select(o)?)),
            _ if o.is_consumption() && o.class() != "OutputVariable" => {
                let (step, output, p) = self.producer(o)?;
                let Some(d) = p.outputs.get(output).and_then(|x| x.get("dataset")) else {
                    if o.is("DatasetConsumption") || o.is("LabelTaskConsumption") {
                        return Err(format!(
                            "step `{step}` left no dataset as its output `{output}`"
                        ));
                    }
                    return Ok(None);
                };
                let s = |k: &str| d.get(k).and_then(Value::as_str).map(String::from);
                Ok(Some(DataRef {
                    dataset: s("dataset_name").ok_or_else(|| {
                        format!("the dataset output `{output}` of step `{step}` has no name")
                    })?,
                    version: s("version_name"),
                    task: s("task_name"),
                }))
            }
            _ => Ok(None),
        }
    }

    /// The folder a job is given for a dataset (README, "Datasets").
    fn data_folder(&self, r: &DataRef) -> R<PathBuf> {
        let store = crate::store::Store::open(self.home).map_err(|e| e.to_string())?;
        crate::datasets::job_folder(&store, r).map_err(|e| e.to_string())
    }

    fn producer<'o>(&self, o: &'o Obj) -> R<(&'o str, &'o str, &Produced)> {
        let step = o.str_arg("step").unwrap_or("");
        let output = o.str_arg("output").unwrap_or("");
        let p = self.produced.get(step).ok_or_else(|| {
            format!("step `{step}` has not run, so its output `{output}` is not there")
        })?;
        Ok((step, output, p))
    }

    fn consumed_path(&self, o: &Obj) -> R<PathBuf> {
        let (step, output, p) = self.producer(o)?;
        match p
            .outputs
            .get(output)
            .and_then(|v| v.get("path"))
            .and_then(Value::as_str)
        {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(format!("step `{step}` left no output `{output}`")),
        }
    }

    /// The one output of a `DataConsumptionSelector` whose step executed.
    pub fn select(&self, sel: &Obj) -> R<std::sync::Arc<Obj>> {
        let items = sel.arg("data_list").map(Val::items).unwrap_or_default();
        let executed: Vec<&std::sync::Arc<Obj>> = items
            .iter()
            .filter_map(Val::as_obj)
            .filter(|o| {
                o.str_arg("step")
                    .and_then(|s| self.produced.get(s))
                    .is_some_and(|p| p.status == Some(Status::Executed))
            })
            .collect();
        let names: Vec<String> = items
            .iter()
            .filter_map(Val::as_obj)
            .map(|o| format!("`{}`", o.str_arg("step").unwrap_or("")))
            .collect();
        match executed.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!(
                "the data selector has no output to take: none of {} executed",
                names.join(", ")
            )),
            many => Err(format!(
                "the data selector has {} outputs to choose from ({}): exactly one of its steps must execute",
                many.len(),
                many.iter().map(|o| format!("`{}`", o.str_arg("step").unwrap_or(""))).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// A value as text for a command-line argument or an environment variable.
    pub fn text(&self, v: &Val) -> R<String> {
        match v {
            Val::Null => Ok(String::new()),
            Val::Bool(b) => Ok(b.to_string()),
            Val::Int(i) => Ok(i.to_string()),
            Val::Float(f) => Ok(f.to_string()),
            Val::Str(s) => Ok(s.to_string()),
            Val::Enum(e) => Ok(e.name.to_string()),
            Val::List(_) | Val::Map(_) => {
                Ok(serde_json::to_string(&self.json(v)?).unwrap_or_default())
            }
            Val::StepRef(n, _) => Ok(n.to_string()),
            Val::Obj(o) => match o.class() {
                _ if o.is_placeholder() => self.text(&self.value(v)?),
                "OutputVariable" => {
                    let (step, _, p) = self.producer(o)?;
                    let var = o.str_arg("variable").unwrap_or("");
                    p.outputs
                        .values()
                        .find_map(|x| x.get(var).and_then(Value::as_str).map(str::to_string))
                        .ok_or_else(|| format!("step `{step}` has no output variable `{var}`"))
                }
                "SystemEnv" => Ok(std::env::var(o.str_arg("name").unwrap_or(""))
                    .unwrap_or_else(|_| o.str_arg("default").unwrap_or("").to_string())),
                _ => Ok(self.path(v)?.to_string_lossy().into_owned()),
            },
        }
    }

    /// A value as JSON, placeholders replaced.
    pub fn json(&self, v: &Val) -> R<Value> {
        Ok(match v {
            Val::List(items) => Value::Array(items.iter().map(|x| self.json(x)).collect::<R<_>>()?),
            Val::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), self.json(x)?)))
                    .collect::<R<_>>()?,
            ),
            Val::Obj(o) if o.is_placeholder() => self.json(&self.value(v)?)?,
            Val::Obj(_) => Value::String(self.text(v)?),
            other => crate::model::definition::val_to_json(other),
        })
    }

    /// The truth of a condition (ARCHITECTURE.md, "Decisions").
    pub fn condition(&self, c: &Obj) -> R<bool> {
        let op = match c.arg("condition_type") {
            Some(Val::Enum(e)) => e.name,
            _ => return Err("a condition without `condition_type`".into()),
        };
        let left = c.arg("left").unwrap_or(&Val::Null);
        let right = c.arg("right").unwrap_or(&Val::Null);
        if op == "OR" {
            let side = |v: &Val| match v {
                Val::Obj(o) if o.is("Condition") => self.condition(o),
                other => Err(format!(
                    "an `OR` condition joins conditions, not {}",
                    other.describe()
                )),
            };
            return Ok(side(left)? || side(right)?);
        }
        let l = self.operand(left)?;
        let r = self.operand(right)?;
        match op {
            "EQ" => equal(&l, &r),
            "NOT" => equal(&l, &r).map(|b| !b),
            "IN" => match &r {
                Operand::List(items) => {
                    for item in items {
                        if equal(&l, item)? {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                }
                Operand::Str(s) => match &l {
                    Operand::Str(x) => Ok(s.contains(x.as_str())),
                    other => Err(format!("`IN` looks for {} in a string", other.kind())),
                },
                other => Err(format!(
                    "`IN` needs a sequence on the right, got {}",
                    other.kind()
                )),
            },
            "GT" | "GTE" | "LT" | "LTE" => {
                let ord = order(&l, &r)?;
                Ok(match op {
                    "GT" => ord.is_gt(),
                    "GTE" => ord.is_ge(),
                    "LT" => ord.is_lt(),
                    _ => ord.is_le(),
                })
            }
            other => Err(format!("unknown condition type `{other}`")),
        }
    }

    fn operand(&self, v: &Val) -> R<Operand> {
        Ok(match v {
            Val::Null => Operand::Null,
            Val::Bool(b) => Operand::Bool(*b),
            Val::Int(i) => Operand::Num(*i as f64),
            Val::Float(f) => Operand::Num(*f),
            Val::Str(s) => Operand::Str(s.to_string()),
            Val::Enum(e) => Operand::Str(e.name.to_string()),
            Val::List(items) => {
                Operand::List(items.iter().map(|x| self.operand(x)).collect::<R<_>>()?)
            }
            Val::Map(_) | Val::StepRef(..) => {
                return Err(format!("a condition cannot compare {}", v.describe()))
            }
            Val::Obj(o) => match o.class() {
                "Condition" => Operand::Bool(self.condition(o)?),
                "MetricInfo" => {
                    let input = o
                        .arg("input_data")
                        .and_then(Val::as_obj)
                        .ok_or("a MetricInfo without `input_data`")?;
                    let (step, _, p) = self.producer(input)?;
                    let key = o.str_arg("json_key").unwrap_or("");
                    match p.metrics.get(key) {
                        Some(x) => Operand::Num(*x),
                        None => {
                            let known: Vec<&str> = p.metrics.keys().map(String::as_str).collect();
                            return Err(format!(
                                "metric `{key}` is not among the float metrics of step `{step}` ({})",
                                if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) }
                            ));
                        }
                    }
                }
                _ if o.is_placeholder() => self.operand(&self.value(v)?)?,
                other => return Err(format!("a condition cannot compare a `{other}`")),
            },
        })
    }
}

#[derive(Debug, Clone)]
enum Operand {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Operand>),
}

impl Operand {
    fn kind(&self) -> &'static str {
        match self {
            Operand::Null => "nothing",
            Operand::Bool(_) => "a bool",
            Operand::Num(_) => "a number",
            Operand::Str(_) => "a string",
            Operand::List(_) => "a list",
        }
    }
}

fn equal(a: &Operand, b: &Operand) -> R<bool> {
    Ok(match (a, b) {
        (Operand::Num(x), Operand::Num(y)) => x == y,
        (Operand::Str(x), Operand::Str(y)) => x == y,
        (Operand::Bool(x), Operand::Bool(y)) => x == y,
        (Operand::Null, Operand::Null) => true,
        (Operand::List(x), Operand::List(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (p, q) in x.iter().zip(y) {
                if !equal(p, q)? {
                    return Ok(false);
                }
            }
            true
        }
        (x, y) => {
            return Err(format!(
                "a condition cannot compare {} with {}",
                x.kind(),
                y.kind()
            ))
        }
    })
}

fn order(a: &Operand, b: &Operand) -> R<std::cmp::Ordering> {
    match (a, b) {
        (Operand::Num(x), Operand::Num(y)) => x
            .partial_cmp(y)
            .ok_or_else(|| "cannot order NaN".to_string()),
        (Operand::Str(x), Operand::Str(y)) => Ok(x.cmp(y)),
        (x, y) => Err(format!(
            "a condition cannot order {} against {}",
            x.kind(),
            y.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::model::val::{EnumVal, Span};
    use std::sync::Arc;

    fn obj(class: &str, args: Vec<(&'static str, Val)>) -> Val {
        Val::Obj(Arc::new(Obj {
            spec: Catalog::get().class(class).expect("class in catalog"),
            args: args.into_iter().collect(),
            at: Span::default(),
            tainted: false,
        }))
    }

    fn op(name: &str) -> Val {
        let e = Catalog::get()
            .enumeration("ConditionTypeEnum")
            .expect("enum");
        let name = e.values.iter().find(|v| **v == name).expect("operator");
        Val::Enum(EnumVal { ty: e, name })
    }

    fn cond(operator: &str, left: Val, right: Val) -> Val {
        obj(
            "Condition",
            vec![
                ("condition_type", op(operator)),
                ("left", left),
                ("right", right),
            ],
        )
    }

    fn s(text: &str) -> Val {
        Val::Str(text.into())
    }

    fn list(items: Vec<Val>) -> Val {
        Val::List(items)
    }

    /// Evaluates `c` with `lr = 0.01` set and step `train` having reported accuracy 0.9.
    fn eval(c: &Val) -> R<bool> {
        let mut params = HashMap::new();
        params.insert("lr".to_string(), Val::Float(0.01));
        let mut produced = HashMap::new();
        let mut metrics = IndexMap::new();
        metrics.insert("accuracy".to_string(), 0.9);
        produced.insert(
            "train".to_string(),
            Produced {
                status: Some(Status::Executed),
                metrics,
                ..Produced::default()
            },
        );
        let storages = HashMap::new();
        let ctx = Ctx {
            exec_id: "e1",
            home: Path::new("/home"),
            base_dir: Path::new("/base"),
            params: &params,
            storages: &storages,
            produced: &produced,
        };
        match c {
            Val::Obj(o) => ctx.condition(o),
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_operator_on_numbers() {
        let cases = [
            ("EQ", 1, 1, true),
            ("EQ", 1, 2, false),
            ("NOT", 1, 2, true),
            ("NOT", 2, 2, false),
            ("GT", 3, 2, true),
            ("GT", 2, 2, false),
            ("GTE", 2, 2, true),
            ("GTE", 1, 2, false),
            ("LT", 1, 2, true),
            ("LT", 2, 2, false),
            ("LTE", 2, 2, true),
            ("LTE", 3, 2, false),
        ];
        for (operator, l, r, want) in cases {
            let c = cond(operator, Val::Int(l), Val::Int(r));
            assert_eq!(eval(&c), Ok(want), "{l} {operator} {r}");
        }
    }

    #[test]
    fn int_and_float_compare_as_numbers() {
        assert_eq!(eval(&cond("EQ", Val::Int(1), Val::Float(1.0))), Ok(true));
        assert_eq!(eval(&cond("LT", Val::Float(0.5), Val::Int(1))), Ok(true));
    }

    #[test]
    fn in_looks_in_a_sequence_or_a_string() {
        let seq = list(vec![s("a"), s("b")]);
        assert_eq!(eval(&cond("IN", s("b"), seq.clone())), Ok(true));
        assert_eq!(eval(&cond("IN", s("c"), seq)), Ok(false));
        assert_eq!(eval(&cond("IN", s("ell"), s("hello"))), Ok(true));
        let err = eval(&cond("IN", s("a"), Val::Int(3))).unwrap_err();
        assert!(err.contains("needs a sequence on the right"), "{err}");
    }

    #[test]
    fn or_joins_conditions_and_nested_conditions_are_operands() {
        let yes = cond("EQ", Val::Int(1), Val::Int(1));
        let no = cond("EQ", Val::Int(1), Val::Int(2));
        assert_eq!(eval(&cond("OR", no.clone(), yes.clone())), Ok(true));
        assert_eq!(eval(&cond("OR", no.clone(), no.clone())), Ok(false));
        assert_eq!(eval(&cond("EQ", yes, Val::Bool(true))), Ok(true));
        let err = eval(&cond("OR", Val::Int(1), no)).unwrap_err();
        assert!(err.contains("joins conditions"), "{err}");
    }

    #[test]
    fn placeholders_and_metrics_give_their_values() {
        let lr = obj(
            "Placeholder",
            vec![
                ("name", s("lr")),
                ("placeholder_type", {
                    let e = Catalog::get().enumeration("PlaceholderType").unwrap();
                    Val::Enum(EnumVal {
                        ty: e,
                        name: e.values.iter().find(|v| **v == "FLOAT").unwrap(),
                    })
                }),
            ],
        );
        assert_eq!(eval(&cond("LT", lr, Val::Float(0.1))), Ok(true));
        // A metric of step `train`'s output `metrics`.
        let metric = |key: &str| {
            let input = obj(
                "MetricsConsumption",
                vec![("step", s("train")), ("output", s("metrics"))],
            );
            obj(
                "MetricInfo",
                vec![("input_data", input), ("json_key", s(key))],
            )
        };
        assert_eq!(
            eval(&cond("GTE", metric("accuracy"), Val::Float(0.85))),
            Ok(true)
        );
        let err = eval(&cond("GT", metric("loss"), Val::Float(0.1))).unwrap_err();
        assert!(err.contains("metric `loss` is not among"), "{err}");
    }

    #[test]
    fn a_type_mismatch_is_a_clear_error() {
        let err = eval(&cond("GT", s("a"), Val::Int(1))).unwrap_err();
        assert_eq!(err, "a condition cannot order a string against a number");
        let err = eval(&cond("EQ", Val::Bool(true), Val::Int(1))).unwrap_err();
        assert_eq!(err, "a condition cannot compare a bool with a number");
    }
}
