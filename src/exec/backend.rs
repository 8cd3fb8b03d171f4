//! The seam between the scheduler and what a step does: one [`Backend`] per step kind
//! (`src/backends/`). The scheduler asks a backend to *plan* a step (resolve its inputs for
//! this execution into work ready to run, refusing bad values before anything runs), then
//! runs that work once per attempt with a cancellation token and a channel for what the
//! records must keep (its *detail*), and after a runner died asks it to *clean up* what an
//! attempt left, from the detail recorded. Retries, timeouts, slots and stops are the
//! scheduler's, the same for every kind.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::ExecError;
use super::resolve::Ctx;
use crate::model::kind::StepKind;
use crate::model::val::Val;
use crate::model::workflow::{Step, Workflow};
use crate::pools::flavors::{Flavor, Machine};
use crate::store::Store;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub trait Backend: Send + Sync {
    /// Checks what can be checked of `step` with the run's values before anything of the
    /// execution runs (a job's flavor names one this machine or a pool has); an error
    /// refuses the whole run, with its exit status.
    fn preflight(&self, _step: &Step, _ctx: &PreflightCtx) -> Result<(), ExecError> {
        Ok(())
    }

    /// Whether a step of this kind writes its log (`HOME/logs/EXEC/STEP.log`) when it runs.
    fn writes_log(&self) -> bool {
        false
    }

    /// Resolves `step` for this execution. An error fails the step before anything runs.
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError>;

    /// Ends what an attempt of a step left running when its runner died, from the detail
    /// the attempt recorded. Called before the step runs again, under the execution's lock.
    fn clean_up(&self, _exec_id: &str, _step: &str, _detail: &Map<String, Value>) {}

    /// Ends whatever an execution's dead runner left running through this kind that no
    /// record points at (work started just before the runner died, before its step was
    /// recorded running). Called once per kind when the execution is taken up again.
    fn sweep(&self, _exec_id: &str) {}

    /// Whether what an attempt left running (from its detail) goes on without its runner
    /// and is taken up by the step's next plan instead of being cleaned up when the
    /// execution is carried on (a job on a resource pool). `wf stop` still cleans it up.
    fn reattaches(&self, _detail: &Map<String, Value>) -> bool {
        false
    }

    /// Whether a step this backend left awaiting input may go on now (`wf proceed` with
    /// no values), from the detail it recorded: an error says what is still missing.
    fn may_proceed(&self, _store: &Store, _detail: &Map<String, Value>) -> Result<(), StepError> {
        Ok(())
    }
}

/// Why a step cannot go on as written, found by its backend while planning or running it;
/// its text is what the step's record and the person read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// A value does not fit what the step needs (a keyword, a parameter, a file's content).
    #[error("{0}")]
    Invalid(String),
    /// Something the step names is not there: a dataset, a model, a file, a cluster.
    #[error("{0}")]
    NotFound(String),
    /// What the step needs cannot be reached or made now: a process, a service, the disk.
    #[error("{0}")]
    Unavailable(String),
    /// A failure that did not say its kind (a sentence from below): tried again like any.
    #[error("{0}")]
    Failed(String),
}

impl StepError {
    /// Whether trying the step again could end otherwise.
    pub fn may_pass(&self) -> bool {
        matches!(self, StepError::Unavailable(_) | StepError::Failed(_))
    }
}

/// A domain's error, by the kind it says it is.
impl<E: crate::store::Classify + std::fmt::Display> From<E> for StepError {
    fn from(e: E) -> Self {
        use crate::store::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => StepError::NotFound(e.to_string()),
            ErrorKind::Invalid | ErrorKind::Conflict => StepError::Invalid(e.to_string()),
            ErrorKind::Unavailable | ErrorKind::Internal => StepError::Unavailable(e.to_string()),
        }
    }
}

/// A sentence from a lower layer that did not say its kind.
impl From<String> for StepError {
    fn from(why: String) -> Self {
        StepError::Failed(why)
    }
}

impl From<&str> for StepError {
    fn from(why: &str) -> Self {
        StepError::Failed(why.to_string())
    }
}

