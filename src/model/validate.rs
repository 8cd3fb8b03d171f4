//! The reference's rules over a whole workflow. Rules about one constructor call (keywords,
//! types, mandatory fields) are checked when the object is built; these need the workflow.

use std::collections::HashMap;
use std::sync::Arc;

use super::graph::Dag;
use super::spec::{DatasetStepSpec, StepSpec};
use super::val::{Obj, Span, Val};
use super::workflow::{step_names, DepKind, Workflow};
use crate::bindings::catalog::Ty;
use crate::bindings::convert::describe_ty;
use crate::script::diag::{did_you_mean, Diagnostic};

/// `^[A-Za-z][A-Za-z0-9_-]{0,63}$`
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `Digit.Digit.Digit`, each part in [1, 99] without a leading zero.
pub fn valid_model_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 2
                && !p.starts_with('0')
                && p.chars().all(|c| c.is_ascii_digit())
        })
}

/// Model names (the registry's rule): 1 to 64 letters, digits, `_`, `-` and `.`, not
/// starting with `.`.
pub fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A label separator: one character, written plainly or escaped (`\t`, `\n`).
pub fn one_char_separator(s: &str) -> Option<char> {
    let s = match s {
        "\\t" => "\t",
        "\\n" => "\n",
        other => other,
    };
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

const NAME_RULE: &str =
    "names start with a letter and hold at most 64 letters, digits, `_` and `-`";

struct Checker {
    diags: Vec<Diagnostic>,
}

impl Checker {
    fn error(&mut self, at: &Span, msg: String) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(at.clone(), msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn name(&mut self, what: &str, name: &str, at: &Span) {
        if !valid_name(name) {
            self.error(at, format!("{what} name `{name}` is not a valid name"))
                .help = Some(NAME_RULE.into());
        }
    }
}

/// Checks a workflow, returning its reading and every error found.
pub fn validate(obj: &Arc<Obj>) -> (Workflow, Vec<Diagnostic>) {
    let w = Workflow::read(obj);
    let mut c = Checker { diags: Vec::new() };

    if obj.arg("name").is_some() {
        c.name("workflow", &w.name, &obj.at);
    }
    if obj.arg("steps").is_some() && w.steps.is_empty() && !obj.tainted {
        c.error(&obj.at, format!("workflow `{}` has no steps", w.name));
    }

    // Steps: names, uniqueness, inputs and outputs.
    let mut seen: HashMap<&str, &Span> = HashMap::new();
    for s in &w.steps {
        if s.obj.arg("name").is_none() {
            continue;
        }
        c.name("step", &s.name, &s.obj.at);
        if let Some(first) = seen.insert(&s.name, &s.obj.at) {
            c.error(
                &s.obj.at,
                format!(
                    "step name `{}` is used twice in workflow `{}`",
                    s.name, w.name
                ),
            )
            .help = Some(format!("the first `{}` is at {first}", s.name));
        }
        for key in ["inputs", "outputs"] {
            let what = &key[..key.len() - 1];
            let mut names: HashMap<&str, &Span> = HashMap::new();
            for item in s.obj.arg(key).map(Val::items).unwrap_or_default() {
                let Some(io) = item.as_obj() else { continue };
                let Some(n) = io.str_arg("name") else {
                    continue;
                };
                c.name(what, n, &io.at);
                if let Some(first) = names.insert(n, &io.at) {
                    c.error(
                        &io.at,
                        format!("step `{}` has two {key} named `{n}`", s.name),
                    )
                    .help = Some(format!(
                        "the first is at {first}; {what} names are unique in a step"
                    ));
                }
                if key == "inputs" {
                    check_selector(&mut c, io);
                }
            }
        }
        check_step(&mut c, &w, s);
    }

    // References to steps: dependencies, branches, consumed outputs.
    let names: Vec<&str> = w.steps.iter().map(|s| s.name.as_str()).collect();
    for s in &w.steps {
        for d in &s.deps {
            let Some(target) = w.step(&d.on) else {
                let what = match &d.kind {
                    DepKind::Explicit => format!("step `{}` depends on `{}`", s.name, d.on),
                    DepKind::Data(out) => {
                        format!("step `{}` consumes output `{out}` of `{}`", s.name, d.on)
                    }
                    DepKind::Branch(_) => unreachable!("branch targets exist"),
                };
                let help = match did_you_mean(&d.on, names.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("add `{}` to the workflow's `steps`", d.on),
                };
                let at = if d.at.is_known() { &d.at } else { &s.obj.at };
                c.error(
                    at,
                    format!("{what}, which is not a step of workflow `{}`", w.name),
                )
                .help = Some(help);
                continue;
            };
            if target.name == s.name && !matches!(d.kind, DepKind::Branch(_)) {
                c.error(&s.obj.at, format!("step `{}` depends on itself", s.name));
            }
            if let DepKind::Data(out) = &d.kind {
                let outs: Vec<String> = target
                    .obj
                    .arg("outputs")
                    .map(Val::items)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|o| o.as_obj().map(|o| o.name().to_string()))
                    .collect();
                if !outs.iter().any(|o| o == out) {
                    c.error(
                        &d.at,
                        format!("step `{}` has no output `{out}`", target.name),
                    )
                    .help = Some(format!("its outputs are: {}", outs.join(", ")));
                }
            }
        }
        if s.kind == crate::model::kind::StepKind::Condition {
            let mut branch: HashMap<String, &str> = HashMap::new();
            for key in ["if_then_steps", "else_then_steps"] {
                for (n, at) in step_names(s.obj.arg(key)) {
                    let at = if at.is_known() { at } else { s.obj.at.clone() };
                    if w.step(&n).is_none() {
                        let help = did_you_mean(&n, names.iter().copied())
                            .map(|m| format!("did you mean `{m}`?"))
                            .unwrap_or_else(|| format!("its steps are: {}", names.join(", ")));
                        c.error(&at, format!("condition step `{}` lists `{n}` in `{key}`, which is not a step of workflow `{}`", s.name, w.name))
                            .help = Some(help);
                    } else if n == s.name {
                        c.error(
                            &at,
                            format!("condition step `{}` lists itself in `{key}`", s.name),
                        );
                    } else if let Some(other) = branch.insert(n.clone(), key) {
                        if other != key {
                            c.error(&at, format!("condition step `{}` lists `{n}` in both `if_then_steps` and `else_then_steps`", s.name));
                        }
                    }
                }
            }
        }
    }
    for (scene, steps, at) in w.scenes() {
        for (n, sat) in steps {
            if w.step(&n).is_none() {
                let at = if sat.is_known() { sat } else { at.clone() };
                let help = did_you_mean(&n, names.iter().copied())
                    .map(|m| format!("did you mean `{m}`?"))
                    .unwrap_or_else(|| format!("add `{n}` to the workflow's `steps`"));
                c.error(
                    &at,
                    format!(
                        "scene `{scene}` names step `{n}`, which is not a step of workflow `{}`",
                        w.name
                    ),
                )
                .help = Some(help);
            }
        }
    }

    check_parameters(&mut c, &w);
    check_storages(&mut c, &w);

    // The graph must be acyclic.
    if let Err(cycle) = Dag::build(&w).order() {
        let path: Vec<&str> = cycle.iter().map(|i| w.steps[*i].name.as_str()).collect();
        let first = &w.steps[cycle[0]];
        c.error(
            &first.obj.at,
            format!("the steps form a cycle: {}", path.join(" -> ")),
        )
        .help = Some("a workflow is a DAG: remove one of these dependencies".into());
    }

    (w, c.diags)
}

/// A `DataConsumptionSelector` in an input may only offer what that input accepts.
fn check_selector(c: &mut Checker, input: &Obj) {
    let Some(data) = input.arg("data").and_then(Val::as_obj) else {
        return;
    };
    if !data.is("DataConsumptionSelector") {
        return;
    }
    let list = data.arg("data_list").map(Val::items).unwrap_or_default();
    if list.is_empty() {
        c.error(
            &data.at,
            "`wf.data.DataConsumptionSelector` needs at least one output in `data_list`".into(),
        );
    }
    let Some(Ty::Class(allowed)) = input.spec.param("data").map(|p| first_class_ty(&p.ty)) else {
        return;
    };
    for item in list {
        if let Some(o) = item.as_obj() {
            if !allowed.contains(&o.class()) {
                c.error(
                    &o.at,
                    format!(
                        "`{}` input `{}` cannot take a step's {} output",
                        input.spec.path(),
                        input.name(),
                        crate::bindings::convert::consumption_kind(o.class())
                    ),
                )
                .help = Some(format!(
                    "it takes {}",
                    describe_ty(&input.spec.param("data").expect("checked").ty)
                ));
            }
        }
    }
}

fn first_class_ty(ty: &Ty) -> Ty {
    match ty {
        Ty::OneOf(v) => v
            .iter()
            .find(|t| matches!(t, Ty::Class(_)))
            .cloned()
            .unwrap_or(Ty::Any),
        other => other.clone(),
    }
}

fn check_step(c: &mut Checker, w: &Workflow, s: &super::workflow::Step) {
    let mut stack: Vec<&Val> = s.obj.args.values().collect();
    while let Some(v) = stack.pop() {
        match v {
            Val::List(items) => stack.extend(items.iter()),
            Val::Map(m) => stack.extend(m.values()),
            Val::Obj(o) => {
                check_object(c, Some(&s.name), o);
                stack.extend(o.args.values());
            }
            _ => {}
        }
    }
    // A labeling step creating a task from a dataset needs the task's type.
    if let Ok(StepSpec::Dataset(DatasetStepSpec::Labeling(l))) = s.spec() {
        let from_dataset = l.properties.is_none()
            && l.inputs.iter().any(|i| {
                i.data.as_obj().is_some_and(|d| {
                    matches!(
                        d.class(),
                        "Dataset" | "DatasetPlaceholder" | "DatasetConsumption"
                    )
                })
            });
        if from_dataset {
            c.error(
                &s.obj.at,
                format!(
                    "labeling step `{}` labels a dataset and needs `properties`",
                    s.name
                ),
            )
            .help = Some("give `wf.steps.LabelTaskProperties(#{ task_type: ... })`".into());
        }
    }
    let _ = w;
}

/// The rules that concern one object alone, reported where it is built (a script learns of
/// a bad placeholder at once, as Python raises at construction). Rules across objects
/// (duplicates, the graph, data kinds) wait for the workflow.
pub fn check_own(o: &Obj) -> Vec<Diagnostic> {
    let mut c = Checker { diags: Vec::new() };
    if o.tainted {
        return c.diags;
    }
    if o.is_placeholder() {
        check_placeholder(&mut c, o);
    }
    if o.spec.is_step() || o.is("Workflow") {
        if let Some(name) = o.str_arg("name") {
            c.name(
                if o.is("Workflow") { "workflow" } else { "step" },
                name,
                &o.at,
            );
        }
    }
    check_object(&mut c, None, o);
    c.diags
}

/// The values the reference's tables allow for some keywords: (class, keyword, values).
const VALUE_SETS: &[(&str, &str, &[&str])] = &[
    (
        "ModelConfig",
        "model_type",
        &[
            "TensorFlow",
            "MXNet",
            "Caffe",
            "Spark_MLlib",
            "Spark_Mllib",
            "Scikit_Learn",
            "XGBoost",
            "Image",
            "PyTorch",
            "Template",
            "Custom",
        ],
    ),
    ("ModelConfig", "dynamic_load_mode", &["Single"]),
    (
        "ModelConfig",
        "install_type",
        &["real_time", "edge", "batch"],
    ),
    (
        "ServiceConfig",
        "infer_type",
        &["real-time", "batch", "edge"],
    ),
    (
        "DatasetVersionConfig",
        "version_format",
        &["Default", "CarbonData"],
    ),
    ("DatasetProperties", "dataset_format", &["0", "1"]),
    ("DatasetProperties", "work_path_type", &["0"]),
    (
        "release_to_gallery",
        "visibility",
        &["public", "group", "private"],
    ),
];

/// A literal keyword value outside its table's set of values.
fn check_value_sets(c: &mut Checker, o: &Obj) {
    for (class, key, allowed) in VALUE_SETS {
        if o.class() != *class && o.spec.name != *class {
            continue;
        }
        for v in o.arg(key).map(Val::items).unwrap_or_default() {
            let text = match v {
                Val::Str(s) => s.to_string(),
                Val::Int(i) => i.to_string(),
                _ => continue,
            };
            if !allowed.contains(&text.as_str()) {
                c.error(&o.at, format!("`{}` `{key}` is `{text}`", o.spec.path()))
                    .help = Some(format!("it takes one of: {}", allowed.join(", ")));
            }
        }
    }
    if o.spec.name == "release_to_gallery" {
        if let Some(v) = o.str_arg("version") {
            let parts: Vec<&str> = v.split('.').collect();
            if parts.len() != 3
                || parts
                    .iter()
                    .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
            {
                c.error(&o.at, format!("gallery version `{v}` is not `x.y.z`"))
                    .help = Some("three numbers joined by dots, such as `1.0.0`".into());
            }
        }
    }
}

/// Rules about one object; `step` names the step it belongs to, when known (at the
/// workflow), for the rules that speak of it.
fn check_object(c: &mut Checker, step: Option<&str>, o: &Obj) {
    check_value_sets(c, o);
    if let ("ModelConfig" | "ModelData", Some(n)) = (o.class(), o.str_arg("model_name")) {
        if !valid_model_name(n) {
            c.error(
                &o.at,
                format!("`{}` `model_name` `{n}` is not a model name", o.spec.path()),
            )
            .help = Some("1 to 64 letters, digits, `_`, `-` and `.`, not starting with `.`".into());
        }
    }
    let separators: &[&str] = match o.class() {
        "AnnotationFormatParameters" => &["label_separator", "sample_label_separator"],
        "LabelFormat" => &["text_label_separator", "text_sample_separator"],
        _ => &[],
    };
    for key in separators {
        if let Some(sep) = o.str_arg(key) {
            if one_char_separator(sep).is_none() {
                c.error(
                    &o.at,
                    format!(
                        "`{}` `{key}` is {:?}: a separator is one character",
                        o.spec.path(),
                        sep
                    ),
                )
                .help = Some("such as \",\", \";\" or \"\\t\" (a tab)".into());
            }
        }
    }
    if o.is("DatasetProperties") {
        check_format_fits(c, o);
    }
    match o.class() {
        "JobResource" => {
            // A flavor written as a dict names its flavor by `flavor_id`.
            if let Some(Val::Map(m)) = o.arg("flavor") {
                match m.get("flavor_id") {
                    Some(Val::Str(id)) if !id.trim().is_empty() => {}
                    Some(other) => {
                        c.error(
                            &o.at,
                            format!(
                                "`wf.steps.JobResource` `flavor` has `flavor_id` {}, not a flavor id",
                                other.describe()
                            ),
                        )
                        .help = Some("such as \"cpu.small\" (`wf flavors` lists them)".into());
                    }
                    None => {
                        let typo = m
                            .keys()
                            .find(|k| did_you_mean(k, ["flavor_id", "flavor", "id"]).is_some());
                        c.error(
                            &o.at,
                            "`wf.steps.JobResource` `flavor` is a dict without `flavor_id`".into(),
                        )
                        .help = Some(match typo {
                            Some(k) => format!("`{k}`: did you mean `flavor_id`?"),
                            None => "write #{ flavor_id: \"cpu.small\" }, or just the id".into(),
                        });
                    }
                }
            }
        }
        "ImportConfig" => {
            // A bool, or its text: "true" or "false" (any case).
            if let Some(t) = o.str_arg("import_annotations") {
                if !t.eq_ignore_ascii_case("true") && !t.eq_ignore_ascii_case("false") {
                    c.error(
                        &o.at,
                        format!(
                            "`{}` `import_annotations` is {t:?}, not true or false",
                            o.spec.path()
                        ),
                    )
                    .help = Some("write true or false (or \"true\" / \"false\")".into());
                }
            }
        }
        "ModelConfig" => {
            if let Some(v) = o.str_arg("model_version") {
                if !valid_model_version(v) {
                    c.error(
                        &o.at,
                        format!("model version `{v}` is not `Digit.Digit.Digit`"),
                    )
                    .help = Some(
                        "three parts from 1 to 99 without leading zeros, such as `1.2.3`".into(),
                    );
                }
            }
        }
        "SchedulePolicy" => {
            let p = match o.arg("priority") {
                Some(Val::Int(i)) => Some(*i),
                Some(Val::Obj(ph)) if ph.is("Placeholder") => match ph.arg("default") {
                    Some(Val::Int(i)) => Some(*i),
                    _ => None,
                },
                _ => None,
            };
            if let Some(p) = p {
                if !(1..=3).contains(&p) {
                    c.error(&o.at, format!("schedule priority {p} is out of range"))
                        .help = Some("priority is 1 (low), 2 (medium) or 3 (high)".into());
                }
            }
        }
        // Names of datasets and tasks matter once a step uses them: the manual itself builds
        // such objects with empty names to show their shape.
        "Dataset" | "DatasetProperties" | "LabelTask" | "LabelTaskProperties" if step.is_some() => {
            for key in ["dataset_name", "task_name"] {
                if let Some(n) = o.str_arg(key) {
                    let ok = !n.is_empty()
                        && n.len() <= 100
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if !ok {
                        c.error(
                            &o.at,
                            format!("`{}` `{key}` `{n}` is not a valid name", o.spec.path()),
                        )
                        .help = Some("1 to 100 letters, digits, `_` and `-`".into());
                    }
                }
            }
        }
        "BaseAlgorithm"
            if !o.tainted
                && !["command", "boot_file", "id", "subscription_id"]
                    .iter()
                    .any(|k| o.arg(k).is_some()) =>
        {
            // Said of the step it belongs to, once that is known.
            let Some(step) = step else { return };
            c.error(
                &o.at,
                format!("the algorithm of step `{step}` has nothing to run"),
            )
            .help = Some("give `command`, or `code_dir` with `boot_file`".into());
        }
        "OBSPlaceholder" => {
            if let Some(t) = o.str_arg("object_type") {
                if t != "file" && t != "directory" {
                    c.error(
                        &o.at,
                        format!("`wf.data.OBSPlaceholder` `object_type` is `{t}`"),
                    )
                    .help = Some("it is \"file\" or \"directory\"".into());
                }
            }
        }
        "StepPolicy" => {
            for key in ["poll_interval_seconds", "max_execution_minutes"] {
                let ok = match o.arg(key) {
                    Some(Val::Str(t)) => t.trim().parse::<f64>().is_ok_and(|x| x > 0.0),
                    Some(Val::Int(i)) => *i > 0,
                    Some(Val::Float(f)) => *f > 0.0,
                    _ => true,
                };
                if !ok {
                    c.error(
                        &o.at,
                        format!("`wf.steps.StepPolicy` `{key}` must be a positive number"),
                    );
                }
            }
            if let Some(Val::Int(r)) = o.arg("retries") {
                if *r < 0 {
                    c.error(
                        &o.at,
                        "`wf.steps.StepPolicy` `retries` must not be negative".into(),
                    );
                }
            }
        }
        "DatasetVersionConfig" => {
            if let Some(r) = o.arg("train_evaluate_sample_ratio") {
                let x = match r {
                    Val::Str(t) => t.trim().parse::<f64>().ok(),
                    Val::Float(f) => Some(*f),
                    Val::Int(i) => Some(*i as f64),
                    _ => None,
                };
                if matches!(r, Val::Str(_) | Val::Float(_) | Val::Int(_))
                    && !x.is_some_and(|x| (0.0..=1.0).contains(&x))
                {
                    c.error(
                        &o.at,
                        format!(
                            "`train_evaluate_sample_ratio` {} is not a ratio from 0 to 1",
                            r.describe()
                        ),
                    );
                }
            }
        }
        "Condition" => {
            let ty = o.arg("condition_type").and_then(|v| match v {
                Val::Enum(e) => Some(e.name),
                _ => None,
            });
            let (l, r) = (o.arg("left"), o.arg("right"));
            let is_cond =
                |v: Option<&Val>| v.and_then(Val::as_obj).is_some_and(|x| x.is("Condition"));
            match ty {
                Some("OR") if l.is_some() && r.is_some() && !(is_cond(l) && is_cond(r)) => {
                    c.error(&o.at, "an `OR` condition joins two conditions: `left` and `right` are `wf.steps.Condition`s".into());
                }
                Some("OR") => {}
                Some("IN") => {
                    let seq = match r {
                        Some(Val::List(_)) => true,
                        Some(Val::Obj(p)) => {
                            p.is("Placeholder") && placeholder_type(p) == Some("LIST")
                        }
                        Some(Val::Str(_)) => true,
                        _ => false,
                    };
                    if r.is_some() && !seq {
                        c.error(
                            &o.at,
                            format!(
                                "an `IN` condition needs a sequence on the right, got {}",
                                r.map(Val::describe).unwrap_or_default()
                            ),
                        );
                    }
                }
                Some(op) => {
                    if let (Some(a), Some(b)) = (l.and_then(literal_kind), r.and_then(literal_kind))
                    {
                        let numeric = |k: &str| k == "number";
                        let ok = a == b || (numeric(a) && numeric(b));
                        let ordered = matches!(op, "GT" | "GTE" | "LT" | "LTE");
                        if !ok {
                            c.error(
                                &o.at,
                                format!(
                                    "a `{op}` condition compares {} with {}",
                                    l.map(Val::describe).unwrap_or_default(),
                                    r.map(Val::describe).unwrap_or_default()
                                ),
                            )
                            .help = Some(
                                "int and float compare as numbers; other sides must have one type"
                                    .into(),
                            );
                        } else if ordered && a == "bool" {
                            c.error(&o.at, format!("a `{op}` condition cannot order booleans"));
                        }
                    }
                }
                None => {}
            }
        }
        _ => {}
    }
}

/// An enum element's name, or a string.
fn word(v: &Val) -> Option<&str> {
    match v {
        Val::Enum(e) => Some(e.name),
        Val::Str(s) => Some(s),
        _ => None,
    }
}

/// The data type a label format describes (as the dataset service reads them).
fn format_data_type(format: &str) -> Option<&'static str> {
    match format.to_ascii_uppercase().as_str() {
        "MA_IMAGE_CLASSIFICATION_V1"
        | "MA_IMAGENET_V1"
        | "MA_PASCAL_VOC_V1"
        | "YOLO"
        | "MA_IMAGE_SEGMENTATION_V1" => Some("IMAGE"),
        "MA_TEXT_CLASSIFICATION_COMBINE_V1" | "MA_TEXT_CLASSIFICATION_V1" => Some("TEXT"),
        "MA_AUDIO_CLASSIFICATION_DIR_V1" => Some("AUDIO"),
        _ => None,
    }
}

