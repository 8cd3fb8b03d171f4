//! Typed rows of the records, and the execution record (`wf status --json`) built from them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::kind::StepKind;
use crate::model::status::{ExecStatus, Status};

#[derive(Debug, Clone)]
pub struct ExecutionRow {
    pub id: String,
    pub workflow: String,
    pub status: ExecStatus,
    pub reason: Option<String>,
    pub experiment: Option<String>,
    pub definition: String,
    pub base_dir: String,
    pub parameters: Value,
    pub storages: Value,
    pub reused: Value,
    pub max_parallel: usize,
    pub created_at: String,
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StepRow {
    pub name: String,
    pub kind: StepKind,
    pub status: Status,
    pub reason: Option<String>,
    pub attempt: u32,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub inputs: Option<Value>,
    pub outputs: Option<Value>,
    pub metrics: Option<Value>,
    pub error: Option<String>,
    /// What the step's backend keeps of it (a job's process groups, a condition's result):
    /// a JSON object, empty when there is nothing.
    pub detail: Map<String, Value>,
}

impl StepRow {
    /// A condition step's result.
    pub fn result(&self) -> Option<bool> {
        self.detail.get("result").and_then(Value::as_bool)
    }
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub attempt: u32,
    pub status: Status,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    /// `None` for the execution itself.
    pub step: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub at: String,
}

/// The execution record (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionRecord {
    pub execution_id: String,
    pub workflow: String,
    pub status: ExecStatus,
    pub reason: Option<String>,
    pub experiment_id: Option<String>,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub parameters: Value,
    pub storages: Value,
    pub reused: Value,
    pub steps: Vec<StepRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: StepKind,
    pub status: Status,
    pub reason: Option<String>,
    pub attempt: u32,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub outputs: Value,
    pub metrics: Value,
    pub error: Option<String>,
    /// The backend's detail, its fields beside the others (`"result"` of a condition).
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

impl ExecutionRecord {
    pub fn new(e: ExecutionRow, steps: Vec<StepRow>) -> ExecutionRecord {
        ExecutionRecord {
            execution_id: e.id,
            workflow: e.workflow,
            status: e.status,
            reason: e.reason,
            experiment_id: e.experiment,
            created_at: e.created_at,
            ended_at: e.ended_at,
            parameters: e.parameters,
            storages: e.storages,
            reused: e.reused,
            steps: steps.into_iter().map(StepRecord::from).collect(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl From<StepRow> for StepRecord {
    fn from(s: StepRow) -> StepRecord {
        StepRecord {
            name: s.name,
            kind: s.kind,
            status: s.status,
            reason: s.reason,
            attempt: s.attempt,
            started_at: s.started_at,
            ended_at: s.ended_at,
            outputs: s.outputs.unwrap_or_else(|| Value::Object(Map::new())),
            metrics: s.metrics.unwrap_or_else(|| Value::Object(Map::new())),
            error: s.error,
            detail: s.detail,
        }
    }
}
