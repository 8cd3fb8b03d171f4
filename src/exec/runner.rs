//! Drives one execution to its end: decides what runs (see `decide.rs`), starts steps as
//! slots and flavors allow, records every status change before acting on it, and stops
//! cleanly on Ctrl-C, SIGTERM or `wf stop`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::decide::{decide, execution_outcome, Branch, Decision, DepState, Status};
use super::flavors::{Flavor, Machine, Usage};
use super::metrics::read_metrics;
use super::progress::Progress;
use super::resolve::{Ctx, Produced};
use crate::backends::job::{self, JobEnd, JobRun};
use crate::model::val::{Obj, Val};
use crate::model::workflow::{step_names, DepKind, Step, Workflow};
use crate::store::{StepPatch, Store};

/// A step as recorded: name, status, attempt, outputs, metrics, condition result.
pub type Recorded = (String, Status, u32, Value, Value, Option<bool>);

/// Everything fixed about an execution.
pub struct Setup {
    pub exec_id: String,
    pub workflow: Workflow,
    pub base_dir: PathBuf,
    pub home: PathBuf,
    pub params: HashMap<String, Val>,
    pub storages: HashMap<String, PathBuf>,
    /// The steps this execution runs, by name.
    pub selected: Vec<String>,
    /// Outputs of steps outside the selection, from earlier executions.
    pub reused: HashMap<String, Produced>,
    pub max_parallel: usize,
}

#[derive(Debug, Clone)]
struct StepState {
    status: Status,
    attempt: u32,
    reason: String,
    flavor: Option<Flavor>,
}

enum Msg {
    Started {
        name: String,
        pid: u32,
    },
    AttemptFailed {
        name: String,
        attempt: u32,
        error: String,
    },
    Retrying {
        name: String,
        attempt: u32,
    },
    Done {
        name: String,
        end: StepEnd,
    },
}

enum StepEnd {
    Executed {
        outputs: IndexMap<String, Value>,
        metrics: IndexMap<String, f64>,
    },
    Failed(String),
    Stopped,
}

/// What a job step runs, resolved for this execution.
struct JobPlan {
    run: JobRun,
    inputs: IndexMap<String, Value>,
    outputs: IndexMap<String, Value>,
    metrics_files: Vec<PathBuf>,
    flavor: Flavor,
    retries: u32,
    retry_delay: Duration,
    log_export: Option<PathBuf>,
}

pub struct Runner {
    s: Setup,
    store: Store,
    machine: Machine,
    usage: Usage,
    state: HashMap<String, StepState>,
    produced: HashMap<String, Produced>,
    stops: HashMap<String, watch::Sender<bool>>,
    running: usize,
    stopping: bool,
    progress: Progress,
    /// Ask for delayed values on the terminal instead of pausing.
    interactive: bool,
    /// Set when a debug execution has ended.
    finished: Option<String>,
}

/// What one `next()` did.
#[derive(Debug, Default)]
pub struct NextReport {
    /// The phase that ran: its name, how it ended, how long it took.
    pub ran: Option<(String, Status, Duration)>,
    /// Phases skipped on the way, with why.
    pub skipped: Vec<(String, String)>,
    /// The phase that could not run for want of values: its name and theirs.
    pub needs: Option<(String, Vec<String>)>,
    /// The phases that can run next.
    pub next: Vec<String>,
    /// The execution's status, once it has ended.
    pub finished: Option<String>,
}

pub fn env_name(prefix: &str, name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{body}")
}

impl Runner {
    /// `rows` are the recorded statuses (name, status, attempt, outputs, metrics, result) of
    /// a resumed execution; running steps among them run again.
    /// Debug executions never prompt: `next()` says what to set instead.
    pub fn no_prompts(mut self) -> Runner {
        self.interactive = false;
        self
    }

    pub fn new(mut s: Setup, store: Store, progress: Progress, rows: Vec<Recorded>) -> Runner {
        // Decide in dependency order, so one pass settles a whole chain.
        if let Ok(order) = crate::model::graph::Dag::build(&s.workflow).order() {
            let rank: HashMap<&str, usize> = order
                .iter()
                .enumerate()
                .map(|(r, i)| (s.workflow.steps[*i].name.as_str(), r))
                .collect();
            let mut sel = s.selected.clone();
            sel.sort_by_key(|n| rank.get(n.as_str()).copied().unwrap_or(usize::MAX));
            s.selected = sel;
        }
        let mut state = HashMap::new();
        let mut produced = s.reused.clone();
        for name in &s.selected {
            state.insert(
                name.clone(),
                StepState {
                    status: Status::Waiting,
                    attempt: 0,
                    reason: String::new(),
                    flavor: None,
                },
            );
        }
        for (name, status, attempt, outputs, metrics, _result) in rows {
            let status = match status {
                Status::Running | Status::AwaitingInput => Status::Waiting,
                other => other,
            };
            if let Some(st) = state.get_mut(&name) {
                st.status = status;
                st.attempt = attempt;
            }
            if matches!(status, Status::Executed | Status::Skipped) {
                produced.insert(
                    name,
                    Produced::from_record(status, &outputs, &metrics, None),
                );
            }
        }
        Runner {
            s,
            store,
            machine: Machine::detect(),
            usage: Usage::default(),
            state,
            produced,
            stops: HashMap::new(),
            running: 0,
            stopping: false,
            progress,
            interactive: std::io::IsTerminal::is_terminal(&std::io::stdin())
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            finished: None,
        }
    }

