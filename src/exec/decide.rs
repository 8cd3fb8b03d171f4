//! Whether a step waits, runs or is skipped: pure decisions over what its dependencies did,
//! each with the sentence that explains it (shown by `wf show` and the REPL).
//!
//! The rules (ARCHITECTURE.md, "Decisions"): a step starts when every dependency ended `executed` or
//! `skipped`. It is skipped when a condition step's branch that names it was not taken,
//! when its skip conditions all hold, or (the default rule, replaced by a skip policy)
//! when it has dependencies and all of them were skipped. A dependency that failed or was
//! stopped keeps it from running.

pub use crate::model::status::{ExecStatus, Status};

/// What the scheduler should do with a waiting step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not yet: a dependency has not ended.
    Wait(String),
    /// Never, in this execution: a dependency failed or was stopped.
    Blocked(String),
    Skip(String),
    /// Its skip conditions must be evaluated now (the step has a skip policy).
    EvaluateSkipConditions,
    Run,
}

/// One dependency as the decision sees it.
#[derive(Debug, Clone)]
pub struct DepState<'a> {
    pub name: &'a str,
    pub status: Status,
}

/// A condition step's branch that names this step: the condition's name, whether the
/// step is on its true side, and the condition's result once evaluated.
#[derive(Debug, Clone)]
pub struct Branch<'a> {
    pub condition: &'a str,
    pub on_true: bool,
    pub result: Option<bool>,
}

pub fn decide(deps: &[DepState], branches: &[Branch], has_skip_policy: bool) -> Decision {
    if let Some(d) = deps
        .iter()
        .find(|d| matches!(d.status, Status::Failed | Status::Stopped))
    {
        return Decision::Blocked(format!(
            "not run: its dependency `{}` {}",
            d.name,
            if d.status == Status::Failed {
                "failed"
            } else {
                "was stopped"
            }
        ));
    }
    let pending: Vec<&str> = deps
        .iter()
        .filter(|d| !d.status.is_terminal())
        .map(|d| d.name)
        .collect();
    if !pending.is_empty() {
        return Decision::Wait(format!("waiting for {}", quote_list(&pending)));
    }
    for b in branches {
        if let Some(result) = b.result {
            if result != b.on_true {
                return Decision::Skip(format!(
                    "condition `{}` was {result}, and this step is in its `{}`",
                    b.condition,
                    if b.on_true {
                        "if_then_steps"
                    } else {
                        "else_then_steps"
                    }
                ));
            }
        }
    }
    if has_skip_policy {
        return Decision::EvaluateSkipConditions;
    }
    if !deps.is_empty() && deps.iter().all(|d| d.status == Status::Skipped) {
        return Decision::Skip(if deps.len() == 1 {
            format!("its only dependency `{}` was skipped", deps[0].name)
        } else {
            format!(
                "all of its dependencies were skipped ({})",
                quote_list(&deps.iter().map(|d| d.name).collect::<Vec<_>>())
            )
        });
    }
    Decision::Run
}

fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status an execution ends with, from its steps' statuses; `None` while it goes on.
pub fn execution_outcome(statuses: &[Status], anything_can_progress: bool) -> Option<ExecStatus> {
    if anything_can_progress || statuses.contains(&Status::Running) {
        return None;
    }
    Some(if statuses.contains(&Status::Failed) {
        ExecStatus::Failed
    } else if statuses.contains(&Status::Stopped) {
        ExecStatus::Stopped
    } else if statuses.contains(&Status::AwaitingInput) {
        ExecStatus::AwaitingInput
    } else {
        ExecStatus::Executed
    })
}

/// Where a step with a flavor stands before it starts, from the execution's slots and
/// what its own running steps hold of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Every slot (`--max-parallel`) is taken: it waits for one.
    WaitForSlot,
    /// The machine could never hold it: it fails.
    TooBig,
    /// It may take room from the machine's ledger; `mine`: the execution's own running steps
    /// leave it room (or it runs already), so only other executions can keep it waiting.
    Take { mine: bool },
}

/// `running`: steps of the execution holding a slot; `already_running`: its work runs
/// already (a runner re-attaching to a job), so it takes its room whatever the slots say;
/// `fits_empty`: the flavor fits the machine with nothing else on it; `fits_now`: it fits
/// beside what the execution's running steps hold.
pub fn room(
    running: usize,
    max_parallel: usize,
    already_running: bool,
    fits_empty: bool,
    fits_now: bool,
) -> Room {
    if already_running {
        return Room::Take { mine: true };
    }
    if running >= max_parallel {
        Room::WaitForSlot
    } else if !fits_empty || (!fits_now && running == 0) {
        Room::TooBig
    } else {
        Room::Take { mine: fits_now }
    }
}

