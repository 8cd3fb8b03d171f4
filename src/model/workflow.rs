//! A workflow object read as the things the rest of `wf` needs: its steps, why each
//! depends on which others, its parameters (placeholders) and storages.

use std::collections::HashMap;
use std::sync::Arc;

use super::kind::StepKind;
use super::spec::{SpecError, StepSpec};
use super::val::{Obj, Span, Val};

/// Why one step depends on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepKind {
    /// Named in `depend_steps`.
    Explicit,
    /// Consumes an output of the other step (`as_input`, `MetricInfo`, ...): the output name.
    Data(String),
    /// Named in a condition step's `if_then_steps` (true) or `else_then_steps` (false).
    Branch(bool),
}

#[derive(Debug, Clone)]
pub struct Dep {
    pub on: String,
    pub kind: DepKind,
    pub at: Span,
}

#[derive(Debug, Clone)]
pub struct Step {
    /// The object as written: the JSON definition and the places diagnostics point at.
    pub obj: Arc<Obj>,
    pub name: String,
    pub kind: StepKind,
    pub deps: Vec<Dep>,
    /// The step's arguments read once as its kind's spec, when first asked for (checking a
    /// workflow never needs it); an error only for a step that validation refuses.
    spec: Arc<std::sync::OnceLock<Result<StepSpec, SpecError>>>,
}

impl Step {
    /// The step's typed arguments, what backends plan from. An error names the step and
    /// the keyword that could not be read: a workflow that passed validation never has one.
    pub fn spec(&self) -> Result<&StepSpec, SpecError> {
        self.spec
            .get_or_init(|| StepSpec::read(self.kind, &self.obj))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The distinct steps this one waits for.
    pub fn dep_names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.deps
            .iter()
            .map(|d| d.on.as_str())
            .filter(|n| seen.insert(*n))
            .collect()
    }
}

/// A scene of the workflow policy: its name, its steps (with where each was named), where.
pub type Scene = (String, Vec<(String, Span)>, Span);

#[derive(Debug, Clone)]
pub struct Workflow {
    pub obj: Arc<Obj>,
    pub name: String,
    pub desc: String,
    pub steps: Vec<Step>,
    /// One definition per parameter name, in order of first use.
    pub parameters: Vec<Arc<Obj>>,
    /// One per storage name, declared or used.
    pub storages: Vec<Arc<Obj>>,
    /// Every placeholder object used, in order (several may share a name).
    pub placeholder_uses: Vec<Arc<Obj>>,
    /// Every storage object declared or used, in order.
    pub storage_uses: Vec<Arc<Obj>>,
    /// Step name -> index into `steps` (the first, if a name is used twice).
    index: HashMap<String, usize>,
}

impl Workflow {
    /// Reads a `wf.Workflow` object. Never fails: rules are checked by `validate`.
    pub fn read(obj: &Arc<Obj>) -> Workflow {
        // One walk over everything collects dependencies, placeholders and storages.
        let mut uses = Uses::default();
        if let Some(v) = obj.arg("storages") {
            v.walk(&mut |x| uses.note(x));
        }
        let mut steps: Vec<Step> = Vec::new();
        for v in obj.arg("steps").map(Val::items).unwrap_or_default() {
            if let Some(o) = v.as_obj().filter(|o| o.spec.is_step()) {
                steps.push(read_step(o, &mut uses));
            }
        }
        let mut index = HashMap::with_capacity(steps.len());
        for (i, s) in steps.iter().enumerate() {
            index.entry(s.name.clone()).or_insert(i);
        }
        // Branch lists make the named steps wait for the condition step.
        let branches: Vec<(String, String, bool, Span)> = steps
            .iter()
            .filter(|s| s.kind == StepKind::Condition)
            .flat_map(|s| {
                let mut out = Vec::new();
                for (key, taken) in [("if_then_steps", true), ("else_then_steps", false)] {
                    for (target, at) in step_names(s.obj.arg(key)) {
                        out.push((target, s.name.clone(), taken, at));
                    }
                }
                out
            })
            .collect();
        for (target, cond, taken, at) in branches {
            if let Some(t) = index.get(&target).map(|i| &mut steps[*i]) {
                t.deps.push(Dep {
                    on: cond,
                    kind: DepKind::Branch(taken),
                    at,
                });
            }
        }

        let Uses {
            placeholders: placeholder_uses,
            storages: storage_uses,
        } = uses;
        let distinct = |uses: &[Arc<Obj>], key: fn(&Obj) -> String| {
            let mut seen = std::collections::HashSet::new();
            uses.iter()
                .filter(|o| seen.insert(key(o)))
                .cloned()
                .collect::<Vec<_>>()
        };
        let parameters = distinct(&placeholder_uses, value_key);
        let storages = distinct(&storage_uses, |o| o.name().to_string());
        Workflow {
            obj: obj.clone(),
            name: obj.name().to_string(),
            desc: obj.str_arg("desc").unwrap_or("").to_string(),
            steps,
            parameters,
            storages,
            placeholder_uses,
            storage_uses,
            index,
        }
    }