    pub fn exec_id(&self) -> &str {
        &self.s.exec_id
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            exec_id: &self.s.exec_id,
            home: &self.s.home,
            base_dir: &self.s.base_dir,
            params: &self.s.params,
            storages: &self.s.storages,
            produced: &self.produced,
        }
    }

    /// The state of a step of this execution (every selected step has one).
    fn st(&mut self, name: &str) -> &mut StepState {
        self.state
            .get_mut(name)
            .expect("every selected step has a state")
    }

    /// Records the start of the step's next attempt; returns its number.
    fn begin_attempt(&mut self, name: &str) -> Result<u32, String> {
        let attempt = self.state[name].attempt + 1;
        self.set(
            name,
            Status::Running,
            None,
            StepPatch {
                attempt: Some(attempt),
                started: true,
                ..StepPatch::default()
            },
        )?;
        self.st(name).attempt = attempt;
        Ok(attempt)
    }

    fn set(
        &mut self,
        name: &str,
        status: Status,
        reason: Option<&str>,
        patch: StepPatch,
    ) -> Result<(), String> {
        self.store
            .set_step(&self.s.exec_id, name, status.as_str(), reason, &patch)
            .map_err(|e| e.to_string())?;
        if let Some(st) = self.state.get_mut(name) {
            st.status = status;
            if let Some(r) = reason {
                st.reason = r.to_string();
            }
        }
        self.progress.step(name, status, reason);
        Ok(())
    }

    /// Runs until nothing more can happen; returns the execution's final status.
    pub async fn drive(mut self) -> Result<(String, Store), String> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        self.store
            .set_execution(&self.s.exec_id, "running", None)
            .map_err(|e| e.to_string())?;
        loop {
            let progressed = if self.stopping {
                false
            } else {
                self.schedule(&tx)?
            };
            if self.running == 0 && !progressed {
                break;
            }
            if progressed && self.running == 0 {
                continue;
            }
            tokio::select! {
                msg = rx.recv() => {
                    if let Some(m) = msg {
                        self.handle(m)?;
                    }
                }
                _ = &mut ctrl_c => self.stop_all("stopped by Ctrl-C"),
                _ = term.recv() => self.stop_all("stopped by SIGTERM"),
                _ = tick.tick() => self.poll_requests()?,
            }
        }
        let statuses: Vec<Status> = self.state.values().map(|s| s.status).collect();
        let outcome = if self.stopping {
            "stopped"
        } else {
            execution_outcome(&statuses, false).unwrap_or("failed")
        };
        let reason = self.summary_reason(outcome);
        self.store
            .set_execution(&self.s.exec_id, outcome, reason.as_deref())
            .map_err(|e| e.to_string())?;
        self.progress.finish(&self.s.exec_id, outcome);
        Ok((outcome.to_string(), self.store))
    }

    /// Debugging: runs the next phase that can run, alone, and reports what happened.
    pub async fn next_phase(&mut self) -> Result<NextReport, String> {
        let mut report = NextReport::default();
        if self.finished.is_some() {
            report.finished = self.finished.clone();
            return Ok(report);
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let names = self.s.selected.clone();
        let mut chosen: Option<Step> = None;
        // Skips are settled first (they may unblock the next phase); then the first step
        // that can run, in dependency order.
        loop {
            let mut changed = false;
            for name in &names {
                if self.state[name].status != Status::Waiting {
                    continue;
                }
                let step = self.step(name).clone();
                match self.decide_step(&step) {
                    Decision::Skip(r) => {
                        self.skip(name, &r)?;
                        report.skipped.push((name.clone(), r));
                        changed = true;
                    }
                    Decision::EvaluateSkipConditions => match self.skip_conditions_hold(&step) {
                        Ok(Some(r)) => {
                            self.skip(name, &r)?;
                            report.skipped.push((name.clone(), r));
                            changed = true;
                        }
                        Ok(None) => {
                            if chosen.is_none() {
                                chosen = Some(step);
                            }
                        }
                        Err(e) => {
                            self.fail_now(
                                name,
                                &format!("its skip conditions cannot be evaluated: {e}"),
                            )?;
                            changed = true;
                        }
                    },
                    Decision::Run => {
                        if chosen.is_none() {
                            chosen = Some(step);
                        }
                    }
                    Decision::Wait(_) | Decision::Blocked(_) => {}
                }
            }
            if !changed {
                break;
            }
            chosen = None;
        }
        if let Some(step) = chosen {
            let missing = self.missing_inputs(&step);
            if !missing.is_empty() {
                report.needs = Some((step.name.clone(), missing));
                return Ok(report);
            }
            let started = Instant::now();
            self.try_start(&step, &tx)?;
            // Ctrl-C stops this phase, not the session around it.
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            let mut interrupted = false;
            while self.state[&step.name].status == Status::Running {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => self.handle(m)?,
                        None => break,
                    },
                    _ = &mut ctrl_c, if !interrupted => {
                        interrupted = true;
                        if let Some(tx) = self.stops.get(&step.name) {
                            let _ = tx.send(true);
                        }
                    }
                }
            }
            report.ran = Some((
                step.name.clone(),
                self.state[&step.name].status,
                started.elapsed(),
            ));
        }
        report.next = names
            .iter()
            .filter(|n| self.state[*n].status == Status::Waiting)
            .filter(|n| {
                matches!(
                    self.decide_step(self.step(n)),
                    Decision::Run | Decision::EvaluateSkipConditions
                )
            })
            .cloned()
            .collect();
        let can_progress = names.iter().any(|n| {
            self.state[n].status == Status::Waiting
                && !matches!(self.decide_step(self.step(n)), Decision::Blocked(_))
        });
        if !can_progress {
            let statuses: Vec<Status> = self.state.values().map(|s| s.status).collect();
            let outcome = execution_outcome(&statuses, false).unwrap_or("failed");
            let reason = self.summary_reason(outcome);
            self.store
                .set_execution(&self.s.exec_id, outcome, reason.as_deref())
                .map_err(|e| e.to_string())?;
            self.finished = Some(outcome.to_string());
            report.finished = self.finished.clone();
        }
        Ok(report)
    }

    /// Gives a parameter its value during a debug execution.
    pub fn set_param(&mut self, name: &str, value: Val) -> Result<(), String> {
        self.s.params.insert(name.to_string(), value);
        let params = Value::Object(
            self.s
                .params
                .iter()
                .map(|(k, v)| (k.clone(), crate::model::definition::val_to_json(v)))
                .collect(),
        );
        self.store
            .set_parameters(&self.s.exec_id, &params)
            .map_err(|e| e.to_string())
    }

    pub fn finished(&self) -> Option<&str> {
        self.finished.as_deref()
    }

    pub fn workflow(&self) -> &Workflow {
        &self.s.workflow
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn summary_reason(&self, outcome: &str) -> Option<String> {
        let names = |want: Status| -> Vec<String> {
            self.s
                .selected
                .iter()
                .filter(|n| self.state[*n].status == want)
                .map(|n| format!("`{n}`"))
                .collect()
        };
        match outcome {
            "failed" => Some(format!("failed: {}", names(Status::Failed).join(", "))),
            "awaiting_input" => Some(format!(
                "awaiting input: {}",
                names(Status::AwaitingInput).join(", ")
            )),
            "stopped" => Some("stopped".into()),
            _ => None,
        }
    }

    fn stop_all(&mut self, why: &str) {
        if !self.stopping {
            self.progress.note(why);
        }
        self.stopping = true;
        for tx in self.stops.values() {
            let _ = tx.send(true);
        }
    }

    fn poll_requests(&mut self) -> Result<(), String> {
        let reqs = self
            .store
            .take_stop_requests(&self.s.exec_id)
            .map_err(|e| e.to_string())?;
        for r in reqs {
            match r {
                None => self.stop_all("stopped by `wf stop`"),
                Some(step) => {
                    if let Some(tx) = self.stops.get(&step) {
                        let _ = tx.send(true);
                    } else if self
                        .state
                        .get(&step)
                        .is_some_and(|s| !s.status.is_terminal())
                    {
                        self.set(
                            &step,
                            Status::Stopped,
                            Some("stopped by `wf stop` before it ran"),
                            StepPatch::default(),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    fn step(&self, name: &str) -> &Step {
        self.s
            .workflow
            .step(name)
            .expect("selected steps are steps of the workflow")
    }

    /// Decides every waiting step; starts what can start. True when something changed.
    fn schedule(&mut self, tx: &mpsc::UnboundedSender<Msg>) -> Result<bool, String> {
        let mut any = false;
        loop {
            let mut changed = false;
            let names = self.s.selected.clone();
            for name in &names {
                let st = &self.state[name];
                if st.status != Status::Waiting {
                    continue;
                }
                let step = self.step(name).clone();
                let decision = self.decide_step(&step);
                match decision {
                    Decision::Wait(r) | Decision::Blocked(r) => {
                        if self.state[name].reason != r {
                            self.store
                                .set_reason(&self.s.exec_id, name, &r)
                                .map_err(|e| e.to_string())?;
                            self.st(name).reason = r;
                        }
                    }
                    Decision::Skip(r) => {
                        self.skip(name, &r)?;
                        changed = true;
                    }
                    Decision::EvaluateSkipConditions => match self.skip_conditions_hold(&step) {
                        Ok(Some(r)) => {
                            self.skip(name, &r)?;
                            changed = true;
                        }
                        Ok(None) => changed |= self.try_start(&step, tx)?,
                        Err(e) => {
                            self.fail_now(
                                name,
                                &format!("its skip conditions cannot be evaluated: {e}"),
                            )?;
                            changed = true;
                        }
                    },
                    Decision::Run => changed |= self.try_start(&step, tx)?,
                }
            }
            any |= changed;
            if !changed {
                return Ok(any);
            }
        }
    }

    fn decide_step(&self, step: &Step) -> Decision {
        let mut deps: Vec<DepState> = Vec::new();
        let mut branches: Vec<Branch> = Vec::new();
        for d in &step.deps {
            // Steps outside this execution count as done (their outputs were reused).
            let status = match self.state.get(&d.on) {
                Some(s) => s.status,
                None => Status::Executed,
            };
            if !deps.iter().any(|x| x.name == d.on) {
                deps.push(DepState {
                    name: &d.on,
                    status,
                });
            }
            if let DepKind::Branch(on_true) = d.kind {
                let result = self
                    .state
                    .get(&d.on)
                    .filter(|s| s.status == Status::Executed)
                    .and_then(|_| self.produced.get(&d.on))
                    .and_then(|p| p.outputs.get("result"))
                    .and_then(Value::as_bool);
                branches.push(Branch {
                    condition: &d.on,
                    on_true,
                    result,
                });
            }
        }
        let has_policy = step
            .obj
            .arg("policy")
            .and_then(Val::as_obj)
            .and_then(|p| p.arg("skip_conditions"))
            .is_some_and(|c| !c.items().is_empty());
        decide(&deps, &branches, has_policy)
    }

    fn skip_conditions_hold(&self, step: &Step) -> Result<Option<String>, String> {
        let conds: Vec<Arc<Obj>> = step
            .obj
            .arg("policy")
            .and_then(Val::as_obj)
            .and_then(|p| p.arg("skip_conditions"))
            .map(|c| {
                c.items()
                    .iter()
                    .filter_map(|x| x.as_obj().cloned())
                    .collect()
            })
            .unwrap_or_default();
        let ctx = self.ctx();
        for c in &conds {
            if !ctx.condition(c)? {
                return Ok(None);
            }
        }
        Ok(Some(format!(
            "its skip condition{} held",
            if conds.len() == 1 { "" } else { "s all" }
        )))
    }

    fn skip(&mut self, name: &str, reason: &str) -> Result<(), String> {
        self.produced.insert(
            name.to_string(),
            Produced {
                status: Some(Status::Skipped),
                ..Produced::default()
            },
        );
        self.set(
            name,
            Status::Skipped,
            Some(reason),
            StepPatch {
                ended: true,
                ..StepPatch::default()
            },
        )
    }

    fn fail_now(&mut self, name: &str, error: &str) -> Result<(), String> {
        self.set(
            name,
            Status::Failed,
            Some(error),
            StepPatch {
                ended: true,
                error: Some(Some(error.to_string())),
                ..StepPatch::default()
            },
        )
    }

    /// Placeholders of this step still without a value (they are `delay`ed).
    fn missing_inputs(&self, step: &Step) -> Vec<String> {
        let mut missing = Vec::new();
        for (key, v) in &step.obj.args {
            if *key == "depend_steps" {
                continue;
            }
            v.walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if o.is_placeholder()
                        && !self.s.params.contains_key(o.name())
                        && !missing.contains(&o.name().to_string())
                    {
                        missing.push(o.name().to_string());
                    }
                }
            });
        }
        missing
    }

    fn try_start(&mut self, step: &Step, tx: &mpsc::UnboundedSender<Msg>) -> Result<bool, String> {
        let name = step.name.clone();
        let mut missing = self.missing_inputs(step);
        if !missing.is_empty() && self.interactive {
            // On a terminal, ask now instead of pausing the execution.
            self.progress
                .note(&format!("step `{name}` needs {}", missing.join(", ")));
            let mut phs: Vec<Arc<Obj>> = Vec::new();
            Val::Obj(step.obj.clone()).walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if o.is_placeholder()
                        && missing.iter().any(|m| m == o.name())
                        && !phs.iter().any(|p| p.name() == o.name())
                    {
                        phs.push(o.clone());
                    }
                }
            });
            for p in phs {
                if let Some(v) = tokio::task::block_in_place(|| super::params::prompt(&p)) {
                    self.s.params.insert(p.name().to_string(), v);
                }
            }
            let params = Value::Object(
                self.s
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::model::definition::val_to_json(v)))
                    .collect(),
            );
            self.store
                .set_parameters(&self.s.exec_id, &params)
                .map_err(|e| e.to_string())?;
            missing = self.missing_inputs(step);
        }
        if !missing.is_empty() {
            let reason = format!(
                "needs {}: `wf proceed {} {} {}`",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.s.exec_id,
                name,
                missing
                    .iter()
                    .map(|m| format!("-p {m}=VALUE"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            self.set(
                &name,
                Status::AwaitingInput,
                Some(&reason),
                StepPatch::default(),
            )?;
            return Ok(true);
        }
        match step.kind {
            "condition" => {
                self.begin_attempt(&name)?;
                let result = self.evaluate_condition(step);
                match result {
                    Ok(b) => {
                        let mut outputs = IndexMap::new();
                        outputs.insert("result".to_string(), json!(b));
                        self.produced.insert(
                            name.clone(),
                            Produced {
                                status: Some(Status::Executed),
                                outputs,
                                ..Produced::default()
                            },
                        );
                        self.set(
                            &name,
                            Status::Executed,
                            Some(&format!("conditions evaluated to {b}")),
                            StepPatch {
                                ended: true,
                                result: Some(b),
                                outputs: Some(json!({})),
                                ..StepPatch::default()
                            },
                        )?;
                    }
                    Err(e) => self.fail_now(&name, &e)?,
                }
                Ok(true)
            }
            "job" => {
                if self.running >= self.s.max_parallel {
                    return Ok(false);
                }
                let attempt = self.state[&name].attempt + 1;
                let plan = match self.job_plan(step) {
                    Ok(p) => p,
                    Err(e) => {
                        self.begin_attempt(&name)?;
                        self.fail_now(&name, &e)?;
                        return Ok(true);
                    }
                };
                if !self.usage.fits(&self.machine, &plan.flavor) {
                    if self.running == 0 {
                        self.fail_now(
                            &name,
                            &format!(
                                "flavor `{}` needs more than this machine has",
                                plan.flavor.id
                            ),
                        )?;
                        return Ok(true);
                    }
                    let r = format!(
                        "waiting for room on this machine for flavor `{}`",
                        plan.flavor.id
                    );
                    if self.state[&name].reason != r {
                        self.store
                            .set_reason(&self.s.exec_id, &name, &r)
                            .map_err(|e| e.to_string())?;
                        self.st(&name).reason = r;
                    }
                    return Ok(false);
                }
                self.usage.add(&plan.flavor);
                self.running += 1;
                self.st(&name).attempt = attempt;
                self.st(&name).flavor = Some(plan.flavor.clone());
                self.set(
                    &name,
                    Status::Running,
                    None,
                    StepPatch {
                        attempt: Some(attempt),
                        started: true,
                        pid: Some(None),
                        inputs: Some(Value::Object(plan.inputs.clone().into_iter().collect())),
                        error: Some(None),
                        ..StepPatch::default()
                    },
                )?;
                let (stop_tx, stop_rx) = watch::channel(false);
                self.stops.insert(name.clone(), stop_tx);
                let tx = tx.clone();
                tokio::spawn(job_task(name, plan, attempt, tx, stop_rx));
                Ok(true)
            }
            other => {
                self.begin_attempt(&name)?;
                self.fail_now(
                    &name,
                    &format!("this phase kind ({other}) has no backend yet: only job and condition steps run on this machine so far"),
                )?;
                Ok(true)
            }
        }
    }

    fn evaluate_condition(&self, step: &Step) -> Result<bool, String> {
        let ctx = self.ctx();
        let conds = step
            .obj
            .arg("conditions")
            .map(|c| c.items().to_vec())
            .unwrap_or_default();
        for c in conds.iter().filter_map(Val::as_obj) {
            if !ctx.condition(c)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn handle(&mut self, m: Msg) -> Result<(), String> {
        match m {
            Msg::Started { name, pid } => {
                // Kept so that `wf resume` can kill what a dead runner left running.
                self.store
                    .set_pid(&self.s.exec_id, &name, pid)
                    .map_err(|e| e.to_string())?;
            }
            Msg::AttemptFailed {
                name,
                attempt,
                error,
            } => {
                let reason = format!("attempt {attempt} failed; trying again");
                self.store
                    .set_step(
                        &self.s.exec_id,
                        &name,
                        "running",
                        Some(&reason),
                        &StepPatch {
                            ended: true,
                            error: Some(Some(error)),
                            ..StepPatch::default()
                        },
                    )
                    .map_err(|e| e.to_string())?;
                self.progress.note(&format!("{name}: {reason}"));
            }
            Msg::Retrying { name, attempt } => {
                self.st(&name).attempt = attempt;
                self.store
                    .set_step(
                        &self.s.exec_id,
                        &name,
                        "running",
                        Some(&format!("attempt {attempt}")),
                        &StepPatch {
                            attempt: Some(attempt),
                            started: true,
                            ..StepPatch::default()
                        },
                    )
                    .map_err(|e| e.to_string())?;
            }
            Msg::Done { name, end } => {
                self.running -= 1;
                self.stops.remove(&name);
                if let Some(f) = self.state.get_mut(&name).and_then(|s| s.flavor.take()) {
                    self.usage.remove(&f);
                }
                match end {
                    StepEnd::Executed { outputs, metrics } => {
                        let patch = StepPatch {
                            ended: true,
                            outputs: Some(Value::Object(outputs.clone().into_iter().collect())),
                            metrics: Some(json!(metrics)),
                            ..StepPatch::default()
                        };
                        self.produced.insert(
                            name.clone(),
                            Produced {
                                status: Some(Status::Executed),
                                outputs,
                                metrics,
                                from_execution: None,
                            },
                        );
                        self.set(&name, Status::Executed, None, patch)?;
                    }
                    StepEnd::Failed(e) => self.fail_now(&name, &e)?,
                    StepEnd::Stopped => self.set(
                        &name,
                        Status::Stopped,
                        Some("stopped"),
                        StepPatch {
                            ended: true,
                            ..StepPatch::default()
                        },
                    )?,
                }
            }
        }
        Ok(())
    }

    fn job_plan(&self, step: &Step) -> Result<JobPlan, String> {
        let ctx = self.ctx();
        let o = &step.obj;
        let algo = o
            .arg("algorithm")
            .and_then(Val::as_obj)
            .ok_or("the job has no algorithm")?;
        let (code_dir, boot_file, command, mut params, mut envs) = self.algorithm(algo)?;
        // Hyperparameters given on the step's algorithm override a registered algorithm's.
        for p in algo
            .arg("parameters")
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
        {
            let name = p.str_arg("name").unwrap_or("").to_string();
            let value = ctx.text(p.arg("value").unwrap_or(&Val::Null))?;
            params.retain(|(n, _)| *n != name);
            params.push((name, value));
        }
        if let Some(Val::Map(m)) = algo.arg("environments") {
            for (k, v) in m {
                envs.push((k.clone(), ctx.text(v)?));
            }
        }
        let mut argv: Vec<String> = match (&boot_file, &command) {
            (Some(b), _) => {
                let path = if std::path::Path::new(b).is_absolute() {
                    PathBuf::from(b)
                } else {
                    code_dir.join(b)
                };
                let p = path.to_string_lossy().into_owned();
                match path.extension().and_then(|e| e.to_str()) {
                    Some("py") => vec!["python3".into(), p],
                    Some("sh") => vec!["bash".into(), p],
                    _ => vec![p],
                }
            }
            (None, Some(c)) => vec!["sh".into(), "-c".into(), c.clone(), step.name.clone()],
            (None, None) => {
                return Err("the algorithm has neither `boot_file` nor `command`".into())
            }
        };
        let mut env: Vec<(String, String)> = vec![
            ("WF_EXECUTION_ID".into(), self.s.exec_id.clone()),
            ("WF_WORKFLOW".into(), self.s.workflow.name.clone()),
            ("WF_STEP_NAME".into(), step.name.clone()),
        ];
        for (n, v) in &params {
            argv.push(format!("--{n}={v}"));
            env.push((env_name("WF_PARAM_", n), v.clone()));
        }
        let mut inputs = IndexMap::new();
        for i in o
            .arg("inputs")
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
        {
            let name = i.name().to_string();
            let path = ctx
                .path(i.arg("data").unwrap_or(&Val::Null))
                .map_err(|e| format!("input `{name}`: {e}"))?;
            let p = path.to_string_lossy().into_owned();
            argv.push(format!("--{name}={p}"));
            env.push((env_name("WF_INPUT_", &name), p.clone()));
            inputs.insert(name, json!({ "path": p }));
        }
        let mut outputs = IndexMap::new();
        let mut metrics_files = Vec::new();
        for out in o
            .arg("outputs")
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
        {
            let name = out.name().to_string();
            let path = if let Some(cfg) = out.arg("obs_config").and_then(Val::as_obj) {
                let p = ctx
                    .path(cfg.arg("obs_path").unwrap_or(&Val::Null))
                    .map_err(|e| format!("output `{name}`: {e}"))?;
                std::fs::create_dir_all(&p)
                    .map_err(|e| format!("output `{name}`: cannot create {}: {e}", p.display()))?;
                p
            } else if let Some(cfg) = out.arg("metrics_config").and_then(Val::as_obj) {
                let first = cfg
                    .arg("metric_files")
                    .and_then(|v| v.items().first().cloned())
                    .ok_or("a metrics output without `metric_files`")?;
                let p = ctx
                    .path(&first)
                    .map_err(|e| format!("output `{name}`: {e}"))?;
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        format!("output `{name}`: cannot create {}: {e}", parent.display())
                    })?;
                }
                metrics_files.push(p.clone());
                p
            } else {
                let p = self
                    .s
                    .home
                    .join("outputs")
                    .join(&self.s.exec_id)
                    .join(&step.name)
                    .join(&name);
                std::fs::create_dir_all(&p)
                    .map_err(|e| format!("output `{name}`: cannot create {}: {e}", p.display()))?;
                p
            };
            let p = path.to_string_lossy().into_owned();
            argv.push(format!("--{name}={p}"));
            env.push((env_name("WF_OUTPUT_", &name), p.clone()));
            outputs.insert(name, json!({ "path": p }));
        }
        env.extend(envs);
        let spec = o
            .arg("spec")
            .and_then(Val::as_obj)
            .ok_or("the job has no spec")?;
        let resource = spec
            .arg("resource")
            .and_then(Val::as_obj)
            .ok_or("the job spec has no resource")?;
        let flavor_val = ctx.value(resource.arg("flavor").unwrap_or(&Val::Null))?;
        let flavor_id = match &flavor_val {
            Val::Str(s) => s.to_string(),
            Val::Map(m) => m
                .get("flavor_id")
                .and_then(Val::as_str)
                .unwrap_or("")
                .to_string(),
            other => {
                return Err(format!(
                    "the flavor is {}, not a flavor id",
                    other.describe()
                ))
            }
        };
        let flavor = self.machine.flavor(&flavor_id).ok_or_else(|| {
            format!(
                "unknown flavor `{flavor_id}`; this machine's are: {}",
                self.machine
                    .flavors()
                    .iter()
                    .map(|f| f.id.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let nodes = match ctx.value(resource.arg("node_count").unwrap_or(&Val::Int(1)))? {
            Val::Int(n) if n >= 1 => n as u32,
            other => {
                return Err(format!(
                    "`node_count` is {}, not a count of at least 1",
                    other.describe()
                ))
            }
        };
        let log_export = match spec
            .arg("log_export_path")
            .and_then(Val::as_obj)
            .and_then(|l| l.arg("obs_url"))
        {
            Some(v) => Some(ctx.path(v)?),
            None => None,
        };
        let policy = o.arg("policy").and_then(Val::as_obj);
        let number = |key: &str, default: f64| -> Result<f64, String> {
            match policy.and_then(|p| p.arg(key)) {
                None => Ok(default),
                Some(v) => match ctx.value(v)? {
                    Val::Int(i) => Ok(i as f64),
                    Val::Float(f) => Ok(f),
                    Val::Str(s) => s
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| format!("`{key}` is `{s}`, not a number")),
                    other => Err(format!("`{key}` is {}, not a number", other.describe())),
                },
            }
        };
        let minutes = number("max_execution_minutes", 10080.0)?;
        let retries = number("retries", 0.0)?.max(0.0) as u32;
        let retry_delay = Duration::from_secs_f64(number("retry_delay_seconds", 0.0)?.max(0.0));
        Ok(JobPlan {
            run: JobRun {
                cwd: code_dir,
                argv,
                env,
                log: self
                    .store
                    .logs_dir(&self.s.exec_id)
                    .join(format!("{}.log", step.name)),
                header: String::new(),
                nodes,
                timeout: Some(Duration::from_secs_f64(minutes * 60.0)),
            },
            inputs,
            outputs,
            metrics_files,
            flavor,
            retries,
            retry_delay,
            log_export,
        })
    }

    /// (code_dir, boot_file, command, hyperparameters, environment) of an algorithm.
    #[allow(clippy::type_complexity)]
    fn algorithm(
        &self,
        algo: &Obj,
    ) -> Result<
        (
            PathBuf,
            Option<String>,
            Option<String>,
            Vec<(String, String)>,
            Vec<(String, String)>,
        ),
        String,
    > {
        let ctx = self.ctx();
        match algo.class() {
            "BaseAlgorithm" => {
                let code_dir = match algo.arg("code_dir") {
                    Some(v) => ctx.path(v)?,
                    None => self.s.base_dir.clone(),
                };
                let boot = algo.arg("boot_file").map(|v| ctx.text(v)).transpose()?;
                let command = algo.arg("command").map(|v| ctx.text(v)).transpose()?;
                Ok((code_dir, boot, command, Vec::new(), Vec::new()))
            }
            "Algorithm" | "AIGalleryAlgorithm" => {
                let id = match algo.class() {
                    "Algorithm" => algo.str_arg("algorithm_id").unwrap_or("").to_string(),
                    _ => algo.str_arg("subscription_id").unwrap_or("").to_string(),
                };
                let def = self
                    .store
                    .algorithm(&id)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no algorithm `{id}` is registered here; add it with `wf algorithm register {id} ...`"))?;
                let text = |k: &str| def.get(k).and_then(Value::as_str).map(str::to_string);
                let code_dir = text("code_dir")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.s.base_dir.clone());
                let pairs = |key: &str| -> Vec<(String, String)> {
                    def.get(key)
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    (
                                        k.clone(),
                                        v.as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| v.to_string()),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (params, envs) = (pairs("parameters"), pairs("environments"));
                Ok((code_dir, text("boot_file"), text("command"), params, envs))
            }
            other => Err(format!("a `{other}` is not an algorithm")),
        }
    }
}

async fn job_task(
    name: String,
    plan: JobPlan,
    first_attempt: u32,
    tx: mpsc::UnboundedSender<Msg>,
    stop: watch::Receiver<bool>,
) {
    let mut attempt = first_attempt;
    let started = Instant::now();
    loop {
        let mut run = plan.run.clone();
        run.header = format!("== {name}: attempt {attempt} ==\n");
        let tx2 = tx.clone();
        let n2 = name.clone();
        let end = job::run(&run, stop.clone(), move |pid| {
            let _ = tx2.send(Msg::Started { name: n2, pid });
        })
        .await;
        export_log(&plan, &name);
        let error = match end {
            JobEnd::Succeeded => {
                let result = collect_metrics(&plan);
                let _ = tx.send(Msg::Done {
                    name,
                    end: match result {
                        Ok(metrics) => StepEnd::Executed {
                            outputs: plan.outputs.clone(),
                            metrics,
                        },
                        Err(e) => StepEnd::Failed(e),
                    },
                });
                return;
            }
            JobEnd::Stopped => {
                let _ = tx.send(Msg::Done {
                    name,
                    end: StepEnd::Stopped,
                });
                return;
            }
            JobEnd::TimedOut => format!(
                "timed out: killed after {:.1} minutes (max_execution_minutes)",
                plan.run
                    .timeout
                    .map(|t| t.as_secs_f64() / 60.0)
                    .unwrap_or(0.0)
            ),
            JobEnd::NotStarted(e) => e,
            JobEnd::Failed(code) => {
                let tail = job::log_tail(&plan.run.log, 10);
                format!(
                    "{} after {:.1}s; the log ends with:\n{tail}",
                    match code {
                        Some(c) => format!("exited with status {c}"),
                        None => "was killed by a signal".to_string(),
                    },
                    started.elapsed().as_secs_f64()
                )
            }
        };
        if attempt - first_attempt < plan.retries && !*stop.borrow() {
            let _ = tx.send(Msg::AttemptFailed {
                name: name.clone(),
                attempt,
                error,
            });
            let mut s2 = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(plan.retry_delay) => {}
                _ = s2.changed() => {}
            }
            if *stop.borrow() {
                let _ = tx.send(Msg::Done {
                    name,
                    end: StepEnd::Stopped,
                });
                return;
            }
            attempt += 1;
            let _ = tx.send(Msg::Retrying {
                name: name.clone(),
                attempt,
            });
            continue;
        }
        let _ = tx.send(Msg::Done {
            name,
            end: StepEnd::Failed(error),
        });
        return;
    }
}

fn collect_metrics(plan: &JobPlan) -> Result<IndexMap<String, f64>, String> {
    let mut all = IndexMap::new();
    for f in &plan.metrics_files {
        let m = read_metrics(f).map_err(|e| e.to_string())?;
        all.extend(m.scalars);
    }
    Ok(all)
}

fn export_log(plan: &JobPlan, name: &str) {
    if let Some(dest) = &plan.log_export {
        let target = if dest.extension().is_some() {
            dest.clone()
        } else {
            dest.join(format!("{name}.log"))
        };
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::copy(&plan.run.log, target);
    }
}

/// The branch steps of every condition step in `w`, for messages.
pub fn branch_targets(w: &Workflow) -> Vec<String> {
    w.steps
        .iter()
        .filter(|s| s.kind == "condition")
        .flat_map(|s| {
            step_names(s.obj.arg("if_then_steps"))
                .into_iter()
                .chain(step_names(s.obj.arg("else_then_steps")))
        })
        .map(|(n, _)| n)
        .collect()
}
