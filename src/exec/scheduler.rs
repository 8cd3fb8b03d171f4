//! Drives one execution: decides what runs (see `decide.rs`), hands each step to the
//! backend of its kind as slots and flavors allow, records every status change before acting
//! on it, retries and times out attempts the same way for every kind, and stops cleanly when
//! its cancellation token is cancelled (Ctrl-C, SIGTERM, `wf stop`).
//!
//! It never prints and never reads a terminal: status changes go out through the event sink,
//! and a missing `delay` value is asked of the prompter when there is one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backend::{Attempt, Backends, BoxFuture, Note, Plan, PlanCtx, StepEnd, Work};
use super::cancel::Cancel;
use super::decide::{
    after_failure, decide, execution_outcome, needs_values, not_retrying, retrying, room, summary,
    waiting_for_room, AfterFailure, Branch, Decision, DepState, Room,
};
use super::error::{ExecError, Result};
use super::events::{Event, EventSink, Prompter};
use super::resolve::{Ctx, Produced};
use super::slots::{self, Ledger};
use crate::model::definition::val_to_json;
use crate::model::status::{ExecStatus, Status};
use crate::model::val::{Obj, Val};
use crate::model::workflow::{value_key, DepKind, Step, Workflow};
use crate::pools::flavors::{Flavor, Machine, Usage};
use crate::store::{StepPatch, StepRow, Store};

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

/// What the scheduler is given besides the execution: who runs each kind, who hears, who
/// may be asked, and the token that stops it all.
#[derive(Clone)]
pub struct Wiring {
    pub backends: Backends,
    pub events: EventSink,
    pub prompter: Option<Arc<dyn Prompter>>,
    pub cancel: Cancel,
}

#[derive(Debug, Clone)]
struct StepState {
    status: Status,
    attempt: u32,
    reason: String,
    /// The flavor it holds while it runs (it then also holds a slot).
    flavor: Option<Flavor>,
    /// The attempt this runner started it with, and the retries its policy allows.
    first_attempt: u32,
    retries: u32,
}

/// What deciding a waiting step came to.
enum Settled {
    /// Not yet, or never in this execution: why.
    Waits(String),
    Skipped(String),
    /// Its skip conditions could not be evaluated: it failed.
    Failed,
    /// It may start now.
    Ready,
}

/// How a step's attempts are run: from its `StepPolicy`.
#[derive(Debug, Clone, Copy)]
struct Policy {
    retries: u32,
    retry_delay: Duration,
    timeout: Duration,
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
    pub finished: Option<ExecStatus>,
}

pub struct Scheduler {
    s: Setup,
    store: Store,
    wiring: Wiring,
    machine: Machine,
    usage: Usage,
    /// What every execution of the home holds of this machine.
    ledger: Ledger,
    /// A step waits for room other executions hold: look again on the next tick.
    waiting_for_room: bool,
    state: HashMap<String, StepState>,
    produced: HashMap<String, Produced>,
    /// Plans made for steps still waiting for a slot or for room.
    planned: HashMap<String, (Plan, Policy)>,
    /// The token of each running step.
    step_cancels: HashMap<String, CancellationToken>,
    /// Steps holding a slot.
    running: usize,
    /// Attempts whose end has not been handled yet.
    in_flight: usize,
    stopping: bool,
    notes_tx: mpsc::UnboundedSender<Note>,
    notes_rx: mpsc::UnboundedReceiver<Note>,
    /// Set when a debug execution has ended.
    finished: Option<ExecStatus>,
}

