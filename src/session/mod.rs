//! The development-state session (reference §4.8): `workflow.run(...)`, `workflow.debug(...)`,
//! `workflow.next()`, `workflow.set_placeholder(...)`, `workflow.set_data(...)`, carried out
//! for real from scripts run by `wf run` and from the REPL. A debug execution is an ordinary
//! execution in the records: `wf show` sees it and `wf resume` can finish it. Left unfinished
//! when its session ends, it is recorded as paused (`awaiting_input`, with a reason), not left
//! `running` for a runner that is gone. `wf run` reports the executions a script drove itself
//! (`run_listener` gives a run the terminal's progress) and does not run the workflow again.
//!
//! | file        | holds                                                                |
//! |-------------|----------------------------------------------------------------------|
//! | `mod.rs`    | `LocalDev`: the development state's methods, behind `DevHost`        |
//! | `cell.rs`   | `Session`: one input at a time in one engine and scope (REPL, kernel) |
//! | `complete.rs` | tab completion and multi-line detection (REPL, kernel)             |
//! | `report.rs` | what `next()` reports, as data (the REPL prints it, the kernel draws it) |
//! | `shown.rs`  | an input's value, typed: workflow, step, execution record, plain     |

pub mod cell;
pub mod complete;
pub mod report;
pub mod shown;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, EvalAltResult};
use serde_json::Value;

use crate::bindings::DevHost;
use crate::exec::cancel::Cancel;
use crate::exec::engine::{runtime, DebugRun, Engine};
use crate::exec::events::Listener;
use crate::exec::params::{check_value, describe_expected};
use crate::exec::prepare::Request;
use crate::exec::signals::cancel_on_signals;
use crate::model::definition::val_to_json;
use crate::model::status::ExecStatus;
use crate::model::val::{Obj, Span, Val};
use crate::model::validate::validate;
use crate::model::workflow::{step_names, value_key};
pub use report::NextView;

#[derive(Default)]
struct State {
    /// Values set before a run or between `next()` calls, by parameter name.
    values: HashMap<String, Val>,
    session: Option<Debugging>,
    /// The last execution a script's `run` carried out: its id and final status.
    last_run: Option<(String, ExecStatus)>,
    /// Every execution `run` or `debug` started here, in order.
    started: Vec<String>,
}

/// The debug execution a session holds. Put down before it ended (the script or the REPL
/// ends, `:clear`, another `debug(...)`), it is recorded as paused: `awaiting_input`, with a
/// reason saying how far it went and that `wf resume` runs the rest. So `wf show` does not
/// call it interrupted, and `wf serve` does not carry it on behind its developer's back.
struct Debugging {
    run: DebugRun,
    /// The phases the last `next()` said come next (or the one that waits for values).
    next: Vec<String>,
    put_down: bool,
}

impl Debugging {
    fn new(run: DebugRun) -> Debugging {
        Debugging {
            run,
            next: Vec::new(),
            put_down: false,
        }
    }

    /// Records the execution as paused, unless it has ended; the reason recorded.
    fn pause(&mut self) -> Option<Result<String, String>> {
        if std::mem::replace(&mut self.put_down, true) || self.run.finished().is_some() {
            return None;
        }
        let id = self.run.exec_id().to_string();
        let store = self.run.store();
        let recorded = store
            .execution(&id)
            .and_then(|e| Ok((e, store.steps(&id)?)));
        let (e, rows) = match recorded {
            Ok(r) => r,
            Err(err) => return Some(Err(format!("execution {id}: {err}"))),
        };
        if e.status.has_ended() {
            return None;
        }
        let ran = rows.iter().filter(|r| r.status.is_terminal()).count();
        let total = rows.len();
        let next = if self.next.is_empty() {
            String::new()
        } else {
            format!(" (next: `{}`)", self.next.join("`, `"))
        };
        let reason = format!(
            "paused in the development state after {ran} of {total} phase{}{next}: `wf resume {id}` runs the rest",
            if total == 1 { "" } else { "s" }
        );
        Some(
            store
                .set_execution(&id, ExecStatus::AwaitingInput, Some(&reason))
                .map(|()| reason)
                .map_err(|err| format!("execution {id} cannot be recorded as paused: {err}")),
        )
    }
}

