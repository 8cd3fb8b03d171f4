//! The statuses of executions and steps, as recorded and as shown. Read strictly: a record
//! holding a status this build does not know is an error, never a guess.
//!
//! Step states and who sets them (the scheduler, `src/exec/scheduler.rs`):
//!
//! | state            | kind         | set by                                                   |
//! |------------------|--------------|----------------------------------------------------------|
//! | `waiting`        | intermediate | a new execution; `wf retry`; a resume of a running step   |
//! | `running`        | intermediate | the scheduler, when it hands the step to its backend      |
//! | `awaiting_input` | intermediate | the scheduler, when a `delay` value is missing            |
//! | `executed`       | terminal     | the backend's run ended well                              |
//! | `skipped`        | terminal     | the decisions (`decide.rs`): branch, skip rule or policy  |
//! | `failed`         | terminal     | the backend's run (or its plan) failed, retries used up   |
//! | `stopped`        | terminal     | Ctrl-C, SIGTERM, `wf stop`                                |

use std::fmt;

use serde::{Deserialize, Serialize};

/// A status text this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} status `{text}`")]
pub struct UnknownStatus {
    pub what: &'static str,
    pub text: String,
}

/// Step statuses. Terminal: executed, skipped, failed, stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started: waiting for dependencies, a slot, or a dependency that will not end well.
    Waiting,
    Running,
    /// Needs a value (a `delay` placeholder) before it can run.
    AwaitingInput,
    Executed,
    Skipped,
    Failed,
    Stopped,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Waiting,
        Status::Running,
        Status::AwaitingInput,
        Status::Executed,
        Status::Skipped,
        Status::Failed,
        Status::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Running => "running",
            Status::AwaitingInput => "awaiting_input",
            Status::Executed => "executed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownStatus {
                what: "step",
                text: text.to_string(),
            })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Executed | Status::Skipped | Status::Failed | Status::Stopped
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Execution statuses. Terminal: executed, failed, stopped; `awaiting_input` pauses until
/// `wf proceed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    Running,
    AwaitingInput,
    Executed,
    Failed,
    Stopped,
}

impl ExecStatus {
    pub const ALL: [ExecStatus; 5] = [
        ExecStatus::Running,
        ExecStatus::AwaitingInput,
        ExecStatus::Executed,
        ExecStatus::Failed,
        ExecStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Running => "running",
            ExecStatus::AwaitingInput => "awaiting_input",
            ExecStatus::Executed => "executed",
            ExecStatus::Failed => "failed",
            ExecStatus::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Result<ExecStatus, UnknownStatus> {
        ExecStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| UnknownStatus {
                what: "execution",
                text: text.to_string(),
            })
    }

    /// Ended for good (`awaiting_input` is a pause, not an end).
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            ExecStatus::Executed | ExecStatus::Failed | ExecStatus::Stopped
        )
    }
}

impl fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The exit statuses every command ends with (README, "Reading an error").
pub mod exit {
    /// Executed, or the script is valid.
    pub const OK: i32 = 0;
    /// Failed or stopped, or the script is invalid.
    pub const FAILED: i32 = 1;
    /// A usage error: a bad flag or value, a required value missing with no one to ask.
    pub const USAGE: i32 = 2;
    /// Paused awaiting input, with no terminal to ask.
    pub const AWAITING_INPUT: i32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_text() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in ExecStatus::ALL {
            assert_eq!(ExecStatus::parse(s.as_str()), Ok(s));
        }
    }

    #[test]
    fn an_unknown_status_is_an_error_not_waiting() {
        let e = Status::parse("queued").unwrap_err();
        assert_eq!(e.to_string(), "unknown step status `queued`");
        assert!(ExecStatus::parse("waiting").is_err());
        assert!(Status::parse("").is_err());
    }
}