/// A dataset's label format describes its data type (`MA_IMAGENET_V1` an IMAGE dataset).
fn check_format_fits(c: &mut Checker, o: &Obj) {
    let data_type = match o.arg("data_type") {
        None => "FREE_FORMAT",
        Some(v) => match word(v) {
            Some("IMAGE_CLASSIFICATION") => "IMAGE",
            Some(t) => t,
            None => return,
        },
    };
    let Some(ic) = o.arg("import_config").and_then(Val::as_obj) else {
        return;
    };
    let configs = ic
        .arg("annotation_format_config")
        .map(Val::items)
        .unwrap_or_default();
    // The first that names a format is the one read.
    let Some(format) = configs
        .iter()
        .filter_map(Val::as_obj)
        .find_map(|f| f.arg("format_name"))
        .and_then(word)
    else {
        return;
    };
    if let Some(wanted) = format_data_type(format) {
        if !wanted.eq_ignore_ascii_case(data_type) {
            c.error(
                &o.at,
                format!("label format {format} is for {wanted} datasets, not {data_type}"),
            )
            .help = Some(format!(
                "give `data_type: wf.data.DataTypeEnum.{wanted}`{}",
                if o.arg("data_type").is_none() {
                    " (it is FREE_FORMAT when left out)"
                } else {
                    ""
                }
            ));
        }
    }
}