impl Drop for Debugging {
    fn drop(&mut self) {
        let _ = self.pause();
    }
}

/// A debug execution put down before it ended.
#[derive(Debug, Clone)]
pub struct Paused {
    pub execution: String,
    /// What its record now says (or why it could not be recorded).
    pub reason: Result<String, String>,
}

pub struct LocalDev {
    home: PathBuf,
    base: Request,
    state: Mutex<State>,
    /// When set, what the methods report is kept here for the caller (the REPL) to show.
    captured: Mutex<Option<Vec<Said>>>,
    /// The phase or run under way, for `interrupt` from another thread (the kernel's control).
    running: Mutex<Option<Cancel>>,
    /// Storage roots given in the session (`:storage NAME=ROOT`), by name.
    roots: Mutex<Vec<(String, String)>>,
    /// When set, what the methods report goes here as it is said (the kernel's cell), and a
    /// run's step changes too.
    live: Arc<Mutex<Option<LiveWriter>>>,
    /// When set, each `run(...)` reports its progress to a new listener made by this (the
    /// terminal's, under `wf run`).
    run_listener: Mutex<Option<ListenerMaker>>,
}

/// Makes the listener of one run.
pub type ListenerMaker = Box<dyn Fn() -> Arc<dyn Listener> + Send + Sync>;

/// A front-end's writer of reports as they are said.
pub type LiveWriter = Box<dyn FnMut(&Said) + Send>;

/// Says each step change of a run through the live writer: a run's progress in a cell.
struct Progress(Arc<Mutex<Option<LiveWriter>>>);

impl crate::exec::events::Listener for Progress {
    fn on_event(&self, event: &crate::exec::events::Event) {
        if let crate::exec::events::Event::Step {
            step,
            status,
            reason,
            ..
        } = event
        {
            let why = reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let line = Said::Text(format!("  {step}: {}{why}\n", status.as_str()));
            if let Some(write) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                write(&line);
            }
        }
    }
}

/// One thing the development state said: a line of text, or `next()`'s report.
#[derive(Debug, Clone)]
pub enum Said {
    Text(String),
    Next(Box<NextView>),
}

impl Said {
    pub fn text(&self) -> String {
        match self {
            Said::Text(t) => t.clone(),
            Said::Next(v) => v.text(),
        }
    }
}

fn fail(msg: impl Into<String>, at: &Span) -> Box<EvalAltResult> {
    let _ = at;
    Box::new(EvalAltResult::ErrorRuntime(
        msg.into().into(),
        rhai::Position::NONE,
    ))
}

fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or(0.0).into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(a) => Dynamic::from_array(a.iter().map(json_to_dynamic).collect()),
        Value::Object(m) => {
            let mut map = rhai::Map::new();
            for (k, x) in m {
                map.insert(k.as_str().into(), json_to_dynamic(x));
            }
            Dynamic::from_map(map)
        }
    }
}

impl LocalDev {
    /// `base` holds what every run started here gets: the command line's `-p`, `--params`,
    /// `--storage`, `--max-parallel`, and the folder relative paths resolve from.
    pub fn new(home: PathBuf, base: Request) -> Arc<LocalDev> {
        Arc::new(LocalDev {
            home,
            base,
            state: Mutex::new(State::default()),
            captured: Mutex::new(None),
            running: Mutex::new(None),
            roots: Mutex::new(Vec::new()),
            live: Arc::default(),
            run_listener: Mutex::new(None),
        })
    }

    /// Reports each run started here (`workflow.run(...)`) to a listener `make` gives, as
    /// `wf run` reports its own: a line per step change, a failed step's error and log tail.
    pub fn report_runs_with(&self, make: ListenerMaker) {
        *self.run_listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(make);
    }