/// How a step's attempt ends on a [`StepError`]: tried again when that may pass, else failed
/// without using up its retries.
impl From<StepError> for StepEnd {
    fn from(e: StepError) -> Self {
        if e.may_pass() {
            StepEnd::Failed(e.to_string())
        } else {
            StepEnd::Permanent(e.to_string())
        }
    }
}

/// Which backend runs each kind; `None` for a kind without one on this machine yet.
pub type Backends = fn(StepKind) -> Option<&'static dyn Backend>;

/// What a backend may read in its preflight, before the execution is recorded.
pub struct PreflightCtx<'a> {
    pub workflow: &'a Workflow,
    /// The values given for this run, by placeholder key ([`value_key`]); a placeholder
    /// without one is left for later (delayed).
    ///
    /// [`value_key`]: crate::model::workflow::value_key
    pub values: &'a HashMap<String, Val>,
    pub machine: &'a Machine,
    pub home: &'a Path,
}

/// What a backend may read while planning.
pub struct PlanCtx<'a> {
    /// Values of placeholders, storages, earlier outputs.
    pub values: Ctx<'a>,
    pub workflow: &'a Workflow,
    pub store: &'a Store,
    pub machine: &'a Machine,
    /// A person is at a terminal: work that waits for one (labeling) may wait here instead
    /// of pausing the execution.
    pub interactive: bool,
}

impl PlanCtx<'_> {
    pub fn exec_id(&self) -> &str {
        self.values.exec_id
    }

    /// The step's log file.
    pub fn log(&self, step: &str) -> std::path::PathBuf {
        self.store.log_path(self.values.exec_id, step)
    }

    pub fn home(&self) -> &Path {
        self.values.home
    }
}

/// A step ready to run.
pub struct Plan {
    /// The inputs as the record shows them once it starts.
    pub inputs: Map<String, Value>,
    /// What it takes of the machine. Work with a flavor takes a slot (`--max-parallel`) and
    /// waits for room; work without one runs at once.
    pub flavor: Option<Flavor>,
    pub work: Arc<dyn Work>,
}

/// The part of a plan that runs, once per attempt.
pub trait Work: Send + Sync {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd>;
}

/// One attempt of a step.
pub struct Attempt {
    pub step: String,
    pub number: u32,
    /// Cancelled when the step must stop (Ctrl-C, `wf stop`, its timeout): end promptly,
    /// leaving nothing running, and return [`StepEnd::Stopped`].
    pub cancel: CancellationToken,
    pub(crate) notes: mpsc::UnboundedSender<Note>,
}

impl Attempt {
    /// Keeps `detail` in the step's record (a job's process groups, say), replacing what
    /// was kept before, so that a later runner can clean up after this one.
    /// Tells the person watching the run something about the step (what it waits for).
    pub fn say(&self, text: String) {
        let _ = self.notes.send(Note::Say {
            step: self.step.clone(),
            text,
        });
    }

    pub fn record_detail(&self, detail: Value) {
        let _ = self.notes.send(Note::Detail {
            step: self.step.clone(),
            detail,
        });
    }
}

/// What an attempt tells the scheduler while it runs.
pub(crate) enum Note {
    Detail {
        step: String,
        detail: Value,
    },
    AttemptFailed {
        step: String,
        attempt: u32,
        error: String,
    },
    Retrying {
        step: String,
        attempt: u32,
    },
    Say {
        step: String,
        text: String,
    },
    Done {
        step: String,
        end: StepEnd,
    },
}

// One per attempt that ends, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StepEnd {
    Executed {
        /// Output name -> `{"path": ...}` (and what else a kind records).
        outputs: IndexMap<String, Value>,
        metrics: IndexMap<String, f64>,
        /// The backend's detail to record (a condition's `result`); empty keeps what the
        /// attempt recorded while it ran.
        detail: Map<String, Value>,
        /// A sentence for the record's reason.
        note: Option<String>,
    },
    /// Why, in a sentence or a few lines; the step's record keeps it.
    Failed(String),
    /// Failed in a way retrying cannot help (bad input, a missing file): no retry.
    Permanent(String),
    /// The step needs a person before it can end (a labeling task with unlabelled samples):
    /// it is `awaiting_input` with `reason` (what to do), and runs again on `wf proceed`.
    Awaiting {
        reason: String,
        detail: Map<String, Value>,
    },
    Stopped,
}
