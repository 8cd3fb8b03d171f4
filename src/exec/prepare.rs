//! Everything a run needs before it starts: which steps run, every parameter checked
//! against its placeholder, storage roots, outputs to reuse from earlier executions; and
//! the same rebuilt from the records to carry an execution on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::backend::{Backends, PreflightCtx};
use super::error::{ExecError, Result};
use super::events::Prompter;
use super::params::{
    check_value, describe_expected, flavor_text, parse_text, read_params_file, split_assignment,
};
use super::resolve::Produced;
use super::scheduler::{params_json, Setup};
use crate::diag::did_you_mean;
use crate::model::definition::{self};
use crate::model::kind::StepKind;
use crate::model::val::{Obj, Val};
use crate::model::validate::validate;
use crate::model::workflow::{value_key, DepKind, Workflow};
use crate::store::{NewExecution, StepRow, Store};

/// What a run is asked to do, beside the workflow.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub steps: Vec<String>,
    pub scene: Option<String>,
    pub experiment: Option<String>,
    pub max_parallel: usize,
    /// `-p NAME=VALUE` texts.
    pub param_texts: Vec<String>,
    pub params_file: Option<PathBuf>,
    /// Values already checked (`set_placeholder`, `set_data`).
    pub typed: Vec<(String, Val)>,
    /// `--storage NAME=ROOT` texts.
    pub storage_texts: Vec<String>,
    pub base_dir: PathBuf,
    /// Leave parameters without a value for later, as if delayed (debugging phase by phase).
    pub defer_missing: bool,
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// Each selected step's backend checks what it can with the run's values (a job's flavor
/// names one of this machine's, or one of a resource pool that can be reached); refused
/// before anything runs.
fn preflight(
    w: &Workflow,
    selected: &[String],
    values: &HashMap<String, Val>,
    home: &Path,
    backends: Backends,
) -> Result<()> {
    let machine = crate::pools::flavors::Machine::detect();
    let ctx = PreflightCtx {
        workflow: w,
        values,
        machine: &machine,
        home,
    };
    for step in selected.iter().filter_map(|n| w.step(n)) {
        if let Some(b) = backends(step.kind) {
            b.preflight(step, &ctx)?;
        }
    }
    Ok(())
}