/// Why a step waits for room for `flavor`; `others_hold`: other executions hold it.
pub fn waiting_for_room(flavor: &str, others_hold: bool) -> String {
    if others_hold {
        format!("waiting for room on this machine for flavor `{flavor}` (other executions hold it)")
    } else {
        format!("waiting for room on this machine for flavor `{flavor}`")
    }
}

/// Why a step awaits input: the values it lacks (as people write them) and the command
/// that gives them.
pub fn needs_values(exec: &str, step: &str, missing: &[String]) -> String {
    format!(
        "needs {}: `wf proceed {exec} {step} {}`",
        missing
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", "),
        missing
            .iter()
            .map(|m| format!("-p {m}=VALUE"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The reason an execution ended with `outcome` records: the steps that failed, or await
/// input, as `names_with` gives those of a status.
pub fn summary(outcome: ExecStatus, names_with: impl Fn(Status) -> Vec<String>) -> Option<String> {
    let quoted = |want: Status| {
        names_with(want)
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match outcome {
        ExecStatus::Failed => Some(format!("failed: {}", quoted(Status::Failed))),
        ExecStatus::AwaitingInput => {
            Some(format!("awaiting input: {}", quoted(Status::AwaitingInput)))
        }
        ExecStatus::Stopped => Some("stopped".into()),
        ExecStatus::Running | ExecStatus::Executed => None,
    }
}

/// What follows an attempt that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Another attempt, after the policy's retry delay.
    Retry,
    /// The step fails: its retries are used up, or it is being stopped.
    Fail,
    /// The step fails although retries were left: the failure says retrying cannot help.
    FailUnretried,
}

/// Whether a step whose attempt failed is tried again: `retried` attempts were retries
/// already, of the `retries` its policy allows; `permanent` when the failure says retrying
/// cannot help; `stopping` when the step or the execution is being stopped.
pub fn after_failure(retried: u32, retries: u32, permanent: bool, stopping: bool) -> AfterFailure {
    if retried >= retries || stopping {
        AfterFailure::Fail
    } else if permanent {
        AfterFailure::FailUnretried
    } else {
        AfterFailure::Retry
    }
}

/// The sentence for an attempt that failed and is tried again.
pub fn retrying(attempt: u32) -> String {
    format!("attempt {attempt} failed; trying again")
}

/// The sentence for an attempt that failed with retries left, not tried again.
pub fn not_retrying(attempt: u32) -> String {
    format!("attempt {attempt} failed; not trying again: retrying cannot help")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn d(name: &str, status: Status) -> DepState<'_> {
        DepState { name, status }
    }

    #[test]
    fn a_root_step_runs() {
        assert_eq!(decide(&[], &[], false), Decision::Run);
    }

    #[test]
    fn waits_for_unfinished_dependencies_and_names_them() {
        let r = decide(
            &[d("a", Executed), d("b", Running), d("c", Waiting)],
            &[],
            false,
        );
        assert_eq!(r, Decision::Wait("waiting for `b`, `c`".into()));
    }

    #[test]
    fn a_failed_dependency_blocks_even_when_another_was_skipped() {
        // The join case peers get wrong: one parent skipped, the other failed.
        let r = decide(&[d("a", Skipped), d("b", Failed)], &[], false);
        assert_eq!(
            r,
            Decision::Blocked("not run: its dependency `b` failed".into())
        );
        let r = decide(&[d("a", Running), d("b", Stopped)], &[], false);
        assert!(matches!(r, Decision::Blocked(_)));
    }

    #[test]
    fn default_rule_skips_when_all_dependencies_were_skipped() {
        let r = decide(&[d("a", Skipped), d("b", Skipped)], &[], false);
        assert_eq!(
            r,
            Decision::Skip("all of its dependencies were skipped (`a`, `b`)".into())
        );
        // One executed parent is enough to run: the join after a condition.
        assert_eq!(
            decide(&[d("a", Skipped), d("b", Executed)], &[], false),
            Decision::Run
        );
    }

    #[test]
    fn a_skip_policy_replaces_the_default_rule() {
        let r = decide(&[d("a", Skipped), d("b", Skipped)], &[], true);
        assert_eq!(r, Decision::EvaluateSkipConditions);
    }

    #[test]
    fn the_branch_not_taken_is_skipped() {
        let on_true = [Branch {
            condition: "gate",
            on_true: true,
            result: Some(false),
        }];
        let r = decide(&[d("gate", Executed)], &on_true, false);
        assert_eq!(
            r,
            Decision::Skip(
                "condition `gate` was false, and this step is in its `if_then_steps`".into()
            )
        );
        let on_false = [Branch {
            condition: "gate",
            on_true: false,
            result: Some(false),
        }];
        assert_eq!(
            decide(&[d("gate", Executed)], &on_false, false),
            Decision::Run
        );
    }

    #[test]
    fn a_branch_skip_wins_over_a_skip_policy() {
        let b = [Branch {
            condition: "gate",
            on_true: true,
            result: Some(false),
        }];
        assert!(matches!(
            decide(&[d("gate", Executed)], &b, true),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn a_join_after_a_condition_runs_when_its_taken_branch_executed() {
        // gate -> (a | b) -> join: b skipped by the branch, a executed.
        assert_eq!(
            decide(&[d("a", Executed), d("b", Skipped)], &[], false),
            Decision::Run
        );
        // Both branches skipped (their own skip policies): the join is skipped too.
        assert!(matches!(
            decide(&[d("a", Skipped), d("b", Skipped)], &[], false),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn outcomes() {
        assert_eq!(
            execution_outcome(&[Executed, Skipped], false),
            Some(ExecStatus::Executed)
        );
        assert_eq!(
            execution_outcome(&[Executed, Failed, Waiting], false),
            Some(ExecStatus::Failed)
        );
        assert_eq!(
            execution_outcome(&[Executed, AwaitingInput], false),
            Some(ExecStatus::AwaitingInput)
        );
        assert_eq!(
            execution_outcome(&[Executed, Stopped], false),
            Some(ExecStatus::Stopped)
        );
        assert_eq!(execution_outcome(&[Running], false), None);
        assert_eq!(execution_outcome(&[Waiting], true), None);
    }

    #[test]
    fn a_failure_is_retried_while_retries_are_left_unless_retrying_cannot_help() {
        use AfterFailure::*;
        assert_eq!(after_failure(0, 2, false, false), Retry);
        assert_eq!(after_failure(1, 2, false, false), Retry);
        assert_eq!(after_failure(2, 2, false, false), Fail);
        assert_eq!(after_failure(0, 0, false, false), Fail);
        // A permanent failure says so only when a retry was left to give up.
        assert_eq!(after_failure(0, 2, true, false), FailUnretried);
        assert_eq!(after_failure(2, 2, true, false), Fail);
        assert_eq!(after_failure(0, 0, true, false), Fail);
        // A step being stopped is not tried again.
        assert_eq!(after_failure(0, 2, false, true), Fail);
        assert_eq!(after_failure(0, 2, true, true), Fail);
    }

    #[test]
    fn retry_sentences_name_the_attempt() {
        assert_eq!(retrying(1), "attempt 1 failed; trying again");
        assert_eq!(
            not_retrying(2),
            "attempt 2 failed; not trying again: retrying cannot help"
        );
    }
    #[test]
    fn a_flavor_waits_for_a_slot_then_for_room_and_fails_only_when_it_can_never_fit() {
        // room(running, max_parallel, already_running, fits_empty, fits_now)
        assert_eq!(room(2, 2, false, true, true), Room::WaitForSlot);
        assert_eq!(room(0, 2, false, true, true), Room::Take { mine: true });
        // Beside the execution's own running steps it does not fit: it waits for them.
        assert_eq!(room(1, 2, false, true, false), Room::Take { mine: false });
        // Nothing of the execution runs and still it does not fit, or never would.
        assert_eq!(room(0, 2, false, true, false), Room::TooBig);
        assert_eq!(room(1, 2, false, false, true), Room::TooBig);
        // A job that runs already takes its room whatever the slots and the room say.
        assert_eq!(room(5, 2, true, false, false), Room::Take { mine: true });
    }

    #[test]
    fn waiting_sentences_name_the_flavor_and_the_values() {
        assert_eq!(
            waiting_for_room("cpu.all", false),
            "waiting for room on this machine for flavor `cpu.all`"
        );
        assert_eq!(
            waiting_for_room("cpu.2", true),
            "waiting for room on this machine for flavor `cpu.2` (other executions hold it)"
        );
        assert_eq!(
            needs_values("e1", "train", &["lr".into(), "data".into()]),
            "needs `lr`, `data`: `wf proceed e1 train -p lr=VALUE -p data=VALUE`"
        );
    }

    #[test]
    fn an_execution_s_reason_names_its_failed_or_waiting_steps() {
        let names = |s: Status| match s {
            Failed => vec!["a".to_string(), "b".to_string()],
            AwaitingInput => vec!["label".to_string()],
            _ => vec![],
        };
        assert_eq!(
            summary(ExecStatus::Failed, names).as_deref(),
            Some("failed: `a`, `b`")
        );
        assert_eq!(
            summary(ExecStatus::AwaitingInput, names).as_deref(),
            Some("awaiting input: `label`")
        );
        assert_eq!(
            summary(ExecStatus::Stopped, names).as_deref(),
            Some("stopped")
        );
        assert_eq!(summary(ExecStatus::Executed, names), None);
    }
}
