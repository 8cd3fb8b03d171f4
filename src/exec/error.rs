//! What can go wrong with an execution outside its steps, and the exit status of each, in
//! one place: the CLI, the REPL and the server map these, never bare numbers.

use crate::model::status::ExecStatus;
use crate::store::StoreError;

pub use crate::model::status::exit;

/// The exit status for how an execution ended (or paused).
pub fn exit_status(status: ExecStatus) -> i32 {
    match status {
        ExecStatus::Executed => exit::OK,
        ExecStatus::AwaitingInput => exit::AWAITING_INPUT,
        ExecStatus::Running | ExecStatus::Failed | ExecStatus::Stopped => exit::FAILED,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// What was asked cannot be done as asked (a flag, a value, a step name): nothing ran.
    #[error("{0}")]
    Usage(String),
    /// The run cannot start (outputs to reuse are missing, a definition cannot be read).
    #[error("{0}")]
    Refused(String),
    /// Another process runs the execution.
    #[error("execution {exec} is being run by another wf process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy { exec: String, pid: Option<u32> },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The machine refused something the engine needs (a lock file, the runtime).
    #[error("{0}")]
    System(String),
}

impl ExecError {
    /// The exit status this error ends a command with.
    pub fn code(&self) -> i32 {
        match self {
            ExecError::Usage(_) => exit::USAGE,
            ExecError::Refused(_)
            | ExecError::Busy { .. }
            | ExecError::Store(_)
            | ExecError::System(_) => exit::FAILED,
        }
    }
}

impl crate::store::Classify for ExecError {
    fn kind(&self) -> crate::store::ErrorKind {
        use crate::store::ErrorKind;
        match self {
            ExecError::Usage(_) | ExecError::Refused(_) => ErrorKind::Invalid,
            ExecError::Busy { .. } => ErrorKind::Conflict,
            ExecError::Store(s) => s.kind(),
            ExecError::System(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, ExecError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_and_error_has_its_exit_status() {
        assert_eq!(exit_status(ExecStatus::Executed), 0);
        assert_eq!(exit_status(ExecStatus::Failed), 1);
        assert_eq!(exit_status(ExecStatus::Stopped), 1);
        assert_eq!(exit_status(ExecStatus::AwaitingInput), 3);
        assert_eq!(ExecError::Usage("x".into()).code(), 2);
        assert_eq!(ExecError::Refused("x".into()).code(), 1);
        let busy = ExecError::Busy {
            exec: "e1".into(),
            pid: Some(42),
        };
        assert_eq!(busy.code(), 1);
        assert_eq!(
            busy.to_string(),
            "execution e1 is being run by another wf process (pid 42)"
        );
    }
}

/// A duration as a person reads it: `45 seconds`, `1.5 seconds`, `12.0 minutes`, `2.5 hours`.
pub fn span(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        let t = format!("{s:.1}");
        let t = t.strip_suffix(".0").unwrap_or(&t).to_string();
        format!("{t} second{}", if t == "1" { "" } else { "s" })
    } else if s < 120.0 {
        format!("{} seconds", s.round() as u64)
    } else if s < 2.0 * 3600.0 {
        format!("{:.1} minutes", s / 60.0)
    } else {
        format!("{:.1} hours", s / 3600.0)
    }
}

#[cfg(test)]
mod span_tests {
    use super::span;
    use std::time::Duration;

    #[test]
    fn limits_under_a_minute_are_given_in_seconds() {
        assert_eq!(span(Duration::from_secs(1)), "1 second");
        assert_eq!(span(Duration::from_millis(1500)), "1.5 seconds");
        assert_eq!(span(Duration::from_secs(30)), "30 seconds");
        assert_eq!(span(Duration::from_secs(90)), "90 seconds");
        assert_eq!(span(Duration::from_secs(600)), "10.0 minutes");
        assert_eq!(span(Duration::from_secs(3 * 3600)), "3.0 hours");
    }
}