/// Whether the placeholder `ph` gives the flavor of a step among the `selected` ones.
fn is_flavor(w: &Workflow, selected: &[String], ph: &Obj) -> bool {
    selected.iter().filter_map(|n| w.step(n)).any(|step| {
        matches!(
            step.spec().ok().and_then(|s| s.flavor()),
            Some(Val::Obj(p)) if p.is_placeholder() && value_key(p) == value_key(ph)
        )
    })
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// Checks everything a run needs (steps, parameters, storage roots, reused outputs) and
/// records the new execution; nothing has run yet.
pub fn prepare(
    w: Workflow,
    req: &Request,
    home: &Path,
    prompter: Option<&dyn Prompter>,
    backends: Backends,
) -> Result<(Store, Setup)> {
    if req.max_parallel == 0 {
        return Err(ExecError::Usage("--max-parallel must be at least 1".into()));
    }
    // Which steps run.
    let names: Vec<&str> = w.steps.iter().map(|s| s.name.as_str()).collect();
    let selected: Vec<String> = if let Some(scene) = &req.scene {
        match w.scenes().into_iter().find(|(n, _, _)| n == scene) {
            Some((_, steps, _)) => steps.into_iter().map(|(n, _)| n).collect(),
            None => {
                let scenes: Vec<String> = w
                    .scenes()
                    .into_iter()
                    .map(|(n, _, _)| format!("`{n}`"))
                    .collect();
                return Err(ExecError::Usage(format!(
                    "workflow `{}` has no scene `{scene}`; {}",
                    w.name,
                    if scenes.is_empty() {
                        "it defines none".to_string()
                    } else {
                        format!("its scenes are {}", scenes.join(", "))
                    }
                )));
            }
        }
    } else if !req.steps.is_empty() {
        for s in &req.steps {
            if w.step(s).is_none() {
                let hint = did_you_mean(s, names.iter().copied())
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                return Err(ExecError::Usage(format!(
                    "--steps names `{s}`, which is not a step of workflow `{}`{hint}",
                    w.name
                )));
            }
        }
        names
            .iter()
            .filter(|n| req.steps.iter().any(|s| s == *n))
            .map(|n| n.to_string())
            .collect()
    } else {
        names.iter().map(|n| n.to_string()).collect()
    };

    // Parameters used by the selected steps.
    let mut placeholders: Vec<Arc<Obj>> = Vec::new();
    let mut storages_used: Vec<Arc<Obj>> = Vec::new();
    for name in &selected {
        let Some(step) = w.step(name) else { continue };
        for (k, v) in &step.obj.args {
            if *k == "depend_steps" {
                continue;
            }
            v.walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if o.is_placeholder()
                        && !placeholders.iter().any(|p| value_key(p) == value_key(o))
                    {
                        placeholders.push(o.clone());
                    }
                    if matches!(o.class(), "Storage" | "InputStorage" | "OutputStorage")
                        && !storages_used.iter().any(|p| p.name() == o.name())
                    {
                        storages_used.push(o.clone());
                    }
                }
            });
        }
    }
    let mut values: HashMap<String, Val> = HashMap::new();
    // Values come keyed (`set_placeholder`, `set_data`) or named as people give them.
    let by_key = |key: &str| placeholders.iter().find(|p| value_key(p) == key).cloned();
    let find = |name: &str| by_key(&w.key_of_shown(name));
    for (k, v) in &req.typed {
        if by_key(k).is_some() {
            values.insert(k.clone(), v.clone());
        }
    }
    let shown_names = || {
        placeholders
            .iter()
            .map(|p| w.shown_key(&value_key(p)))
            .collect::<Vec<_>>()
    };
    let known = || {
        shown_names()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(f) = &req.params_file {
        match read_params_file(f) {
            Ok(map) => {
                for (k, v) in map {
                    let Some(p) = find(&k) else {
                        return Err(ExecError::Usage(format!(
                            "{}: no parameter `{k}` in the steps that run; parameters are: {}",
                            f.display(),
                            known()
                        )));
                    };
                    match check_value(&p, &v) {
                        Ok(val) => {
                            values.insert(value_key(&p), val);
                        }
                        // A flavor may be given as its id: `"train_flavor": "cpu.small"`.
                        Err(_) if is_flavor(&w, &selected, &p) && v.is_string() => {
                            values.insert(value_key(&p), flavor_text(v.as_str().unwrap_or("")));
                        }
                        Err(e) => return Err(ExecError::Usage(format!("{}: {e}", f.display()))),
                    }
                }
            }
            Err(e) => return Err(ExecError::Usage(e.to_string())),
        }
    }
    for a in &req.param_texts {
        let (k, text) = match split_assignment(a) {
            Ok(kv) => kv,
            Err(e) => return Err(ExecError::Usage(e.to_string())),
        };
        let Some(p) = find(&k) else {
            let names = shown_names();
            let hint = did_you_mean(&k, names.iter().map(String::as_str))
                .map(|m| format!("did you mean `{m}`? "))
                .unwrap_or_default();
            return Err(ExecError::Usage(format!(
                "-p {k}: no parameter `{k}` in the steps that run; {hint}parameters are: {}",
                known()
            )));
        };
        match parse_text(&p, &text) {
            Ok(v) => {
                values.insert(value_key(&p), v);
            }
            // A flavor is JSON (`{"flavor_id": ...}`), or simply its id: `-p flavor=cpu.small`.
            Err(_) if is_flavor(&w, &selected, &p) && !text.trim_start().starts_with('{') => {
                values.insert(value_key(&p), flavor_text(&text));
            }
            Err(e) => return Err(ExecError::Usage(e.to_string())),
        }
    }
    let mut missing: Vec<String> = Vec::new();
    for p in &placeholders {
        if values.contains_key(&value_key(p)) {
            continue;
        }
        if let Some(d) = p.arg("default") {
            values.insert(value_key(p), d.clone());
            continue;
        }
        let delay = p.get("delay").and_then(|v| v.as_bool()).unwrap_or(false);
        let required = p.get("required").and_then(|v| v.as_bool()).unwrap_or(true);
        // A debug execution asks for nothing up front: `next()` names what a phase lacks.
        if delay || req.defer_missing {
            continue;
        }
        if !required {
            values.insert(value_key(p), Val::Null);
            continue;
        }
        if let Some(v) = prompter.and_then(|ask| ask.value(p)) {
            values.insert(value_key(p), v);
            continue;
        }
        missing.push(format!(
            "  {}  {}{}",
            w.shown_key(&value_key(p)),
            describe_expected(p),
            p.str_arg("description")
                .map(|d| format!("  \"{d}\""))
                .unwrap_or_default()
        ));
    }
    if !missing.is_empty() {
        return Err(ExecError::Usage(format!(
            "{} parameter{} without a value (give each with -p NAME=VALUE):\n{}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join("\n")
        )));
    }

    preflight(&w, &selected, &values, home, backends)?;

    // Storage roots.
    let mut roots: HashMap<String, PathBuf> = HashMap::new();
    for a in &req.storage_texts {
        let Some((k, root)) = a
            .split_once('=')
            .filter(|(k, r)| !k.is_empty() && !r.is_empty())
        else {
            return Err(ExecError::Usage(format!(
                "--storage `{a}`: write NAME=ROOT"
            )));
        };
        if !storages_used.iter().any(|s| s.name() == k) {
            let names: Vec<String> = storages_used
                .iter()
                .map(|s| format!("`{}`", s.name()))
                .collect();
            return Err(ExecError::Usage(format!(
                "--storage {k}: the steps that run use no storage `{k}`; {}",
                if names.is_empty() {
                    "they use none".to_string()
                } else {
                    format!("they use {}", names.join(", "))
                }
            )));
        }
        roots.insert(k.to_string(), absolute(PathBuf::from(root)));
    }
    if let Some(ask) = prompter {
        for st in &storages_used {
            if roots.contains_key(st.name()) {
                continue;
            }
            if let Some(root) = ask.storage_root(st) {
                roots.insert(st.name().to_string(), absolute(root));
            }
        }
    }
    let missing_roots: Vec<String> = storages_used
        .iter()
        .filter(|s| !roots.contains_key(s.name()))
        .map(|s| {
            format!(
                "  --storage {}=DIR  ({}{})",
                s.name(),
                s.spec.path(),
                s.str_arg("description")
                    .map(|d| format!(", \"{d}\""))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !missing_roots.is_empty() {
        return Err(ExecError::Usage(format!(
            "{} storage root{} not given:\n{}",
            missing_roots.len(),
            if missing_roots.len() == 1 { "" } else { "s" },
            missing_roots.join("\n")
        )));
    }

    let home = home.to_path_buf();
    let store = Store::open(&home)?;

    // Outputs consumed from steps outside the selection come from earlier executions.
    let exec_id = new_id();
    let mut reused: HashMap<String, Produced> = HashMap::new();
    let mut reused_from = serde_json::Map::new();
    let mut lacking = Vec::new();
    for name in &selected {
        let Some(step) = w.step(name) else { continue };
        for d in &step.deps {
            if selected.contains(&d.on) || reused.contains_key(&d.on) {
                continue;
            }
            let DepKind::Data(out) = &d.kind else {
                continue;
            };
            match store.latest_executed(&w.name, &d.on, &exec_id) {
                Ok(Some((id, row))) => {
                    reused_from.insert(d.on.clone(), json!(id));
                    reused.insert(d.on.clone(), Produced::from_row(&row, Some(id)));
                }
                Ok(None) => lacking.push(format!(
                    "step `{name}` consumes output `{out}` of `{}`",
                    d.on
                )),
                Err(e) => return Err(e.into()),
            }
        }
    }
    if !lacking.is_empty() {
        return Err(ExecError::Refused(format!(
            "nothing ran: no earlier execution of `{}` executed the steps whose outputs this run needs:\n  {}\n  run those steps too (add them to --steps), or run the whole workflow first",
            w.name,
            lacking.join("\n  ")
        )));
    }

    let base_dir = req.base_dir.clone();
    let def_json = serde_json::to_string(&definition::Definition(&w))
        .map_err(|e| ExecError::System(format!("cannot write the definition: {e}")))?;
    let params_json = params_json(&w, &values);
    let storages_json = Value::Object(
        roots
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string_lossy())))
            .collect(),
    );
    let step_kinds: Vec<(String, StepKind)> = selected
        .iter()
        .filter_map(|n| w.step(n).map(|s| (n.clone(), s.kind)))
        .collect();
    store.create_execution(&NewExecution {
        id: &exec_id,
        workflow: &w.name,
        experiment: req.experiment.as_deref(),
        definition: &def_json,
        base_dir: &base_dir,
        parameters: &params_json,
        storages: &storages_json,
        reused: &Value::Object(reused_from),
        max_parallel: req.max_parallel,
        steps: &step_kinds,
    })?;
    let setup = Setup {
        exec_id,
        workflow: w,
        base_dir,
        home,
        params: values,
        storages: roots,
        selected,
        reused,
        max_parallel: req.max_parallel,
    };
    Ok((store, setup))
}