impl Scheduler {
    /// `rows` are the recorded steps of a resumed execution; running steps among them run
    /// again (their leftovers were cleaned up before).
    pub fn new(mut s: Setup, store: Store, rows: Vec<StepRow>, wiring: Wiring) -> Scheduler {
        let ledger = Ledger::new(&s.home);
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
                    first_attempt: 0,
                    retries: 0,
                },
            );
        }
        for row in rows {
            let status = match row.status {
                Status::Running | Status::AwaitingInput => Status::Waiting,
                other => other,
            };
            if matches!(status, Status::Executed | Status::Skipped) {
                produced.insert(row.name.clone(), Produced::from_row(&row, None));
            }
            if let Some(st) = state.get_mut(&row.name) {
                st.status = status;
                st.attempt = row.attempt;
            }
        }
        let (notes_tx, notes_rx) = mpsc::unbounded_channel();
        Scheduler {
            s,
            store,
            wiring,
            machine: Machine::detect(),
            usage: Usage::default(),
            ledger,
            waiting_for_room: false,
            state,
            produced,
            planned: HashMap::new(),
            step_cancels: HashMap::new(),
            running: 0,
            in_flight: 0,
            stopping: false,
            notes_tx,
            notes_rx,
            finished: None,
        }
    }

    pub fn exec_id(&self) -> &str {
        &self.s.exec_id
    }

    pub fn finished(&self) -> Option<ExecStatus> {
        self.finished
    }

    pub fn workflow(&self) -> &Workflow {
        &self.s.workflow
    }

    pub fn store(&self) -> &Store {
        &self.store
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

    fn state_mut(&mut self, name: &str) -> Option<&mut StepState> {
        self.state.get_mut(name)
    }

    fn status(&self, name: &str) -> Status {
        self.state
            .get(name)
            .map(|s| s.status)
            .unwrap_or(Status::Executed)
    }

    fn step(&self, name: &str) -> Option<&Step> {
        self.s.workflow.step(name)
    }

    /// Records a step's new status, then tells the listeners.
    fn set(
        &mut self,
        name: &str,
        status: Status,
        reason: Option<&str>,
        patch: StepPatch,
    ) -> Result<()> {
        self.store
            .set_step(&self.s.exec_id, name, status, reason, &patch)?;
        if let Some(st) = self.state_mut(name) {
            st.status = status;
            if let Some(r) = reason {
                st.reason = r.to_string();
            }
        }
        self.wiring.events.emit(Event::Step {
            exec_id: self.s.exec_id.clone(),
            step: name.to_string(),
            status,
            reason: reason.map(str::to_string),
        });
        Ok(())
    }

    fn set_execution(&mut self, status: ExecStatus, reason: Option<&str>) -> Result<()> {
        self.store.set_execution(&self.s.exec_id, status, reason)?;
        self.wiring.events.emit(Event::Execution {
            exec_id: self.s.exec_id.clone(),
            status,
            reason: reason.map(str::to_string),
        });
        Ok(())
    }

    fn note(&self, text: String) {
        self.wiring.events.emit(Event::Note {
            exec_id: self.s.exec_id.clone(),
            text,
        });
    }

    /// Why a waiting step waits, kept without an event when it changed.
    fn set_reason(&mut self, name: &str, reason: String) -> Result<()> {
        if self.state.get(name).is_some_and(|s| s.reason != reason) {
            self.store.set_reason(&self.s.exec_id, name, &reason)?;
            if let Some(st) = self.state_mut(name) {
                st.reason = reason;
            }
        }
        Ok(())
    }

    /// Records the start of the step's next attempt; returns its number.
    fn begin_attempt(&mut self, name: &str, inputs: Option<Value>) -> Result<u32> {
        let attempt = self.state.get(name).map(|s| s.attempt).unwrap_or(0) + 1;
        self.set(
            name,
            Status::Running,
            None,
            StepPatch {
                attempt: Some(attempt),
                started: true,
                inputs,
                detail: Some(None),
                error: Some(None),
                ..StepPatch::default()
            },
        )?;
        if let Some(st) = self.state_mut(name) {
            st.attempt = attempt;
        }
        Ok(attempt)
    }

    /// Runs until nothing more can happen; returns the execution's final status.
    pub async fn drive(mut self) -> Result<(ExecStatus, Store)> {
        match self.drive_steps().await {
            Ok(outcome) => Ok((outcome, self.store)),
            Err(e) => {
                self.abandon(&e).await;
                Err(e)
            }
        }
    }

    async fn drive_steps(&mut self) -> Result<ExecStatus> {
        let cancel = self.wiring.cancel.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        self.set_execution(ExecStatus::Running, None)?;
        loop {
            // A step that ended as the token was cancelled may be heard of first: what waited
            // for its slot must not start then.
            if cancel.is_cancelled() {
                self.stop_all();
            }
            self.waiting_for_room = false;
            let progressed = if self.stopping {
                false
            } else {
                self.schedule()?
            };
            if self.in_flight == 0 && !progressed && !self.waiting_for_room {
                break;
            }
            if progressed && self.in_flight == 0 {
                continue;
            }
            tokio::select! {
                biased;
                note = self.notes_rx.recv() => {
                    if let Some(n) = note {
                        self.handle(n)?;
                    }
                }
                _ = cancel.cancelled(), if !self.stopping => self.stop_all(),
                _ = tick.tick() => self.poll_requests()?,
            }
        }
        let statuses: Vec<Status> = self.state.values().map(|s| s.status).collect();
        let outcome = if self.stopping {
            ExecStatus::Stopped
        } else {
            execution_outcome(&statuses, false).unwrap_or(ExecStatus::Failed)
        };
        let reason = self.summary_reason(outcome);
        self.set_execution(outcome, reason.as_deref())?;
        Ok(outcome)
    }

    /// The records failed (a full disk, say): nothing can be recorded as it happens, so
    /// nothing more runs. Running steps are stopped and waited for, so that no process
    /// outlives its runner, and the end is recorded if the records take it; if they do not,
    /// the execution stays `running` for `wf resume`, which finds what ran in the records.
    async fn abandon(&mut self, why: &ExecError) {
        self.wiring.cancel.cancel("the records cannot be written");
        self.stopping = true;
        while self.in_flight > 0 {
            match self.notes_rx.recv().await {
                Some(Note::Done { step, end }) => {
                    let _ = self.finish(&step, end);
                }
                Some(_) => {}
                None => break,
            }
        }
        let reason = format!("stopped: {why}");
        let _ = self.set_execution(ExecStatus::Failed, Some(&reason));
    }

    /// Debugging: runs the next phase that can run, alone, and reports what happened.
    /// `interrupt` stops that phase (the REPL's Ctrl-C), not the execution.
    pub async fn next_phase(&mut self, interrupt: &Cancel) -> Result<NextReport> {
        let mut report = NextReport::default();
        if self.finished.is_some() {
            report.finished = self.finished;
            return Ok(report);
        }
        let names = self.s.selected.clone();
        // A phase its backend left awaiting a person (a labeling task) is tried again: what
        // it waited for may be done now.
        for name in &names {
            if self.status(name) == Status::AwaitingInput {
                let has_values = self
                    .step(name)
                    .cloned()
                    .is_some_and(|step| self.missing_inputs(&step).is_empty());
                if has_values {
                    self.set(
                        name,
                        Status::Waiting,
                        Some("tried again"),
                        StepPatch::default(),
                    )?;
                }
            }
        }
        let mut chosen: Option<Step> = None;
        // Skips are settled first (they may unblock the next phase); then the first step
        // that can run, in dependency order.
        loop {
            let mut changed = false;
            for name in &names {
                if self.status(name) != Status::Waiting {
                    continue;
                }
                let Some(step) = self.step(name).cloned() else {
                    continue;
                };
                match self.settle(&step)? {
                    Settled::Skipped(r) => {
                        report.skipped.push((name.clone(), r));
                        changed = true;
                    }
                    Settled::Failed => changed = true,
                    Settled::Ready => {
                        chosen.get_or_insert(step);
                    }
                    Settled::Waits(_) => {}
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
            self.try_start(&step)?;
            let mut interrupted = false;
            while self.in_flight > 0 {
                tokio::select! {
                    biased;
                    n = self.notes_rx.recv() => match n {
                        Some(n) => self.handle(n)?,
                        None => break,
                    },
                    _ = interrupt.cancelled(), if !interrupted => {
                        interrupted = true;
                        if let Some(token) = self.step_cancels.get(&step.name) {
                            token.cancel();
                        }
                    }
                }
            }
            report.ran = Some((
                step.name.clone(),
                self.status(&step.name),
                started.elapsed(),
            ));
        }
        report.next = names
            .iter()
            .filter(|n| self.status(n) == Status::Waiting)
            .filter(|n| {
                self.step(n).is_some_and(|s| {
                    matches!(
                        self.decide_step(s),
                        Decision::Run | Decision::EvaluateSkipConditions
                    )
                })
            })
            .cloned()
            .collect();
        let can_progress = names.iter().any(|n| {
            self.status(n) == Status::Waiting
                && self
                    .step(n)
                    .is_some_and(|s| !matches!(self.decide_step(s), Decision::Blocked(_)))
        });
        if !can_progress {
            let statuses: Vec<Status> = self.state.values().map(|s| s.status).collect();
            let outcome = execution_outcome(&statuses, false).unwrap_or(ExecStatus::Failed);
            let reason = self.summary_reason(outcome);
            self.set_execution(outcome, reason.as_deref())?;
            self.finished = Some(outcome);
            report.finished = self.finished;
        }
        Ok(report)
    }

    /// Gives a parameter its value during a debug execution.
    pub fn set_param(&mut self, name: &str, value: Val) -> Result<()> {
        self.s.params.insert(name.to_string(), value);
        // A plan made before may have resolved without it.
        self.planned.clear();
        self.store.set_parameters(
            &self.s.exec_id,
            &params_json(&self.s.workflow, &self.s.params),
        )?;
        Ok(())
    }

    fn summary_reason(&self, outcome: ExecStatus) -> Option<String> {
        summary(outcome, |want| {
            self.s
                .selected
                .iter()
                .filter(|n| self.status(n) == want)
                .cloned()
                .collect()
        })
    }

    /// Stops everything: the execution's token cancels every running step's.
    fn stop_all(&mut self) {
        if !self.stopping {
            self.note(self.wiring.cancel.reason().unwrap_or("stopped").to_string());
        }
        self.stopping = true;
    }

    fn poll_requests(&mut self) -> Result<()> {
        for request in self.store.take_stop_requests(&self.s.exec_id)? {
            match request {
                None => {
                    self.wiring.cancel.cancel("stopped by `wf stop`");
                    self.stop_all();
                }
                Some(step) => {
                    if let Some(token) = self.step_cancels.get(&step) {
                        token.cancel();
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

    /// Decides every waiting step; starts what can start. True when something changed.
    fn schedule(&mut self) -> Result<bool> {
        let mut any = false;
        let names = self.s.selected.clone();
        loop {
            let mut changed = false;
            for name in &names {
                // Cancelled while this pass runs (a step that ended at once freed its slot):
                // nothing more starts.
                if self.wiring.cancel.is_cancelled() {
                    return Ok(any | changed);
                }
                if self.status(name) != Status::Waiting {
                    continue;
                }
                let Some(step) = self.step(name).cloned() else {
                    continue;
                };
                match self.settle(&step)? {
                    Settled::Waits(r) => self.set_reason(name, r)?,
                    Settled::Skipped(_) | Settled::Failed => changed = true,
                    Settled::Ready => changed |= self.try_start(&step)?,
                }
            }
            any |= changed;
            if !changed {
                return Ok(any);
            }
        }
    }

    /// Applies the decision for a waiting step: a skip or a failure of its skip conditions
    /// is recorded here; whether it may start is for the caller.
    fn settle(&mut self, step: &Step) -> Result<Settled> {
        let skip = |this: &mut Self, r: String| -> Result<Settled> {
            this.skip(&step.name, &r)?;
            Ok(Settled::Skipped(r))
        };
        match self.decide_step(step) {
            Decision::Wait(r) | Decision::Blocked(r) => Ok(Settled::Waits(r)),
            Decision::Skip(r) => skip(self, r),
            Decision::Run => Ok(Settled::Ready),
            Decision::EvaluateSkipConditions => match self.skip_conditions_hold(step) {
                Ok(Some(r)) => skip(self, r),
                Ok(None) => Ok(Settled::Ready),
                Err(e) => {
                    let why = format!("its skip conditions cannot be evaluated: {e}");
                    self.fail_now(&step.name, &why)?;
                    Ok(Settled::Failed)
                }
            },
        }
    }

    fn decide_step(&self, step: &Step) -> Decision {
        let mut deps: Vec<DepState> = Vec::with_capacity(step.deps.len());
        // Few dependencies are told apart by a scan; many by a set (a step waiting for
        // thousands must not cost their square).
        let mut seen = (step.deps.len() > 16)
            .then(|| std::collections::HashSet::with_capacity(step.deps.len()));
        let mut branches: Vec<Branch> = Vec::new();
        for d in &step.deps {
            // Steps outside this execution count as done (their outputs were reused).
            let status = self.status(&d.on);
            let first = match &mut seen {
                Some(seen) => seen.insert(d.on.as_str()),
                None => !deps.iter().any(|x| x.name == d.on),
            };
            if first {
                deps.push(DepState {
                    name: &d.on,
                    status,
                });
            }
            if let DepKind::Branch(on_true) = d.kind {
                let result = Some(status)
                    .filter(|s| *s == Status::Executed)
                    .and_then(|_| self.produced.get(&d.on))
                    .and_then(Produced::result);
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

    fn skip_conditions_hold(&self, step: &Step) -> std::result::Result<Option<String>, String> {
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

    fn skip(&mut self, name: &str, reason: &str) -> Result<()> {
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

    /// A failure retrying cannot help ended a step whose policy had retries left: the records
    /// and the listeners are told it is not tried again, as they are told of a retry.
    fn say_not_retried(&mut self, name: &str) -> Result<()> {
        let Some(st) = self.state.get(name) else {
            return Ok(());
        };
        let retried = st.attempt.saturating_sub(st.first_attempt);
        if after_failure(retried, st.retries, true, self.stopping) != AfterFailure::FailUnretried {
            return Ok(());
        }
        let reason = not_retrying(st.attempt);
        self.store.set_step(
            &self.s.exec_id,
            name,
            Status::Running,
            Some(&reason),
            &StepPatch::default(),
        )?;
        self.note(format!("{name}: {reason}"));
        Ok(())
    }

    fn fail_now(&mut self, name: &str, error: &str) -> Result<()> {
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

    /// The keys of this step's placeholders still without a value (they are `delay`ed).
    fn missing_inputs(&self, step: &Step) -> Vec<String> {
        placeholders_of(step)
            .into_iter()
            .map(|p| value_key(&p))
            .filter(|k| !self.s.params.contains_key(k))
            .collect()
    }

    /// The step's policy, with the reference's defaults.
    fn policy(&self, step: &Step) -> std::result::Result<Policy, String> {
        let ctx = self.ctx();
        let policy = step.obj.arg("policy").and_then(Val::as_obj);
        let number = |key: &str, default: f64| -> std::result::Result<f64, String> {
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
        let seconds = |key: &str, value: f64| {
            Duration::try_from_secs_f64(value.max(0.0))
                .map_err(|_| format!("`{key}` is {value}, not a length of time"))
        };
        let minutes = number("max_execution_minutes", 10080.0)?;
        let retries = number("retries", 0.0)?;
        Ok(Policy {
            retries: retries.clamp(0.0, u32::MAX as f64) as u32,
            retry_delay: seconds("retry_delay_seconds", number("retry_delay_seconds", 0.0)?)?,
            timeout: seconds("max_execution_minutes", minutes * 60.0)?,
        })
    }

    /// Asks the prompter for the step's missing values; true when it has them all now.
    fn ask_for(&mut self, step: &Step, missing: &[String]) -> Result<()> {
        let Some(prompter) = self.wiring.prompter.clone() else {
            return Ok(());
        };
        let shown: Vec<String> = missing
            .iter()
            .map(|k| self.s.workflow.shown_key(k))
            .collect();
        self.note(format!("step `{}` needs {}", step.name, shown.join(", ")));
        for p in placeholders_of(step) {
            if missing.contains(&value_key(&p)) {
                if let Some(v) = tokio::task::block_in_place(|| prompter.value(&p)) {
                    self.s.params.insert(value_key(&p), v);
                }
            }
        }
        self.store.set_parameters(
            &self.s.exec_id,
            &params_json(&self.s.workflow, &self.s.params),
        )?;
        Ok(())
    }

    /// Starts the step if it can start now; true when its status changed.
    fn try_start(&mut self, step: &Step) -> Result<bool> {
        let name = step.name.clone();
        let mut missing = self.missing_inputs(step);
        if !missing.is_empty() {
            self.ask_for(step, &missing)?;
            missing = self.missing_inputs(step);
        }
        if !missing.is_empty() {
            let missing: Vec<String> = missing
                .iter()
                .map(|k| self.s.workflow.shown_key(k))
                .collect();
            let reason = needs_values(&self.s.exec_id, &name, &missing);
            self.set(
                &name,
                Status::AwaitingInput,
                Some(&reason),
                StepPatch::default(),
            )?;
            return Ok(true);
        }
        let Some(backend) = (self.wiring.backends)(step.kind) else {
            self.begin_attempt(&name, None)?;
            self.fail_now(
                &name,
                &format!("no backend runs {} steps on this machine", step.kind),
            )?;
            return Ok(true);
        };
        let planned = match self.planned.remove(&name) {
            Some(planned) => Ok(planned),
            None => self.policy(step).and_then(|policy| {
                let plan = backend
                    .plan(
                        step,
                        &PlanCtx {
                            values: self.ctx(),
                            workflow: &self.s.workflow,
                            store: &self.store,
                            machine: &self.machine,
                            interactive: self.wiring.prompter.is_some(),
                        },
                    )
                    .map_err(|e| e.to_string())?;
                Ok((plan, policy))
            }),
        };
        let (plan, policy) = match planned {
            Ok(planned) => planned,
            Err(e) => {
                self.begin_attempt(&name, None)?;
                self.fail_now(&name, &e)?;
                return Ok(true);
            }
        };
        // A job a dead runner left running (its owner holds the step's lock) is re-attached
        // at once: it holds its room already, whatever the slots say.
        let already_running = plan.flavor.is_some()
            && crate::store::lock_held(
                &crate::store::job_dir(&self.s.home, &self.s.exec_id, &name).join("lock"),
            );
        if let Some(flavor) = &plan.flavor {
            let mine = match room(
                self.running,
                self.s.max_parallel,
                already_running,
                slots::fits_empty(&self.machine, flavor),
                self.usage.fits(&self.machine, flavor),
            ) {
                Room::WaitForSlot => {
                    self.planned.insert(name, (plan, policy));
                    return Ok(false);
                }
                Room::TooBig => {
                    let e = format!("flavor `{}` needs more than this machine has", flavor.id);
                    self.begin_attempt(&name, None)?;
                    self.fail_now(&name, &e)?;
                    return Ok(true);
                }
                Room::Take { mine } => mine,
            };
            // Room is the machine's: every execution of the home shares it.
            let taken = mine
                && self
                    .ledger
                    .take(
                        &self.machine,
                        &self.s.exec_id,
                        &name,
                        flavor,
                        already_running,
                    )
                    .unwrap_or(true);
            if !taken {
                let r = waiting_for_room(&flavor.id, mine);
                self.waiting_for_room = true;
                self.set_reason(&name, r)?;
                self.planned.insert(name, (plan, policy));
                return Ok(false);
            }
            self.usage.add(flavor);
            self.running += 1;
        }
        let attempt = self.state.get(&name).map(|s| s.attempt).unwrap_or(0) + 1;
        if let Some(st) = self.state_mut(&name) {
            st.attempt = attempt;
            st.flavor = plan.flavor;
            st.first_attempt = attempt;
            st.retries = policy.retries;
        }
        let token = self.wiring.cancel.child();
        self.step_cancels.insert(name.clone(), token.clone());
        let mut run: BoxFuture<StepEnd> = Box::pin(attempts(
            plan.work,
            name.clone(),
            attempt,
            policy,
            token,
            self.notes_tx.clone(),
        ));
        self.in_flight += 1;
        // The first poll starts the work (a job's processes) or does it whole (a condition).
        // The step is recorded running right after, with what the backend kept meanwhile: a
        // process that starts before its record is found by its execution id on resume.
        let polled = run.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        let mut detail = None;
        let mut later = Vec::new();
        while let Ok(note) = self.notes_rx.try_recv() {
            match note {
                Note::Detail { step, detail: d } if step == name => detail = Some(d),
                other => later.push(other),
            }
        }
        self.set(
            &name,
            Status::Running,
            None,
            StepPatch {
                attempt: Some(attempt),
                started: true,
                inputs: Some(Value::Object(plan.inputs)),
                detail: Some(detail),
                error: Some(None),
                ..StepPatch::default()
            },
        )?;
        for note in later {
            self.handle(note)?;
        }
        match polled {
            // Work that is done at once (a condition) is handled here, so a chain of such
            // steps settles in one pass; the rest goes on in a task of its own.
            Poll::Ready(end) => self.finish(&name, end)?,
            Poll::Pending => {
                let tx = self.notes_tx.clone();
                tokio::spawn(async move {
                    let end = run.await;
                    let _ = tx.send(Note::Done { step: name, end });
                });
            }
        }
        Ok(true)
    }

    fn handle(&mut self, note: Note) -> Result<()> {
        // A note about a step that already ended is stale.
        let ended = |s: &Scheduler, step: &str| s.status(step).is_terminal();
        match note {
            Note::Detail { step, detail } => {
                if !ended(self, &step) {
                    // Kept so that a later runner can clean up what this attempt started.
                    self.store.set_detail(&self.s.exec_id, &step, &detail)?;
                }
            }
            Note::AttemptFailed {
                step,
                attempt,
                error,
            } => {
                if !ended(self, &step) {
                    let reason = retrying(attempt);
                    self.store.set_step(
                        &self.s.exec_id,
                        &step,
                        Status::Running,
                        Some(&reason),
                        &StepPatch {
                            ended: true,
                            error: Some(Some(error)),
                            ..StepPatch::default()
                        },
                    )?;
                    self.note(format!("{step}: {reason}"));
                }
            }
            Note::Retrying { step, attempt } => {
                if !ended(self, &step) {
                    if let Some(st) = self.state_mut(&step) {
                        st.attempt = attempt;
                    }
                    self.store.set_step(
                        &self.s.exec_id,
                        &step,
                        Status::Running,
                        Some(&format!("attempt {attempt}")),
                        &StepPatch {
                            attempt: Some(attempt),
                            started: true,
                            ..StepPatch::default()
                        },
                    )?;
                }
            }
            Note::Say { step, text } => {
                if !ended(self, &step) {
                    self.note(format!("{step}: {text}"));
                }
            }
            Note::Done { step, end } => self.finish(&step, end)?,
        }
        Ok(())
    }

    /// Records how a step's attempts ended and frees what it held.
    fn finish(&mut self, name: &str, end: StepEnd) -> Result<()> {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.step_cancels.remove(name);
        if let Some(f) = self.state_mut(name).and_then(|s| s.flavor.take()) {
            self.ledger.give_back(&self.s.exec_id, name);
            self.usage.remove(&f);
            self.running = self.running.saturating_sub(1);
        }
        match end {
            StepEnd::Executed {
                outputs,
                metrics,
                detail,
                note,
            } => {
                let patch = StepPatch {
                    ended: true,
                    outputs: Some(Value::Object(
                        outputs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )),
                    metrics: Some(json!(metrics)),
                    detail: (!detail.is_empty()).then(|| Some(Value::Object(detail.clone()))),
                    ..StepPatch::default()
                };
                self.produced.insert(
                    name.to_string(),
                    Produced {
                        status: Some(Status::Executed),
                        outputs,
                        metrics,
                        detail,
                        from_execution: None,
                    },
                );
                self.set(name, Status::Executed, note.as_deref(), patch)
            }
            StepEnd::Failed(e) => self.fail_now(name, &e),
            StepEnd::Permanent(e) => {
                self.say_not_retried(name)?;
                self.fail_now(name, &e)
            }
            StepEnd::Awaiting { reason, detail } => self.set(
                name,
                Status::AwaitingInput,
                Some(&reason),
                StepPatch {
                    detail: Some(Some(Value::Object(detail))),
                    ..StepPatch::default()
                },
            ),
            StepEnd::Stopped => self.set(
                name,
                Status::Stopped,
                Some("stopped"),
                StepPatch {
                    ended: true,
                    ..StepPatch::default()
                },
            ),
        }
    }
}

/// Runs a step's attempts: each under the step's timeout, again after a failure while
/// retries are left, until one ends well, the last fails, or the step is stopped.
async fn attempts(
    work: Arc<dyn Work>,
    step: String,
    first: u32,
    policy: Policy,
    cancel: CancellationToken,
    notes: mpsc::UnboundedSender<Note>,
) -> StepEnd {
    let mut number = first;
    loop {
        let attempt_cancel = cancel.child_token();
        let mut run = work.clone().run(Attempt {
            step: step.clone(),
            number,
            cancel: attempt_cancel.clone(),
            notes: notes.clone(),
        });
        let end = tokio::select! {
            biased;
            end = &mut run => end,
            _ = tokio::time::sleep(policy.timeout) => {
                attempt_cancel.cancel();
                run.await;
                StepEnd::Failed(format!(
                    "timed out: killed after {} (max_execution_minutes)",
                    crate::exec::error::span(policy.timeout)
                ))
            }
        };
        match end {
            StepEnd::Failed(error)
                if after_failure(number - first, policy.retries, false, cancel.is_cancelled())
                    == AfterFailure::Retry =>
            {
                let _ = notes.send(Note::AttemptFailed {
                    step: step.clone(),
                    attempt: number,
                    error,
                });
                tokio::select! {
                    _ = tokio::time::sleep(policy.retry_delay) => {}
                    _ = cancel.cancelled() => return StepEnd::Stopped,
                }
                number += 1;
                let _ = notes.send(Note::Retrying {
                    step: step.clone(),
                    attempt: number,
                });
            }
            other => return other,
        }
    }
}

/// The placeholders a step uses, one per name.
pub fn placeholders_of(step: &Step) -> Vec<Arc<Obj>> {
    let mut found: Vec<Arc<Obj>> = Vec::new();
    for (key, v) in &step.obj.args {
        if *key == "depend_steps" {
            continue;
        }
        v.walk(&mut |x| {
            if let Val::Obj(o) = x {
                if o.is_placeholder() && !found.iter().any(|p| value_key(p) == value_key(o)) {
                    found.push(o.clone());
                }
            }
        });
    }
    found
}

/// Values as the records keep them: under the names people give them by.
pub fn params_json(w: &Workflow, params: &HashMap<String, Val>) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(k, v)| (w.shown_key(k), val_to_json(v)))
            .collect::<Map<String, Value>>(),
    )
}

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;