    /// Keeps reports for `take_reports` instead of printing them.
    pub fn capture_reports(&self) {
        *self.captured.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// What was reported since the last call (when capturing), as text.
    pub fn take_reports(&self) -> String {
        self.take_said().iter().map(Said::text).collect()
    }

    /// What was reported since the last call (when capturing), in order.
    pub fn take_said(&self) -> Vec<Said> {
        self.captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn say(&self, text: &str) {
        self.tell(Said::Text(text.to_string()));
    }

    /// Sends reports to `write` as they are said instead of keeping them (`None`: keep them).
    pub fn report_live(&self, write: Option<LiveWriter>) {
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = write;
    }

    fn tell(&self, said: Said) {
        if let Some(write) = self.live.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            write(&said);
            return;
        }
        match self
            .captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(buf) => buf.push(said),
            None => {
                use std::io::Write;
                let _ = write!(std::io::stderr(), "{}", said.text());
            }
        }
    }

    /// Stops the phase or run under way, as Ctrl-C does (from another thread).
    pub fn interrupt(&self) {
        if let Some(c) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            c.cancel("stopped by an interrupt");
        }
    }

    /// Keeps `cancel` as what `interrupt` stops while `act` runs.
    fn while_running<T>(&self, cancel: &Cancel, act: impl FnOnce() -> T) -> T {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(cancel.clone());
        let out = act();
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        out
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The debug execution under way, for the REPL's `:status`.
    pub fn debug_execution(&self) -> Option<String> {
        let st = self.lock_state();
        st.session.as_ref().map(|s| s.run.exec_id().to_string())
    }

    /// The execution a script's `workflow.run(...)` or `debug(...)` carried out last.
    pub fn last_run(&self) -> Option<(String, ExecStatus)> {
        let st = self.lock_state();
        st.last_run.clone().or_else(|| {
            st.session.as_ref().map(|s| {
                (
                    s.run.exec_id().to_string(),
                    s.run.finished().unwrap_or(ExecStatus::Running),
                )
            })
        })
    }

    /// Ends the debug session. An execution it left unfinished stays in the records,
    /// recorded as paused (`wf resume` runs the rest); returns it.
    pub fn end_session(&self) -> Option<Paused> {
        let mut session = self.lock_state().session.take()?;
        let reason = session.pause()?;
        Some(Paused {
            execution: session.run.exec_id().to_string(),
            reason,
        })
    }

    /// Every execution `run(...)` or `debug(...)` started here, in order, with its status in
    /// the records (a debug execution still held is `running`).
    pub fn driven(&self) -> Vec<(String, ExecStatus)> {
        let ids = self.lock_state().started.clone();
        let store = crate::store::Store::open(&self.home).ok();
        ids.into_iter()
            .map(|id| {
                let status = store
                    .as_ref()
                    .and_then(|s| s.execution(&id).ok())
                    .map_or(ExecStatus::Running, |e| e.status);
                (id, status)
            })
            .collect()
    }

    /// Values set with `set_placeholder`/`set_data`, for the REPL's `:params`.
    pub fn values(&self) -> Vec<(String, Val)> {
        let st = self.lock_state();
        let mut v: Vec<(String, Val)> = st
            .values
            .iter()
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn clear(&self) {
        *self.lock_state() = State::default();
    }

    /// Gives the storage `NAME` its root for the runs started here from now on (`ROOT` is
    /// relative to the session's folder).
    pub fn set_storage(&self, text: &str) -> Result<(String, PathBuf), String> {
        let Some((name, root)) = text
            .split_once('=')
            .map(|(n, r)| (n.trim(), r.trim()))
            .filter(|(n, r)| !n.is_empty() && !r.is_empty())
        else {
            return Err(format!("`{text}`: write NAME=ROOT"));
        };
        // `..` is resolved here, so paths shown later read plainly.
        let mut path = PathBuf::new();
        for c in self.base.base_dir.join(root).components() {
            match c {
                std::path::Component::ParentDir => {
                    path.pop();
                }
                std::path::Component::CurDir => {}
                other => path.push(other),
            }
        }
        let mut roots = self.roots.lock().unwrap_or_else(|p| p.into_inner());
        roots.retain(|(n, _)| n != name);
        roots.push((name.to_string(), path.to_string_lossy().into_owned()));
        Ok((name.to_string(), path))
    }

    /// The storage roots given in the session, as `NAME=ROOT`.
    pub fn storage_roots(&self) -> Vec<String> {
        self.roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, r)| format!("{n}={r}"))
            .collect()
    }

    fn request(&self, workflow: &Arc<Obj>, args: &Obj, values: &HashMap<String, Val>) -> Request {
        let steps: Vec<String> = step_names(args.arg("steps"))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // Roots given in the session, for the storages the steps that run use (a root for
        // one they do not use is refused, as `--storage` is).
        let used = storages_used(workflow, &steps);
        let mut storage_texts = self.base.storage_texts.clone();
        for (name, root) in self.roots.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let given = storage_texts
                .iter()
                .any(|t| t.split_once('=').is_some_and(|(n, _)| n == name));
            if used.iter().any(|u| u == name) && !given {
                storage_texts.push(format!("{name}={root}"));
            }
        }
        Request {
            storage_texts,
            steps: if steps.is_empty() {
                self.base.steps.clone()
            } else {
                steps
            },
            experiment: args
                .str_arg("experiment_id")
                .map(str::to_string)
                .or_else(|| self.base.experiment.clone()),
            typed: values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..self.base.clone()
        }
    }

    /// The placeholder whose value is kept under `key` (see `value_key`).
    pub(crate) fn placeholder(workflow: &Arc<Obj>, key: &str) -> Option<Arc<Obj>> {
        let mut found = None;
        Val::Obj(workflow.clone()).walk(&mut |v| {
            if let Val::Obj(o) = v {
                if found.is_none() && o.is_placeholder() && value_key(o) == key {
                    found = Some(o.clone());
                }
            }
        });
        found
    }

    fn set_value(
        &self,
        workflow: &Arc<Obj>,
        args: &Obj,
        data: bool,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let name = args.str_arg("name").unwrap_or("").to_string();
        // `set_placeholder` gives parameters, `set_data` data: the two are kept apart.
        let key = if data {
            format!("data:{name}")
        } else {
            name.clone()
        };
        let found = Self::placeholder(workflow, &key).or_else(|| {
            // The other kind of the same name, to say which method it takes.
            Self::placeholder(workflow, &name)
                .or_else(|| Self::placeholder(workflow, &format!("data:{name}")))
        });
        let Some(p) = found else {
            let mut names: Vec<String> = Vec::new();
            Val::Obj(workflow.clone()).walk(&mut |v| {
                if let Val::Obj(o) = v {
                    if o.is_placeholder() && !names.iter().any(|n| n == o.name()) {
                        names.push(o.name().to_string());
                    }
                }
            });
            let hint = crate::diag::did_you_mean(&name, names.iter().map(String::as_str))
                .map(|m| format!("; did you mean `{m}`?"))
                .unwrap_or_else(|| {
                    if names.is_empty() {
                        "; it has none".to_string()
                    } else {
                        format!("; its parameters are `{}`", names.join("`, `"))
                    }
                });
            return Err(fail(
                format!(
                    "workflow `{}` has no parameter `{name}`{hint}",
                    workflow.name()
                ),
                at,
            ));
        };
        let given = args
            .arg(if data { "data" } else { "value" })
            .cloned()
            .unwrap_or(Val::Null);
        let value = if data && p.is("ServiceInputPlaceholder") {
            // Its value is the reference's list of models, checked as `-p` checks it.
            check_value(&p, &val_to_json(&given)).map_err(|e| fail(e.to_string(), at))?
        } else if data {
            let ok = match (&given, p.class()) {
                (Val::Obj(o), "OBSPlaceholder") => o.is("OBSPath"),
                (Val::Obj(o), "DatasetPlaceholder") => o.is("Dataset"),
                (Val::Obj(o), "LabelTaskPlaceholder") => o.is("LabelTask"),
                (Val::Obj(o), "ServiceUpdatePlaceholder") => o.is("ServiceData"),
                (Val::Obj(o), "SWRImagePlaceholder") => o.is("SWRImage"),
                (Val::Obj(o), "DataSelector") => o.is("OBSPath") || o.is("Dataset"),
                _ => false,
            };
            if !ok {
                return Err(fail(
                    format!(
                        "`{name}` is a `{}`: it takes {}, not {}",
                        p.spec.path(),
                        describe_expected(&p),
                        given.describe()
                    ),
                    at,
                ));
            }
            given
        } else {
            if !p.is("Placeholder") {
                return Err(fail(
                    format!(
                        "`{name}` is a data placeholder: use `workflow.set_data(\"{name}\", ...)`"
                    ),
                    at,
                ));
            }
            check_value(&p, &val_to_json(&given)).map_err(|e| fail(e.to_string(), at))?
        };
        let mut st = self.lock_state();
        st.values.insert(key.clone(), value.clone());
        if let Some(s) = st.session.as_mut() {
            s.run
                .set_param(&key, value)
                .map_err(|e| fail(e.to_string(), at))?;
        }
        let shown = serde_json::to_string(&val_to_json(st.values.get(&key).unwrap_or(&Val::Null)))
            .unwrap_or_default();
        drop(st);
        self.say(&format!("  {name} = {shown}\n"));
        Ok(Dynamic::UNIT)
    }

    /// `workflow.release_to_gallery(#{ content_id, version, desc, title, visibility,
    /// group_users })`: releases the workflow into the home's registry, then publishes that
    /// version to the gallery.
    fn release_to_gallery(
        &self,
        workflow: &Arc<Obj>,
        args: &Obj,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let (w, diags) = validate(workflow);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(fail(
                format!("the workflow is not valid: {} (at {})", d.message, d.at),
                at,
            ));
        }
        let source = PathBuf::from(&*workflow.at.file);
        let gallery = crate::gallery::gallery_dir(&self.home, None);
        // Only the keywords the script gave: a new version keeps the previous one's visibility.
        let p = crate::gallery::Publish::from_args(args);
        let (released, id, version) = crate::gallery::release_and_publish(
            &self.home,
            &gallery,
            &w,
            &self.base.base_dir,
            source.is_file().then_some(source.as_path()),
            &p,
        )
        .map_err(|e| fail(e, at))?;
        self.say(&format!(
            "released `{}` as version {}; published to the gallery `{}` as `{id}` {version}\n",
            w.name,
            released.version,
            gallery.display()
        ));
        Ok(Dynamic::from(format!("{id}@{version}")))
    }

    /// `workflow.release()`: the workflow as the next version in the home's registry.
    fn release(&self, workflow: &Arc<Obj>, at: &Span) -> Result<(String, i64), Box<EvalAltResult>> {
        let (w, diags) = validate(workflow);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(fail(
                format!("the workflow is not valid: {} (at {})", d.message, d.at),
                at,
            ));
        }
        let store = crate::store::Store::open(&self.home).map_err(|e| fail(e.to_string(), at))?;
        let base =
            std::path::absolute(&self.base.base_dir).unwrap_or_else(|_| self.base.base_dir.clone());
        let r = crate::registry::release(&store, &w, &base, None)
            .map_err(|e| fail(e.to_string(), at))?;
        if r.new {
            self.say(&format!("released `{}` as version {}\n", r.name, r.version));
        } else {
            self.say(&format!(
                "`{}` is unchanged: version {} stays the latest\n",
                r.name, r.version
            ));
        }
        Ok((r.name, r.version))
    }

    fn start(
        &self,
        workflow: &Arc<Obj>,
        args: &Obj,
        debug: bool,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let (w, diags) = validate(workflow);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(fail(
                format!("the workflow is not valid: {} (at {})", d.message, d.at),
                at,
            ));
        }
        let mut st = self.lock_state();
        let mut req = self.request(workflow, args, &st.values);
        req.defer_missing = debug;
        // The development state never asks at a prompt: `next()` names what is missing.
        let mut engine = Engine::new(&self.home, crate::backends::backend);
        let live = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        // A debug phase is reported by `next()`; a run's steps are reported as they change.
        let listener = self
            .run_listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|_| !debug)
            .map(|make| make());
        let announced = listener.is_some();
        if let Some(l) = listener {
            engine = engine.listen(l);
        } else if live && !debug {
            engine = engine.listen(Arc::new(Progress(self.live.clone())));
        }
        let prepared = engine
            .prepare(w, &req)
            .map_err(|e| fail(e.to_string(), at))?;
        let exec_id = prepared.exec_id().to_string();
        st.started.push(exec_id.clone());
        if debug {
            let run = engine
                .debug(prepared)
                .map_err(|e| fail(e.to_string(), at))?;
            // The one it replaces is paused, not left for dead.
            if let Some(mut old) = st.session.take() {
                if let Some(Ok(reason)) = old.pause() {
                    self.say(&format!("debug execution {} {reason}\n", old.run.exec_id()));
                }
            }
            self.say(&format!(
                "debug execution {exec_id} of `{}`: call workflow.next() to run the next phase\n",
                workflow.name()
            ));
            st.session = Some(Debugging::new(run));
            return Ok(exec_id.into());
        }
        drop(st);
        if !announced {
            self.say(&format!(
                "execution {exec_id} of workflow `{}`\n",
                workflow.name()
            ));
        }
        let outcome = self
            .while_running(engine.cancel(), || {
                interruptible(&engine, |engine| engine.run(prepared))
            })
            .map_err(|e| fail(e.to_string(), at))?;
        self.lock_state().last_run = Some((exec_id.clone(), outcome.status));
        let record = outcome.record().map_err(|e| fail(e.to_string(), at))?;
        Ok(json_to_dynamic(&record.to_json()))
    }

    fn next(&self, at: &Span) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut st = self.lock_state();
        let Some(s) = st.session.as_mut() else {
            return Err(fail(
                "no debug execution: start one with `workflow.debug(#{ ... })`",
                at,
            ));
        };
        // Ctrl-C stops this phase, not the session around it.
        let interrupt = Cancel::new();
        let _signals = runtime()
            .and_then(|rt| {
                cancel_on_signals(rt, interrupt.clone())
                    .map_err(|e| crate::exec::error::ExecError::System(e.to_string()))
            })
            .map_err(|e| fail(e.to_string(), at))?;
        let report = self
            .while_running(&interrupt, || s.run.next(&interrupt))
            .map_err(|e| fail(e.to_string(), at))?;
        let view = NextView::new(&report, &s.run);
        s.next = match &view.needs {
            Some(n) => vec![n.step.clone()],
            None => view.next.clone(),
        };
        drop(st);
        self.tell(Said::Next(Box::new(view)));
        // The report is the interface; the value stays quiet in the REPL.
        Ok(Dynamic::UNIT)
    }
}