    pub fn step(&self, name: &str) -> Option<&Step> {
        self.index.get(name).map(|i| &self.steps[*i])
    }

    pub fn scenes(&self) -> Vec<Scene> {
        let Some(policy) = self.obj.arg("policy").and_then(Val::as_obj) else {
            return Vec::new();
        };
        policy
            .arg("scenes")
            .map(|v| v.items().to_vec())
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
            .map(|scene| {
                (
                    scene.str_arg("scene_name").unwrap_or("").to_string(),
                    step_names(scene.arg("scene_steps")),
                    scene.at.clone(),
                )
            })
            .collect()
    }
}

/// Step names given as step objects or as strings.
pub fn step_names(v: Option<&Val>) -> Vec<(String, Span)> {
    let Some(v) = v else { return Vec::new() };
    v.items()
        .iter()
        .filter_map(|x| match x {
            Val::StepRef(n, at) => Some((n.to_string(), at.clone())),
            Val::Str(s) => Some((s.to_string(), Span::default())),
            Val::Obj(o) if o.spec.is_step() => Some((o.name().to_string(), o.at.clone())),
            _ => None,
        })
        .collect()
}

/// Placeholder and storage objects met while reading, in order.
#[derive(Default)]
struct Uses {
    placeholders: Vec<Arc<Obj>>,
    storages: Vec<Arc<Obj>>,
}

impl Uses {
    fn note(&mut self, v: &Val) {
        if let Val::Obj(o) = v {
            if o.is_placeholder() {
                self.placeholders.push(o.clone());
            }
            if matches!(o.class(), "Storage" | "InputStorage" | "OutputStorage") {
                self.storages.push(o.clone());
            }
        }
    }
}

fn read_step(obj: &Arc<Obj>, uses: &mut Uses) -> Step {
    let mut deps: Vec<Dep> = step_names(obj.arg("depend_steps"))
        .into_iter()
        .map(|(on, at)| Dep {
            on,
            kind: DepKind::Explicit,
            at,
        })
        .collect();
    for (key, v) in &obj.args {
        if *key == "depend_steps" || *key == "if_then_steps" || *key == "else_then_steps" {
            continue;
        }
        v.walk(&mut |x| {
            uses.note(x);
            if let Val::Obj(o) = x {
                if o.is_consumption() {
                    if let (Some(step), Some(out)) = (o.str_arg("step"), o.str_arg("output")) {
                        if !deps.iter().any(|d| {
                            d.on == step && matches!(&d.kind, DepKind::Data(o) if o == out)
                        }) {
                            deps.push(Dep {
                                on: step.to_string(),
                                kind: DepKind::Data(out.to_string()),
                                at: o.at.clone(),
                            });
                        }
                    }
                }
            }
        });
    }
    let kind = StepKind::of_class(obj.class()).unwrap_or(StepKind::Job);
    Step {
        obj: obj.clone(),
        name: obj.name().to_string(),
        kind,
        deps,
        spec: Arc::default(),
    }
}

/// The key a placeholder's value is kept under. Parameters (`wf.Placeholder`) and data
/// (`wf.data.*Placeholder`) are apart, as in the SDK: the manual gives one of each the same
/// name. A parameter's key is its name; a data placeholder's is `data:NAME`.
pub fn value_key(o: &Obj) -> String {
    if o.is("Placeholder") {
        o.name().to_string()
    } else {
        format!("data:{}", o.name())
    }
}

impl Workflow {
    /// The name a value is shown and given under (`-p`, records): its placeholder's name,
    /// and `data:NAME` only for a data placeholder whose name a parameter also has.
    pub fn shown_key(&self, key: &str) -> String {
        match key.strip_prefix("data:") {
            Some(name)
                if !self
                    .parameters
                    .iter()
                    .any(|p| p.is("Placeholder") && p.name() == name) =>
            {
                name.to_string()
            }
            _ => key.to_string(),
        }
    }

    /// The key of the value a person gives as `name`: the parameter of that name, else the
    /// data placeholder; `data:NAME` names the data placeholder alone.
    pub fn key_of_shown(&self, name: &str) -> String {
        if name.starts_with("data:")
            || self
                .parameters
                .iter()
                .any(|p| p.is("Placeholder") && p.name() == name)
        {
            name.to_string()
        } else {
            format!("data:{name}")
        }
    }
}