fn literal_kind(v: &Val) -> Option<&'static str> {
    match v {
        Val::Int(_) | Val::Float(_) => Some("number"),
        Val::Str(_) => Some("str"),
        Val::Bool(_) => Some("bool"),
        _ => None,
    }
}

fn placeholder_type(p: &Obj) -> Option<&'static str> {
    match p.arg("placeholder_type") {
        Some(Val::Enum(e)) => Some(e.name),
        _ => None,
    }
}

fn check_parameters(c: &mut Checker, w: &Workflow) {
    let all = &w.placeholder_uses;
    // A parameter and a data placeholder may share a name: their values are kept apart.
    let mut first: HashMap<String, &Arc<Obj>> = HashMap::new();
    for p in all {
        match first.get(&super::workflow::value_key(p)) {
            None => {
                first.insert(super::workflow::value_key(p), p);
            }
            Some(f) if **f == *p || Arc::ptr_eq(f, p) => {}
            Some(f) => {
                let what = if f.class() != p.class() {
                    format!("a `{}` and a `{}`", f.spec.path(), p.spec.path())
                } else {
                    "two different definitions".to_string()
                };
                c.error(&p.at, format!("placeholder `{}` has {what}", p.name()))
                    .help = Some(format!(
                    "the first is at {}; placeholders sharing a name must be the same definition",
                    f.at
                ));
            }
        }
    }
    for p in &w.parameters {
        check_placeholder(c, p);
    }
}

