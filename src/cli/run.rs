//! `wf run` and the commands that carry an execution on: `retry`, `proceed`, `resume`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::{json, Value};

use super::load::load_and_check;
use super::{exit, stderr_color};
use crate::exec::decide::Status;
use crate::exec::params::{
    check_value, describe_expected, parse_text, read_params_file, split_assignment,
};
use crate::exec::progress::Progress;
use crate::exec::resolve::Produced;
use crate::exec::runner::{Recorded, Runner, Setup};
use crate::model::definition::{self, val_to_json, value_from_json};
use crate::model::val::{Obj, Val};
use crate::model::validate::validate;
use crate::model::workflow::{DepKind, Workflow};
use crate::script::diag::{did_you_mean, render};
use crate::script::engine::LoadOptions;
use crate::store::{home_dir, NewExecution, Store};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The script (.rhai) or definition (.json) to run
    pub script: PathBuf,
    /// A parameter value (repeatable), parsed by the placeholder's type
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Parameter values from a JSON or TOML file of name -> value
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// The root folder of a storage (repeatable)
    #[arg(long, value_name = "NAME=ROOT")]
    pub storage: Vec<String>,
    /// Run only these steps, taking other steps' outputs from earlier executions
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub steps: Vec<String>,
    /// Run the steps of one scene of the workflow's policy
    #[arg(long, value_name = "NAME", conflicts_with = "steps")]
    pub scene: Option<String>,
    /// Group this execution under an experiment
    #[arg(long, value_name = "ID")]
    pub experiment: Option<String>,
    /// How many steps may run at once
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_parallel: usize,
    /// Print the execution record as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Which workflow, when the script binds several
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
}

fn usage(msg: &str) -> i32 {
    eprintln!("error: {msg}");
    exit::USAGE
}

/// Exit status for an execution's final status.
pub fn exit_for(status: &str) -> i32 {
    match status {
        "executed" => exit::OK,
        "awaiting_input" => 3,
        _ => exit::INVALID,
    }
}

pub fn run(home: Option<&Path>, args: RunArgs) -> i32 {
    let dev = crate::exec::dev::LocalDev::new(
        home_dir(home),
        base_dir_of(&args.script),
        args.storage.clone(),
    );
    let opts = LoadOptions {
        workflow: args.workflow.clone(),
        command: "wf run",
        dev: Some(dev.clone()),
        ..LoadOptions::default()
    };
    let checked = load_and_check(&args.script, &opts);
    eprint!(
        "{}",
        render(&checked.diags, &checked.sources, stderr_color())
    );
    if checked.errors() > 0 {
        eprintln!(
            "error: `{}` is not a valid workflow: {} error(s); nothing ran",
            args.script.display(),
            checked.errors()
        );
        return exit::INVALID;
    }
    // A script that ran its workflow itself (`workflow.run(...)`, as in a notebook) is done.
    if let Some((id, status)) = dev.last_run() {
        dev.end_session();
        if args.json {
            if let Ok(r) = Store::open(&home_dir(home)).and_then(|s| s.record(&id)) {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            }
        }
        return exit_for(&status);
    }
    let Some(w) = checked.workflow else {
        return exit::INVALID;
    };
    // A definition keeps where its script was: relative paths resolve from there.
    let base_dir = if args.script.extension().is_some_and(|e| e == "json") {
        let script = PathBuf::from(&*w.obj.at.file);
        if script.is_file() {
            base_dir_of(&script)
        } else {
            base_dir_of(&args.script)
        }
    } else {
        base_dir_of(&args.script)
    };
    let req = Request {
        steps: args.steps.clone(),
        scene: args.scene.clone(),
        experiment: args.experiment.clone(),
        max_parallel: args.max_parallel,
        param_texts: args.params.clone(),
        params_file: args.params_file.clone(),
        typed: Vec::new(),
        storage_texts: args.storage.clone(),
        base_dir,
        interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
    };
    let (store, setup) = match prepare(w, &req, &home_dir(home)) {
        Ok(x) => x,
        Err(f) => {
            eprintln!("{}", f.message);
            return f.code;
        }
    };
    if !args.json {
        eprintln!(
            "execution {} of workflow `{}`",
            setup.exec_id, setup.workflow.name
        );
    }
    drive(store, setup, Vec::new(), args.json)
}

/// What a run is asked to do, beside the workflow.
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
    /// Ask on the terminal for what is missing.
    pub interactive: bool,
}

