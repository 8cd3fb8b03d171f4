//! The engine owns an execution's whole life: it prepares a run (values, storages, outputs
//! to reuse), takes the execution's lock, rebuilds an execution from its records after a
//! crash (lock first, then the leftovers of the dead runner are cleaned up), drives it, and
//! carries it on with retry, proceed, stop and resume. The CLI, the REPL's development
//! state, and later the server and the notebook kernel all go through it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Runtime;

use super::backend::Backends;
use super::cancel::Cancel;
use super::error::{ExecError, Result};
use super::events::{Event, EventSink, Listener, Prompter};
use super::lock::{lock, Lock};
use super::params::{parse_text, split_assignment};
use super::prepare::{prepare, reload, Request};
use super::scheduler::{params_json, placeholders_of, NextReport, Scheduler, Setup, Wiring};
use crate::model::status::{ExecStatus, Status};
use crate::model::val::Val;
use crate::model::workflow::{value_key, Workflow};
use crate::store::{ExecutionRecord, StepPatch, StepRow, Store};

/// The one runtime of this process, made on first use.
pub fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| ExecError::System(e.clone()))
}

pub struct Engine {
    home: PathBuf,
    wiring: Wiring,
}

/// A new execution, recorded and ready to run.
pub struct Prepared {
    store: Store,
    setup: Setup,
}

impl Prepared {
    pub fn exec_id(&self) -> &str {
        &self.setup.exec_id
    }
}

/// How a drive ended (or paused).
pub struct Outcome {
    pub exec_id: String,
    pub status: ExecStatus,
    pub store: Store,
}

impl Outcome {
    pub fn record(&self) -> Result<ExecutionRecord> {
        Ok(self.store.record(&self.exec_id)?)
    }
}

/// What `stop` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopping {
    /// The execution had already ended so.
    AlreadyEnded(ExecStatus),
    /// Its runner was asked to stop it (or the step).
    Asked,
    /// No runner was alive: the stop was recorded here, leftovers killed.
    Recorded,
}

/// A debug execution: one phase at a time (`workflow.next()`).
pub struct DebugRun {
    scheduler: Scheduler,
    _lock: Lock,
}

impl DebugRun {
    pub fn exec_id(&self) -> &str {
        self.scheduler.exec_id()
    }

    /// Runs the next phase; `interrupt` stops that phase alone.
    pub fn next(&mut self, interrupt: &Cancel) -> Result<NextReport> {
        runtime()?.block_on(self.scheduler.next_phase(interrupt))
    }

    pub fn set_param(&mut self, name: &str, value: Val) -> Result<()> {
        self.scheduler.set_param(name, value)
    }

    pub fn finished(&self) -> Option<ExecStatus> {
        self.scheduler.finished()
    }

    pub fn workflow(&self) -> &Workflow {
        self.scheduler.workflow()
    }

    pub fn store(&self) -> &Store {
        self.scheduler.store()
    }
}

impl Engine {
    pub fn new(home: &Path, backends: Backends) -> Engine {
        Engine {
            home: home.to_path_buf(),
            wiring: Wiring {
                backends,
                events: EventSink::default(),
                prompter: None,
                cancel: Cancel::new(),
            },
        }
    }

    /// Adds a listener for every status change.
    pub fn listen(mut self, listener: Arc<dyn Listener>) -> Engine {
        self.wiring.events.add(listener);
        self
    }

    /// Who to ask for missing values; without one, runs stop or pause instead.
    pub fn ask_with(mut self, prompter: Arc<dyn Prompter>) -> Engine {
        self.wiring.prompter = Some(prompter);
        self
    }