/// Longest placeholder name: the names of workflows, steps, inputs and outputs are as long.
const MAX_PLACEHOLDER_NAME: usize = 64;

fn check_placeholder(c: &mut Checker, p: &Obj) {
    let delay = p.get("delay").and_then(|v| v.as_bool()).unwrap_or(false);
    let length = p.name().chars().count();
    if length > MAX_PLACEHOLDER_NAME {
        let start: String = p.name().chars().take(24).collect();
        c.error(
            &p.at,
            format!("the placeholder name `{start}…` is {length} characters long"),
        )
        .help = Some(format!(
            "a placeholder name has at most {MAX_PLACEHOLDER_NAME} characters"
        ));
        return;
    }
    if !p.is("Placeholder") {
        if p.is("DataSelector") {
            for t in p.arg("data_type_list").map(Val::items).unwrap_or_default() {
                if let Some(s) = t.as_str() {
                    if s != "obs" && s != "dataset" {
                        c.error(
                            &p.at,
                            format!("`wf.data.DataSelector` `data_type_list` holds `{s}`"),
                        )
                        .help = Some("it takes \"obs\" and \"dataset\"".into());
                    }
                }
            }
        }
        return;
    }
    let name = p.name();
    if p.arg("required").and_then(Val::as_bool) == Some(false) && delay {
        c.error(
            &p.at,
            format!("placeholder `{name}` sets `required: false` with `delay: true`"),
        )
        .help =
            Some("a delayed placeholder is asked for when its step runs, so it is required".into());
    }
    if let Some(d) = p.arg("default") {
        let depth = crate::model::definition::json_depth(&crate::model::definition::val_to_json(d));
        if depth > crate::model::definition::MAX_JSON_DEPTH {
            c.error(
                &p.at,
                format!("placeholder `{name}` has a default nested {depth} levels deep"),
            )
            .help = Some(format!(
                "a value nests at most {} levels",
                crate::model::definition::MAX_JSON_DEPTH
            ));
        }
    }
    let Some(ty) = placeholder_type(p) else {
        return;
    };
    let format = p.str_arg("placeholder_format");
    let default = p.arg("default");
    match ty {
        "ENUM" => {
            let list = p.arg("enum_list").map(Val::items).unwrap_or_default();
            if list.is_empty() {
                c.error(
                    &p.at,
                    format!("ENUM placeholder `{name}` needs a non-empty `enum_list`"),
                );
            } else if let Some(d) = default {
                if !list.contains(d) {
                    c.error(
                        &p.at,
                        format!(
                            "the default {} of ENUM placeholder `{name}` is not in its `enum_list`",
                            d.describe()
                        ),
                    )
                    .help = Some(format!(
                        "it takes one of: {}",
                        list.iter()
                            .map(Val::describe)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        "LIST" => {
            match format {
                Some(f @ ("str" | "int" | "float" | "bool")) => {
                    if let Some(Val::List(items)) = default {
                        for (i, item) in items.iter().enumerate() {
                            if !matches_scalar(item, f) {
                                c.error(&p.at, format!("the default of LIST placeholder `{name}` holds {} at index {i}, not {f}", item.describe()));
                                break;
                            }
                        }
                    }
                }
                Some(other) => {
                    c.error(&p.at, format!("LIST placeholder `{name}` has `placeholder_format` `{other}`"))
                    .help = Some("it is the type of the list's items: \"str\", \"int\", \"float\" or \"bool\"".into());
                }
                None => {
                    c.error(
                        &p.at,
                        format!("LIST placeholder `{name}` needs `placeholder_format`"),
                    )
                    .help = Some(
                        "the type of the list's items: \"str\", \"int\", \"float\" or \"bool\""
                            .into(),
                    );
                }
            }
        }
        _ => {
            const FORMATS: [&str; 5] = ["obs", "flavor", "train_flavor", "swr", "cluster"];
            if let Some(f) = format {
                if !FORMATS.contains(&f) {
                    let help = did_you_mean(f, FORMATS)
                        .map(|s| format!("did you mean \"{s}\"?"))
                        .unwrap_or_else(|| format!("formats are: {}", FORMATS.join(", ")));
                    c.error(
                        &p.at,
                        format!("placeholder `{name}` has an unknown `placeholder_format` `{f}`"),
                    )
                    .help = Some(help);
                }
            }
        }
    }
    if let Some(d) = default {
        let ok = match ty {
            "INT" => matches!(d, Val::Int(_)),
            "FLOAT" => matches!(d, Val::Float(_) | Val::Int(_)),
            "BOOL" => matches!(d, Val::Bool(_)),
            "STR" => matches!(d, Val::Str(_)),
            "JSON" => matches!(d, Val::Map(_) | Val::List(_)),
            "LIST" => matches!(d, Val::List(_)),
            _ => true,
        };
        if !ok {
            c.error(
                &p.at,
                format!(
                    "the default of {ty} placeholder `{name}` is {}",
                    d.describe()
                ),
            )
            .help = Some(format!(
                "{} {ty} placeholder's default is {}",
                article(ty),
                scalar_name(ty)
            ));
        }
    }
}

fn article(ty: &str) -> &'static str {
    if ty.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    }
}

fn matches_scalar(v: &Val, ty: &str) -> bool {
    match ty {
        "str" => matches!(v, Val::Str(_)),
        "int" => matches!(v, Val::Int(_)),
        "float" => matches!(v, Val::Float(_) | Val::Int(_)),
        "bool" => matches!(v, Val::Bool(_)),
        _ => true,
    }
}

fn scalar_name(ty: &str) -> &'static str {
    match ty {
        "INT" => "an int",
        "FLOAT" => "a number",
        "BOOL" => "true or false",
        "STR" => "a string",
        "JSON" => "a dict",
        "LIST" => "a list",
        _ => "a value",
    }
}

fn check_storages(c: &mut Checker, w: &Workflow) {
    let all = &w.storage_uses;
    let mut first: HashMap<&str, &Arc<Obj>> = HashMap::new();
    for s in all {
        match first.get(s.name()) {
            None => {
                first.insert(s.name(), s);
            }
            Some(f) if ***f == **s => {}
            Some(f) => {
                c.error(
                    &s.at,
                    format!("storage `{}` has two different definitions", s.name()),
                )
                .help = Some(format!("the first is at {}", f.at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference_rule() {
        assert!(valid_name("a"));
        assert!(valid_name("train-step_2"));
        assert!(!valid_name("2train"));
        assert!(!valid_name("has space"));
        assert!(!valid_name(""));
        assert!(valid_name(&"a".repeat(64)));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn model_versions_are_three_parts_from_1_to_99() {
        assert!(valid_model_version("1.2.3"));
        assert!(valid_model_version("99.10.1"));
        assert!(!valid_model_version("0.1.1"));
        assert!(!valid_model_version("01.1.1"));
        assert!(!valid_model_version("1.2"));
        assert!(!valid_model_version("100.1.1"));
        assert!(!valid_model_version("1.a.1"));
    }
}