/// Why a run did not start, and its exit status.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    fn usage(msg: impl Into<String>) -> Fail {
        Fail {
            code: exit::USAGE,
            message: format!("error: {}", msg.into()),
        }
    }
    fn invalid(msg: impl Into<String>) -> Fail {
        Fail {
            code: exit::INVALID,
            message: format!("error: {}", msg.into()),
        }
    }
}

/// Checks everything a run needs (steps, parameters, storage roots, reused outputs) and
/// records the new execution; nothing has run yet.
pub fn prepare(w: Workflow, req: &Request, home: &Path) -> Result<(Store, Setup), Fail> {
    if req.max_parallel == 0 {
        return Err(Fail::usage("--max-parallel must be at least 1"));
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
                return Err(Fail::usage(format!(
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
                return Err(Fail::usage(format!(
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
        let step = w.step(name).expect("selected steps exist");
        for (k, v) in &step.obj.args {
            if *k == "depend_steps" {
                continue;
            }
            v.walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if o.is_placeholder() && !placeholders.iter().any(|p| p.name() == o.name()) {
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
    let find = |n: &str| placeholders.iter().find(|p| p.name() == n).cloned();
    for (k, v) in &req.typed {
        if find(k).is_some() {
            values.insert(k.clone(), v.clone());
        }
    }
    let known = || {
        placeholders
            .iter()
            .map(|p| format!("`{}`", p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(f) = &req.params_file {
        match read_params_file(f) {
            Ok(map) => {
                for (k, v) in map {
                    let Some(p) = find(&k) else {
                        return Err(Fail::usage(format!(
                            "{}: no parameter `{k}` in the steps that run; parameters are: {}",
                            f.display(),
                            known()
                        )));
                    };
                    match check_value(&p, &v) {
                        Ok(val) => {
                            values.insert(k, val);
                        }
                        Err(e) => return Err(Fail::usage(format!("{}: {e}", f.display()))),
                    }
                }
            }
            Err(e) => return Err(Fail::usage(e.to_string())),
        }
    }
    for a in &req.param_texts {
        let (k, text) = match split_assignment(a) {
            Ok(kv) => kv,
            Err(e) => return Err(Fail::usage(e.to_string())),
        };
        let Some(p) = find(&k) else {
            let hint = did_you_mean(&k, placeholders.iter().map(|p| p.name()))
                .map(|m| format!("did you mean `{m}`? "))
                .unwrap_or_default();
            return Err(Fail::usage(format!(
                "-p {k}: no parameter `{k}` in the steps that run; {hint}parameters are: {}",
                known()
            )));
        };
        match parse_text(&p, &text) {
            Ok(v) => {
                values.insert(k, v);
            }
            Err(e) => return Err(Fail::usage(e.to_string())),
        }
    }
    let interactive = req.interactive;
    let mut missing: Vec<String> = Vec::new();
    for p in &placeholders {
        if values.contains_key(p.name()) {
            continue;
        }
        if let Some(d) = p.arg("default") {
            values.insert(p.name().to_string(), d.clone());
            continue;
        }
        let delay = p.get("delay").and_then(|v| v.as_bool()).unwrap_or(false);
        let required = p.get("required").and_then(|v| v.as_bool()).unwrap_or(true);
        if delay {
            continue;
        }
        if !required {
            values.insert(p.name().to_string(), Val::Null);
            continue;
        }
        if interactive {
            if let Some(v) = crate::exec::params::prompt(p) {
                values.insert(p.name().to_string(), v);
                continue;
            }
        }
        missing.push(format!(
            "  {}  {}{}",
            p.name(),
            describe_expected(p),
            p.str_arg("description")
                .map(|d| format!("  \"{d}\""))
                .unwrap_or_default()
        ));
    }
    if !missing.is_empty() {
        return Err(Fail::usage(format!(
            "{} parameter{} without a value (give each with -p NAME=VALUE):\n{}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing.join("\n")
        )));
    }

    // Storage roots.
    let mut roots: HashMap<String, PathBuf> = HashMap::new();
    for a in &req.storage_texts {
        let Some((k, root)) = a
            .split_once('=')
            .filter(|(k, r)| !k.is_empty() && !r.is_empty())
        else {
            return Err(Fail::usage(format!("--storage `{a}`: write NAME=ROOT")));
        };
        if !storages_used.iter().any(|s| s.name() == k) {
            let names: Vec<String> = storages_used
                .iter()
                .map(|s| format!("`{}`", s.name()))
                .collect();
            return Err(Fail::usage(format!(
                "--storage {k}: the steps that run use no storage `{k}`; {}",
                if names.is_empty() {
                    "they use none".to_string()
                } else {
                    format!("they use {}", names.join(", "))
                }
            )));
        }
        let p = PathBuf::from(root);
        let abs = if p.is_absolute() {
            p
        } else {
            std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
        };
        roots.insert(k.to_string(), abs);
    }
    if interactive {
        let lacking: Vec<&Arc<Obj>> = storages_used
            .iter()
            .filter(|st| !roots.contains_key(st.name()))
            .collect();
        for st in lacking {
            eprint!("root folder of storage `{}`: ", st.name());
            let mut line = String::new();
            if std::io::stdin().read_line(&mut line).is_ok() && !line.trim().is_empty() {
                let p = PathBuf::from(line.trim());
                let abs = if p.is_absolute() {
                    p
                } else {
                    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
                };
                roots.insert(st.name().to_string(), abs);
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
        return Err(Fail::usage(format!(
            "{} storage root{} not given:\n{}",
            missing_roots.len(),
            if missing_roots.len() == 1 { "" } else { "s" },
            missing_roots.join("\n")
        )));
    }

    let home = home.to_path_buf();
    let store = Store::open(&home).map_err(|e| Fail::invalid(e.to_string()))?;

    // Outputs consumed from steps outside the selection come from earlier executions.
    let exec_id = new_id();
    let mut reused: HashMap<String, Produced> = HashMap::new();
    let mut reused_from = serde_json::Map::new();
    let mut lacking = Vec::new();
    for name in &selected {
        for d in &w.step(name).expect("exists").deps {
            if selected.contains(&d.on) || reused.contains_key(&d.on) {
                continue;
            }
            let DepKind::Data(out) = &d.kind else {
                continue;
            };
            match store.latest_executed(&w.name, &d.on, &exec_id) {
                Ok(Some((id, outputs, metrics))) => {
                    reused_from.insert(d.on.clone(), json!(id));
                    reused.insert(d.on.clone(), produced_from(&outputs, &metrics, Some(id)));
                }
                Ok(None) => lacking.push(format!(
                    "step `{name}` consumes output `{out}` of `{}`",
                    d.on
                )),
                Err(e) => return Err(Fail::invalid(e.to_string())),
            }
        }
    }
    if !lacking.is_empty() {
        return Err(Fail::invalid(format!(
            "nothing ran: no earlier execution of `{}` executed the steps whose outputs this run needs:\n  {}\n  run those steps too (add them to --steps), or run the whole workflow first",
            w.name,
            lacking.join("\n  ")
        )));
    }

    let base_dir = req.base_dir.clone();
    let def_json = definition::to_json(&w);
    let params_json = Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), val_to_json(v)))
            .collect(),
    );
    let storages_json = Value::Object(
        roots
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.to_string_lossy())))
            .collect(),
    );
    let step_types: Vec<(String, &'static str)> = selected
        .iter()
        .map(|n| (n.clone(), w.step(n).expect("exists").kind))
        .collect();
    if let Err(e) = store.create_execution(&NewExecution {
        id: &exec_id,
        workflow: &w.name,
        experiment: req.experiment.as_deref(),
        definition: &def_json,
        base_dir: &base_dir,
        parameters: &params_json,
        storages: &storages_json,
        reused: &Value::Object(reused_from),
        max_parallel: req.max_parallel,
        steps: &step_types,
    }) {
        return Err(Fail::invalid(e.to_string()));
    }
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

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

fn base_dir_of(script: &Path) -> PathBuf {
    let dir = script
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

fn produced_from(outputs: &Value, metrics: &Value, from: Option<String>) -> Produced {
    Produced::from_record(Status::Executed, outputs, metrics, from)
}

/// Holds the execution's lock (released by the OS if this process dies), runs it, reports.
/// Runs an execution to its end under its lock: (final status, store).
pub fn execute(store: Store, setup: Setup, rows: Vec<Recorded>) -> Result<(String, Store), String> {
    let _lock = lock(&store.home, &setup.exec_id)?;
    let runner = Runner::new(setup, store, Progress::new(false), rows);
    let rt = runtime()?;
    rt.block_on(runner.drive())
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn drive(store: Store, setup: Setup, rows: Vec<Recorded>, json_out: bool) -> i32 {
    let exec_id = setup.exec_id.clone();
    let result = execute(store, setup, rows);
    match result {
        Ok((status, store)) => {
            if json_out {
                match store.record(&exec_id) {
                    Ok(r) => println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
                    Err(e) => eprintln!("error: {e}"),
                }
            } else if status == "awaiting_input" {
                if let Ok(steps) = store.steps(&exec_id) {
                    for s in steps.iter().filter(|s| s.status == "awaiting_input") {
                        eprintln!("  {}: {}", s.name, s.reason.clone().unwrap_or_default());
                    }
                }
            } else if status == "failed" {
                eprintln!("  see `wf show {exec_id}` and `wf logs {exec_id} STEP`; `wf retry {exec_id}` runs the failed steps again");
            }
            exit_for(&status)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID
        }
    }
}

pub struct Lock(#[allow(dead_code)] std::fs::File);

/// An exclusive lock on one execution: two runners never drive it at once, and a dead
/// process holds nothing (the OS drops `flock` locks with the process).
pub fn lock(home: &Path, exec: &str) -> Result<Lock, String> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let dir = home.join("locks");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{exec}.lock"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let pid = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(format!(
            "execution {exec} is being run by another wf process (pid {})",
            pid.trim()
        ));
    }
    let _ = f.set_len(0);
    let _ = write!(f, "{}", std::process::id());
    Ok(Lock(f))
}

/// Whether some process holds the lock of `exec` (its runner is alive).
pub fn is_running(home: &Path, exec: &str) -> bool {
    let path = home.join("locks").join(format!("{exec}.lock"));
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    else {
        return false;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: as above; the lock is released again at once when we get it.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        false
    } else {
        true
    }
}

/// Rebuilds an execution from its records, to carry it on.
pub fn reload(store: &Store, exec: &str) -> Result<(Setup, Vec<Recorded>), String> {
    let row = store.execution(exec).map_err(|e| e.to_string())?;
    let file: Arc<str> = format!("<definition of {exec}>").into();
    let (obj, diags) = definition::from_json(&row.definition, &file);
    let obj = obj.ok_or_else(|| {
        format!(
            "the recorded definition cannot be read: {:?}",
            diags.first().map(|d| &d.message)
        )
    })?;
    let (w, _) = validate(&obj);
    let params: HashMap<String, Val> = row
        .parameters
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| value_from_json(v).map(|x| (k.clone(), x)))
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
    let steps = store.steps(exec).map_err(|e| e.to_string())?;
    let mut reused = HashMap::new();
    if let Some(m) = row.reused.as_object() {
        for (step, from) in m {
            let Some(from) = from.as_str() else { continue };
            if let Ok(rows) = store.steps(from) {
                if let Some(r) = rows.iter().find(|r| &r.name == step) {
                    reused.insert(
                        step.clone(),
                        produced_from(
                            r.outputs.as_ref().unwrap_or(&Value::Null),
                            r.metrics.as_ref().unwrap_or(&Value::Null),
                            Some(from.to_string()),
                        ),
                    );
                }
            }
        }
    }
    let rows = steps
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                Status::parse(&s.status),
                s.attempt,
                s.outputs.clone().unwrap_or(Value::Null),
                s.metrics.clone().unwrap_or(Value::Null),
                s.result,
            )
        })
        .collect();
    // A runner killed mid-step may have left its processes behind.
    for s in steps.iter().filter(|s| s.status == "running") {
        if let Some(pid) = s.pid {
            crate::backends::job::kill_leftover(pid);
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
    Ok((setup, rows))
}

#[derive(Args, Debug)]
pub struct CarryOnArgs {
    /// The execution (a unique prefix of its id, or `latest`)
    pub execution: String,
    /// Print the execution record as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

fn open(home: Option<&Path>, id: &str) -> Result<(Store, String), i32> {
    let store = Store::open(&home_dir(home)).map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID
    })?;
    let id = store.resolve_id(id).map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID
    })?;
    Ok((store, id))
}

/// `wf resume EXEC`: carries on after the runner died; executed steps are not run again.
pub fn resume(home: Option<&Path>, a: CarryOnArgs) -> i32 {
    let (store, id) = match open(home, &a.execution) {
        Ok(x) => x,
        Err(c) => return c,
    };
    carry_on(store, &id, a.json, |_, _| Ok(()))
}

fn carry_on(
    store: Store,
    id: &str,
    json: bool,
    prepare: impl FnOnce(&Store, &mut Vec<Recorded>) -> Result<(), String>,
) -> i32 {
    if is_running(&store.home, id) {
        eprintln!("error: execution {id} is being run by another wf process");
        return exit::INVALID;
    }
    let (setup, mut rows) = match reload(&store, id) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    if let Err(e) = prepare(&store, &mut rows) {
        eprintln!("error: {e}");
        return exit::USAGE;
    }
    if !json {
        eprintln!("execution {id} of workflow `{}`", setup.workflow.name);
    }
    drive(store, setup, rows, json)
}

#[derive(Args, Debug)]
pub struct RetryArgs {
    /// The execution
    pub execution: String,
    /// Only this step (and what follows it); else every failed and stopped step
    pub step: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `wf retry EXEC [STEP]`: runs the failed and stopped steps again and carries on.
pub fn retry(home: Option<&Path>, a: RetryArgs) -> i32 {
    let (store, id) = match open(home, &a.execution) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let step = a.step.clone();
    let id2 = id.clone();
    carry_on(store, &id2, a.json, move |store, rows| {
        if let Some(s) = &step {
            let Some(row) = rows.iter().find(|r| &r.0 == s) else {
                return Err(format!("execution {id} has no step `{s}`"));
            };
            if !matches!(row.1, Status::Failed | Status::Stopped) {
                return Err(format!(
                    "step `{s}` is {}: only failed or stopped steps are retried",
                    row.1.as_str()
                ));
            }
        } else if !rows
            .iter()
            .any(|r| matches!(r.1, Status::Failed | Status::Stopped))
        {
            return Err(format!(
                "execution {id} has no failed or stopped step to retry"
            ));
        }
        for r in rows.iter_mut() {
            let chosen = step.as_ref().is_none_or(|s| s == &r.0);
            if chosen && matches!(r.1, Status::Failed | Status::Stopped) {
                r.1 = Status::Waiting;
                store
                    .set_step(
                        &id,
                        &r.0,
                        "waiting",
                        Some("to be retried"),
                        &crate::store::StepPatch::default(),
                    )
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
}

#[derive(Args, Debug)]
pub struct ProceedArgs {
    /// The execution
    pub execution: String,
    /// The step awaiting input
    pub step: String,
    /// The values it waits for
    #[arg(
        short = 'p',
        long = "param",
        value_name = "NAME=VALUE",
        required = true
    )]
    pub params: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

/// `wf proceed EXEC STEP -p NAME=VALUE...`: supplies awaited input and carries on.
pub fn proceed(home: Option<&Path>, a: ProceedArgs) -> i32 {
    let (store, id) = match open(home, &a.execution) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let (setup, rows) = match reload(&store, &id) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let Some(row) = rows.iter().find(|r| r.0 == a.step) else {
        return usage(&format!("execution {id} has no step `{}`", a.step));
    };
    if row.1 != Status::AwaitingInput {
        return usage(&format!(
            "step `{}` is {}, not awaiting input",
            a.step,
            row.1.as_str()
        ));
    }
    let step = setup.workflow.step(&a.step).expect("recorded steps exist");
    let mut phs: Vec<Arc<Obj>> = Vec::new();
    Val::Obj(step.obj.clone()).walk(&mut |x| {
        if let Val::Obj(o) = x {
            if o.is_placeholder() && !phs.iter().any(|p| p.name() == o.name()) {
                phs.push(o.clone());
            }
        }
    });
    let mut params = store
        .execution(&id)
        .map(|r| r.parameters)
        .unwrap_or(json!({}));
    for text in &a.params {
        let (k, v) = match split_assignment(text) {
            Ok(kv) => kv,
            Err(e) => return usage(&e.to_string()),
        };
        let Some(p) = phs.iter().find(|p| p.name() == k) else {
            return usage(&format!("step `{}` takes no parameter `{k}`", a.step));
        };
        match parse_text(p, &v) {
            Ok(val) => params[k] = val_to_json(&val),
            Err(e) => return usage(&e.to_string()),
        }
    }
    if let Err(e) = store.set_parameters(&id, &params) {
        eprintln!("error: {e}");
        return exit::INVALID;
    }
    drop(setup);
    carry_on(store, &id, a.json, |_, _| Ok(()))
}