/// The storages the steps named (all when none are) use.
fn storages_used(workflow: &Arc<Obj>, steps: &[String]) -> Vec<String> {
    let w = crate::model::workflow::Workflow::read(workflow);
    let mut used: Vec<String> = Vec::new();
    for step in &w.steps {
        if !steps.is_empty() && !steps.contains(&step.name) {
            continue;
        }
        for (k, v) in &step.obj.args {
            if *k == "depend_steps" {
                continue;
            }
            v.walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if matches!(o.class(), "Storage" | "InputStorage" | "OutputStorage")
                        && !used.iter().any(|u| u == o.name())
                    {
                        used.push(o.name().to_string());
                    }
                }
            });
        }
    }
    used
}

/// Runs `act` with Ctrl-C and SIGTERM stopping the execution instead of the process.
fn interruptible<T>(
    engine: &Engine,
    act: impl FnOnce(&Engine) -> crate::exec::error::Result<T>,
) -> crate::exec::error::Result<T> {
    let _signals = cancel_on_signals(runtime()?, engine.cancel().clone())
        .map_err(|e| crate::exec::error::ExecError::System(e.to_string()))?;
    act(engine)
}

/// The line to type to give a parameter a value.
pub fn set_line(name: &str, p: Option<&Obj>) -> String {
    match p.map(|p| p.class()) {
        Some("OBSPlaceholder") => {
            format!("workflow.set_data(\"{name}\", wf.data.OBSPath(#{{ obs_path: \"...\" }}))")
        }
        Some("DatasetPlaceholder") => {
            format!("workflow.set_data(\"{name}\", wf.data.Dataset(#{{ dataset_name: \"...\", version_name: \"...\" }}))")
        }
        Some("LabelTaskPlaceholder") => {
            format!("workflow.set_data(\"{name}\", wf.data.LabelTask(#{{ dataset_name: \"...\", task_name: \"...\" }}))")
        }
        Some("ServiceUpdatePlaceholder") => format!(
            "workflow.set_data(\"{name}\", wf.data.ServiceData(#{{ service_id: \"...\" }}))"
        ),
        Some("ServiceInputPlaceholder") => format!(
            "workflow.set_data(\"{name}\", [#{{ model_name: \"...\", model_version: \"0.0.1\", weight: 100 }}])"
        ),
        Some("SWRImagePlaceholder") => {
            format!("workflow.set_data(\"{name}\", wf.data.SWRImage(#{{ swr_path: \"...\" }}))")
        }
        Some("DataSelector") => {
            format!("workflow.set_data(\"{name}\", wf.data.OBSPath(#{{ obs_path: \"...\" }}))")
        }
        _ => {
            let example = match p.and_then(|p| p.arg("placeholder_type")) {
                Some(Val::Enum(e)) => match e.name {
                    "INT" => "10".to_string(),
                    "FLOAT" => "0.5".to_string(),
                    "BOOL" => "true".to_string(),
                    "JSON" => "#{ key: \"value\" }".to_string(),
                    "LIST" => "[1, 2]".to_string(),
                    "ENUM" => p
                        .and_then(|p| p.arg("enum_list"))
                        .and_then(|l| l.items().first().cloned())
                        .map(|v| serde_json::to_string(&val_to_json(&v)).unwrap_or_default())
                        .unwrap_or_else(|| "\"...\"".into()),
                    _ => "\"...\"".to_string(),
                },
                _ => "\"...\"".to_string(),
            };
            format!(
                "workflow.set_placeholder(\"{name}\", {example})   // {}",
                p.map(describe_expected).unwrap_or_default()
            )
        }
    }
}

impl DevHost for LocalDev {
    fn call(
        &self,
        method: &'static str,
        workflow: &Arc<Obj>,
        args: &Obj,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        match method {
            "run" => self.start(workflow, args, false, at),
            "debug" => self.start(workflow, args, true, at),
            "next" => self.next(at),
            "set_placeholder" => self.set_value(workflow, args, false, at),
            "set_data" => self.set_value(workflow, args, true, at),
            "release" => self.release(workflow, at).map(|(_, v)| Dynamic::from(v)),
            "release_and_run" => {
                self.release(workflow, at)?;
                self.start(workflow, args, false, at)
            }
            "release_to_gallery" => self.release_to_gallery(workflow, args, at),
            other => {
                self.say(&format!(
                    "note: `workflow.{other}(...)` is not carried out here\n"
                ));
                Ok(Dynamic::UNIT)
            }
        }
    }
}