    /// The token that stops what this engine drives.
    pub fn cancel(&self) -> &Cancel {
        &self.wiring.cancel
    }

    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.home)?)
    }

    /// Checks everything the run needs and records the new execution; nothing runs yet.
    pub fn prepare(&self, w: Workflow, req: &Request) -> Result<Prepared> {
        let (store, setup) = prepare(
            w,
            req,
            &self.home,
            self.wiring.prompter.as_deref(),
            self.wiring.backends,
        )?;
        Ok(Prepared { store, setup })
    }

    /// Runs a prepared execution to its end (or its pause).
    pub fn run(&self, p: Prepared) -> Result<Outcome> {
        let held = lock(&self.home, &p.setup.exec_id)?;
        self.drive(p.store, p.setup, Vec::new(), held)
    }

    /// Starts a prepared execution for debugging, phase by phase.
    pub fn debug(&self, p: Prepared) -> Result<DebugRun> {
        let held = lock(&self.home, &p.setup.exec_id)?;
        Ok(DebugRun {
            scheduler: Scheduler::new(p.setup, p.store, Vec::new(), self.wiring.clone()),
            _lock: held,
        })
    }

    /// Carries on an execution whose runner died; executed steps are not run again.
    pub fn resume(&self, exec: &str) -> Result<Outcome> {
        self.carry_on(exec, |store, setup, _| {
            let status = store.execution(&setup.exec_id)?.status;
            if status.has_ended() {
                return Err(ExecError::Usage(format!(
                    "execution {} already ended {status}: there is nothing to resume{}",
                    setup.exec_id,
                    if status == ExecStatus::Executed {
                        ""
                    } else {
                        "; `wf retry` runs its failed and stopped steps again"
                    }
                )));
            }
            Ok(())
        })
    }

    /// Runs the failed and stopped steps (or one of them) again and carries on.
    pub fn retry(&self, exec: &str, step: Option<&str>) -> Result<Outcome> {
        self.carry_on(exec, |store, setup, rows| {
            let id = setup.exec_id.clone();
            let retried = |r: &StepRow| matches!(r.status, Status::Failed | Status::Stopped);
            if let Some(s) = step {
                let Some(row) = rows.iter().find(|r| r.name == s) else {
                    return Err(ExecError::Usage(format!(
                        "execution {id} has no step `{s}`"
                    )));
                };
                if !retried(row) {
                    return Err(ExecError::Usage(format!(
                        "step `{s}` is {}: only failed or stopped steps are retried",
                        row.status
                    )));
                }
            } else if !rows.iter().any(retried) {
                return Err(ExecError::Usage(format!(
                    "execution {id} has no failed or stopped step to retry"
                )));
            }
            for r in rows.iter_mut() {
                if step.is_none_or(|s| s == r.name) && retried(r) {
                    r.status = Status::Waiting;
                    store.set_step(
                        &id,
                        &r.name,
                        Status::Waiting,
                        Some("to be retried"),
                        &StepPatch::default(),
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Gives a step awaiting input its values (`NAME=VALUE` texts) and carries on.
    pub fn proceed(&self, exec: &str, step: &str, values: &[String]) -> Result<Outcome> {
        let backends = self.wiring.backends;
        self.carry_on(exec, |store, setup, rows| {
            let id = setup.exec_id.clone();
            let Some(row) = rows.iter().find(|r| r.name == step) else {
                return Err(ExecError::Usage(format!(
                    "execution {id} has no step `{step}`"
                )));
            };
            if row.status != Status::AwaitingInput {
                return Err(ExecError::Usage(format!(
                    "step `{step}` is {}, not awaiting input",
                    row.status
                )));
            }
            if values.is_empty() {
                if let Some(b) = (backends)(row.kind) {
                    b.may_proceed(store, &row.detail)
                        .map_err(|e| ExecError::Usage(e.to_string()))?;
                }
            }
            let placeholders = setup
                .workflow
                .step(step)
                .map(placeholders_of)
                .unwrap_or_default();
            for text in values {
                let (name, value) =
                    split_assignment(text).map_err(|e| ExecError::Usage(e.to_string()))?;
                let key = setup.workflow.key_of_shown(&name);
                let Some(p) = placeholders.iter().find(|p| value_key(p) == key) else {
                    return Err(ExecError::Usage(format!(
                        "step `{step}` takes no parameter `{name}`"
                    )));
                };
                let v = parse_text(p, &value).map_err(|e| ExecError::Usage(e.to_string()))?;
                setup.params.insert(key, v);
            }
            store.set_parameters(&id, &params_json(&setup.workflow, &setup.params))?;
            Ok(())
        })
    }

    /// Stops an execution, or one step of it: through its runner when one is alive, else
    /// here, killing what a dead runner left.
    pub fn stop(&self, exec: &str, step: Option<&str>) -> Result<(String, Stopping)> {
        let store = self.store()?;
        let id = store.resolve_id(exec)?;
        let e = store.execution(&id)?;
        let rows = store.steps(&id)?;
        if let Some(s) = step {
            if !rows.iter().any(|r| r.name == s) {
                return Err(ExecError::Usage(format!(
                    "execution {id} has no step `{s}`"
                )));
            }
        }
        if e.status.has_ended() {
            return Ok((id, Stopping::AlreadyEnded(e.status)));
        }
        let held = match lock(&self.home, &id) {
            Ok(held) => held,
            Err(ExecError::Busy { .. }) => {
                store.request_stop(&id, step)?;
                return Ok((id, Stopping::Asked));
            }
            Err(other) => return Err(other),
        };
        for r in rows.iter().filter(|r| step.is_none_or(|s| s == r.name)) {
            if !matches!(
                r.status,
                Status::Running | Status::Waiting | Status::AwaitingInput
            ) {
                continue;
            }
            if r.status == Status::Running {
                self.clean_up(&id, r);
            }
            store.set_step(
                &id,
                &r.name,
                Status::Stopped,
                Some("stopped by `wf stop`"),
                &StepPatch {
                    ended: true,
                    ..StepPatch::default()
                },
            )?;
        }
        if step.is_none() {
            store.set_execution(&id, ExecStatus::Stopped, Some("stopped by `wf stop`"))?;
        }
        drop(held);
        Ok((id, Stopping::Recorded))
    }

    fn clean_up(&self, exec: &str, row: &StepRow) {
        if let Some(backend) = (self.wiring.backends)(row.kind) {
            backend.clean_up(exec, &row.name, &row.detail);
        }
    }

    /// Takes the lock, rebuilds the execution, lets `change` adjust it, cleans up what a
    /// dead runner left running, and drives it.
    fn carry_on(
        &self,
        exec: &str,
        change: impl FnOnce(&Store, &mut Setup, &mut Vec<StepRow>) -> Result<()>,
    ) -> Result<Outcome> {
        let store = self.store()?;
        let id = store.resolve_id(exec)?;
        let held = lock(&self.home, &id)?;
        let (mut setup, mut rows) = reload(&store, &id)?;
        change(&store, &mut setup, &mut rows)?;
        let mut reattached = Vec::new();
        for r in rows.iter().filter(|r| r.status == Status::Running) {
            if (self.wiring.backends)(r.kind).is_some_and(|b| b.reattaches(&r.detail)) {
                reattached.push(r.clone());
            } else {
                self.clean_up(&id, r);
            }
        }
        // Work started just before the runner died may have no record pointing at it.
        let mut swept = Vec::new();
        for r in rows.iter().filter(|r| !r.status.is_terminal()) {
            if !swept.contains(&r.kind) {
                swept.push(r.kind);
                if let Some(backend) = (self.wiring.backends)(r.kind) {
                    backend.sweep(&id);
                }
            }
        }
        let outcome = self.drive(store, setup, rows, held)?;
        // What this runner was to re-attach to but stopped before it could (Ctrl-C, a stop
        // of the execution or of the step) is stopped now, not left running unrecorded.
        if !reattached.is_empty() {
            let now = outcome.store.steps(&outcome.exec_id).unwrap_or_default();
            for old in &reattached {
                let stopped = now
                    .iter()
                    .find(|r| r.name == old.name)
                    .is_some_and(|r| r.status == Status::Stopped);
                if stopped {
                    self.clean_up(&outcome.exec_id, old);
                }
            }
        }
        Ok(outcome)
    }

    fn drive(&self, store: Store, setup: Setup, rows: Vec<StepRow>, held: Lock) -> Result<Outcome> {
        let exec_id = setup.exec_id.clone();
        self.wiring.events.emit(Event::Started {
            exec_id: exec_id.clone(),
            workflow: setup.workflow.name.clone(),
        });
        let scheduler = Scheduler::new(setup, store, rows, self.wiring.clone());
        let (status, store) = runtime()?.block_on(scheduler.drive())?;
        drop(held);
        Ok(Outcome {
            exec_id,
            status,
            store,
        })
    }
}