/// Rebuilds an execution from its records, to carry it on: its setup and its steps' rows.
pub fn reload(store: &Store, exec: &str) -> Result<(Setup, Vec<StepRow>)> {
    let row = store.execution(exec)?;
    let file: Arc<str> = format!("<definition of {exec}>").into();
    let (obj, diags) = crate::loader::read_definition(&row.definition, &file);
    let obj = obj.ok_or_else(|| {
        ExecError::Refused(format!(
            "the recorded definition of {exec} cannot be read: {}",
            diags.first().map(|d| d.message.clone()).unwrap_or_default()
        ))
    })?;
    let (w, _) = validate(&obj);
    let params: HashMap<String, Val> = row
        .parameters
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    crate::loader::value_from_json(v).map(|x| (w.key_of_shown(k), x))
                })
                .collect()
        })
        .unwrap_or_default();
    let storages: HashMap<String, PathBuf> = row
        .storages
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|p| (k.clone(), PathBuf::from(p))))
                .collect()
        })
        .unwrap_or_default();
    let steps = store.steps(exec)?;
    let mut reused = HashMap::new();
    if let Some(m) = row.reused.as_object() {
        for (step, from) in m {
            let Some(from) = from.as_str() else { continue };
            if let Some(r) = store.steps(from)?.iter().find(|r| &r.name == step) {
                reused.insert(step.clone(), Produced::from_row(r, Some(from.to_string())));
            }
        }
    }
    let setup = Setup {
        exec_id: row.id.clone(),
        workflow: w,
        base_dir: PathBuf::from(&row.base_dir),
        home: store.home.clone(),
        params,
        storages,
        selected: steps.iter().map(|s| s.name.clone()).collect(),
        reused,
        max_parallel: row.max_parallel,
    };
    Ok((setup, steps))
}
