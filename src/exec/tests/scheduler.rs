//! Retries, timeouts, slots and room, stops, cancellation, skips, and what the records and
//! the listeners are told, in order.

use std::sync::{Arc, Mutex};

use super::fake::{self, hang, ok, Fake};
use crate::exec::engine::{Engine, Outcome};
use crate::exec::events::{Event, Listener};
use crate::exec::prepare::Request;
use crate::loader::LoadOptions;
use crate::model::status::{ExecStatus, Status};
use crate::model::workflow::Workflow;
use crate::store::StepRow;

/// Every event, as a line: `a running`, `a executed: why`, `execution failed: why`,
/// `note: text`.
#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl Listener for Heard {
    fn on_event(&self, event: &Event) {
        let line = match event {
            Event::Started { .. } => "started".to_string(),
            Event::Step {
                step,
                status,
                reason,
                ..
            } => with_reason(format!("{step} {status}"), reason),
            Event::Execution { status, reason, .. } => {
                with_reason(format!("execution {status}"), reason)
            }
            Event::Note { text, .. } => format!("note: {text}"),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Heard {
    /// Waits until `line` was heard (a guard of 10 s keeps a broken scheduler from hanging
    /// the test run; it is not a measure).
    fn wait_for(&self, line: &str) {
        for _ in 0..5000 {
            if self.0.lock().unwrap().iter().any(|l| l == line) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        panic!("`{line}` was never heard: {:?}", self.0.lock().unwrap());
    }
}

fn with_reason(line: String, reason: &Option<String>) -> String {
    match reason {
        Some(r) => format!("{line}: {r}"),
        None => line,
    }
}

struct T {
    home: tempfile::TempDir,
    fake: Arc<Fake>,
    heard: Arc<Heard>,
}

/// A job step in Rhai: `deps` are earlier steps' variables, `policy` the inside of a
/// `StepPolicy(#{ ... })` (empty for none).
fn job(name: &str, deps: &[&str], policy: &str) -> String {
    let policy = if policy.is_empty() {
        String::new()
    } else {
        format!(", policy: wf.steps.StepPolicy(#{{ {policy} }})")
    };
    format!(
        "let {name} = wf.steps.JobStep(#{{ name: \"{name}\", algorithm: wf.BaseAlgorithm(#{{ command: \"true\" }}), \
         inputs: wf.steps.JobInput(\"data\", wf.data.OBSPath(\".\")), \
         outputs: wf.steps.JobOutput(\"out\", #{{ obs_config: wf.data.OBSOutputConfig(#{{ obs_path: \"out/{name}\" }}) }}), \
         spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: \"cpu.small\" }}) }}), \
         depend_steps: [{}]{policy} }});\n",
        deps.join(", ")
    )
}

impl T {
    fn new() -> T {
        let home = tempfile::tempdir().unwrap();
        let fake = Fake::install(home.path());
        T {
            home,
            fake,
            heard: Arc::default(),
        }
    }

    /// The workflow of `body` (steps as Rhai) with `steps`, loaded and checked as `wf run`
    /// loads a script.
    fn workflow(&self, body: &str, steps: &[&str]) -> Workflow {
        let script = format!(
            "{body}wf.Workflow(#{{ name: \"sched\", desc: \"scheduler test\", steps: [{}] }})\n",
            steps.join(", ")
        );
        let path = self.home.path().join("flow.rhai");
        std::fs::write(&path, &script).unwrap();
        let checked = crate::loader::load_and_check(&path, &LoadOptions::default());
        assert_eq!(
            checked.errors(),
            0,
            "{script}\n{:?}",
            checked
                .diags
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
        );
        checked.workflow.expect("a workflow")
    }

    fn engine(&self) -> Engine {
        Engine::new(self.home.path(), fake::backends).listen(self.heard.clone())
    }

    fn request(&self, max_parallel: usize) -> Request {
        Request {
            max_parallel,
            base_dir: self.home.path().to_path_buf(),
            ..Request::default()
        }
    }

    fn run(&self, w: Workflow, max_parallel: usize) -> Outcome {
        let engine = self.engine();
        let p = engine.prepare(w, &self.request(max_parallel)).unwrap();
        engine.run(p).unwrap()
    }

    /// Runs `w`, calling `meanwhile` on another thread with the execution's id and the
    /// engine's cancellation token once it is under way.
    fn run_while(
        &self,
        w: Workflow,
        max_parallel: usize,
        meanwhile: impl FnOnce(&str, crate::exec::cancel::Cancel) + Send + 'static,
    ) -> Outcome {
        let engine = self.engine();
        let p = engine.prepare(w, &self.request(max_parallel)).unwrap();
        let id = p.exec_id().to_string();
        let cancel = engine.cancel().clone();
        let side = std::thread::spawn(move || meanwhile(&id, cancel));
        let outcome = engine.run(p).unwrap();
        side.join().unwrap();
        outcome
    }

    fn heard(&self) -> Vec<String> {
        self.heard.0.lock().unwrap().clone()
    }

    /// What the listeners heard of `step`, in order, without its name.
    fn heard_of(&self, step: &str) -> Vec<String> {
        let prefix = format!("{step} ");
        self.heard()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        self.heard()
            .iter()
            .filter_map(|l| l.strip_prefix("note: ").map(str::to_string))
            .collect()
    }

    fn store(&self) -> crate::store::Store {
        crate::store::Store::open(self.home.path()).unwrap()
    }
}

fn row(o: &Outcome, step: &str) -> StepRow {
    o.store
        .steps(&o.exec_id)
        .unwrap()
        .into_iter()
        .find(|r| r.name == step)
        .unwrap_or_else(|| panic!("no step {step}"))
}

fn reason(o: &Outcome) -> Option<String> {
    o.store.execution(&o.exec_id).unwrap().reason
}

// ---------------------------------------------------------------------------------------------
// Order, records and events

#[test]
fn statuses_are_recorded_and_heard_in_order_with_skips_and_their_sentences() {
    let t = T::new();
    let always = "skip_conditions: wf.steps.Condition(#{ condition_type: wf.steps.ConditionTypeEnum.EQ, left: 1, right: 1 })";
    let body = [
        job("a", &[], ""),
        job("b", &["a"], always),
        job("c", &["b"], ""),
        job("d", &["a", "c"], ""),
    ]
    .concat();
    let o = t.run(t.workflow(&body, &["a", "b", "c", "d"]), 4);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(
        t.heard(),
        [
            "started",
            "execution running",
            "a running",
            "a executed",
            "b skipped: its skip condition held",
            "c skipped: its only dependency `b` was skipped",
            "d running",
            "d executed",
            "execution executed",
        ]
    );
    // Every status change the listeners heard was committed first, in the same order.
    let recorded: Vec<String> = o
        .store
        .events(&o.exec_id)
        .unwrap()
        .into_iter()
        .map(|e| {
            with_reason(
                format!(
                    "{} {}",
                    e.step.unwrap_or_else(|| "execution".into()),
                    e.status
                ),
                &e.reason,
            )
        })
        .collect();
    let heard: Vec<String> = t.heard().into_iter().filter(|l| l != "started").collect();
    // The record of its creation comes first; nothing was running then to be heard.
    assert_eq!(recorded[0], "execution running: created");
    assert_eq!(recorded[1..], heard);
    // Skipped steps were never planned, let alone run.
    assert_eq!(
        t.fake.log(),
        [
            "a planned",
            "a#1 start",
            "a#1 executed",
            "d planned",
            "d#1 start",
            "d#1 executed"
        ]
    );
}

#[test]
fn the_branch_a_condition_did_not_take_is_skipped_and_the_other_runs() {
    let t = T::new();
    let body = r#"
let gate = wf.steps.ConditionStep(#{
    name: "gate",
    conditions: wf.steps.Condition(#{ condition_type: wf.steps.ConditionTypeEnum.GT, left: 2, right: 1 }),
    if_then_steps: ["yes"],
    else_then_steps: ["no"],
});
"#;
    let body = format!(
        "{body}{}{}",
        job("yes", &["gate"], ""),
        job("no", &["gate"], "")
    );
    let o = t.run(t.workflow(&body, &["gate", "yes", "no"]), 2);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(row(&o, "gate").result(), Some(true));
    assert_eq!(row(&o, "yes").status, Status::Executed);
    assert_eq!(
        t.heard_of("no"),
        ["skipped: condition `gate` was true, and this step is in its `else_then_steps`"]
    );
    assert!(t.fake.of_step("no").is_empty());
}

#[test]
fn a_failed_step_keeps_its_dependents_from_running_and_fails_the_execution() {
    let t = T::new();
    t.fake.script("a", ok(0).fails(1));
    let body = [job("a", &[], ""), job("b", &["a"], ""), job("c", &[], "")].concat();
    let o = t.run(t.workflow(&body, &["a", "b", "c"]), 2);
    assert_eq!(o.status, ExecStatus::Failed);
    assert_eq!(reason(&o).as_deref(), Some("failed: `a`"));
    let a = row(&o, "a");
    assert_eq!(
        (a.status, a.attempt, a.error.as_deref()),
        (Status::Failed, 1, Some("a#1 failed"))
    );
    // The independent step still ran; the dependent one never did, and says why.
    assert_eq!(row(&o, "c").status, Status::Executed);
    let b = row(&o, "b");
    assert_eq!(b.status, Status::Waiting);
    assert_eq!(
        b.reason.as_deref(),
        Some("not run: its dependency `a` failed")
    );
    assert!(t.fake.of_step("b").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Retries

#[test]
fn a_failing_step_is_tried_again_until_an_attempt_succeeds() {
    let t = T::new();
    t.fake.script("a", ok(0).fails(2));
    let o = t.run(t.workflow(&job("a", &[], "retries: 3"), &["a"]), 1);
    assert_eq!(o.status, ExecStatus::Executed);
    let a = row(&o, "a");
    assert_eq!((a.status, a.attempt), (Status::Executed, 3));
    assert_eq!(
        t.fake.of_step("a"),
        [
            "planned",
            "#1 start",
            "#1 failed",
            "#2 start",
            "#2 failed",
            "#3 start",
            "#3 executed"
        ]
    );
    assert_eq!(
        t.notes(),
        [
            "a: attempt 1 failed; trying again",
            "a: attempt 2 failed; trying again"
        ]
    );
    // Each attempt is recorded with its own error.
    let attempts = o.store.attempts(&o.exec_id, "a").unwrap();
    let errors: Vec<Option<&str>> = attempts.iter().map(|r| r.error.as_deref()).collect();
    assert_eq!(errors, [Some("a#1 failed"), Some("a#2 failed"), None]);
    assert_eq!(attempts[2].status, Status::Executed);
}

#[test]
fn when_retries_are_used_up_the_step_fails_with_its_last_error() {
    let t = T::new();
    t.fake.script("a", ok(0).fails(9));
    let o = t.run(t.workflow(&job("a", &[], "retries: 2"), &["a"]), 1);
    assert_eq!(o.status, ExecStatus::Failed);
    let a = row(&o, "a");
    assert_eq!(
        (a.status, a.attempt, a.error.as_deref(), a.reason.as_deref()),
        (Status::Failed, 3, Some("a#3 failed"), Some("a#3 failed"))
    );
    assert_eq!(t.notes().len(), 2, "{:?}", t.notes());
}

#[test]
fn a_failure_retrying_cannot_help_is_not_retried_and_says_so() {
    let t = T::new();
    t.fake.script("a", ok(0).fails(9).permanently());
    let o = t.run(t.workflow(&job("a", &[], "retries: 3"), &["a"]), 1);
    assert_eq!(o.status, ExecStatus::Failed);
    let a = row(&o, "a");
    let why = "a cannot work: its input is wrong";
    assert_eq!(
        (a.status, a.attempt, a.error.as_deref(), a.reason.as_deref()),
        (Status::Failed, 1, Some(why), Some(why))
    );
    assert_eq!(
        t.fake.of_step("a"),
        ["planned", "#1 start", "#1 failed for good"]
    );
    let not_again = "attempt 1 failed; not trying again: retrying cannot help";
    assert_eq!(t.notes(), [format!("a: {not_again}")]);
    // The records keep the sentence too, before the failure.
    let events: Vec<(String, Option<String>)> = o
        .store
        .events(&o.exec_id)
        .unwrap()
        .into_iter()
        .filter(|e| e.step.as_deref() == Some("a"))
        .map(|e| (e.status, e.reason))
        .collect();
    assert_eq!(
        events,
        [
            ("running".to_string(), None),
            ("running".to_string(), Some(not_again.to_string())),
            ("failed".to_string(), Some(why.to_string())),
        ]
    );
}

#[test]
fn without_retries_a_permanent_failure_is_recorded_as_any_failure() {
    let for_good = T::new();
    for_good.fake.script("a", ok(5).fails(1).permanently());
    let plain = T::new();
    plain.fake.script("a", ok(5).fails(1));
    let shown = |t: &T| {
        let o = t.run(t.workflow(&job("a", &[], ""), &["a"]), 1);
        let a = row(&o, "a");
        let events: Vec<String> = o
            .store
            .events(&o.exec_id)
            .unwrap()
            .into_iter()
            .map(|e| e.status)
            .collect();
        (o.status, a.status, a.attempt, reason(&o), events, t.notes())
    };
    let (g, p) = (shown(&for_good), shown(&plain));
    assert_eq!(g, p);
    assert_eq!(g.0, ExecStatus::Failed);
    assert!(g.5.is_empty(), "{:?}", g.5);
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[test]
fn an_attempt_past_its_time_is_stopped_and_the_step_fails_as_timed_out() {
    let t = T::new();
    t.fake.script("slow", hang());
    // 0.001 minutes: 60 ms.
    let body = job("slow", &[], "max_execution_minutes: 0.001");
    let o = t.run(t.workflow(&body, &["slow"]), 1);
    assert_eq!(o.status, ExecStatus::Failed);
    let s = row(&o, "slow");
    assert_eq!(s.status, Status::Failed);
    assert_eq!(
        s.error.as_deref(),
        Some("timed out: killed after 0.1 seconds (max_execution_minutes)")
    );
    // The attempt's token was cancelled: the work saw it and ended.
    assert_eq!(
        t.fake.of_step("slow"),
        ["planned", "#1 start", "#1 stopped"]
    );
}

#[test]
fn a_timed_out_attempt_is_retried_like_any_failure() {
    let t = T::new();
    t.fake.script("slow", hang());
    let body = job("slow", &[], "max_execution_minutes: 0.0005, retries: 1");
    let o = t.run(t.workflow(&body, &["slow"]), 1);
    let s = row(&o, "slow");
    assert_eq!((s.status, s.attempt), (Status::Failed, 2));
    assert_eq!(
        t.fake.of_step("slow"),
        [
            "planned",
            "#1 start",
            "#1 stopped",
            "#2 start",
            "#2 stopped"
        ]
    );
    assert_eq!(t.notes(), ["slow: attempt 1 failed; trying again"]);
}

// ---------------------------------------------------------------------------------------------
// Slots and room

#[test]
fn no_more_steps_with_a_flavor_run_at_once_than_max_parallel() {
    let t = T::new();
    let names = ["a", "b", "c", "d", "e"];
    for n in names {
        t.fake.script(n, ok(0).flavor("cpu.small").with_company(2));
    }
    let body: String = names.iter().map(|n| job(n, &[], "")).collect();
    let o = t.run(t.workflow(&body, &names), 2);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(t.fake.most_at_once(), 2);
}

#[test]
fn steps_without_a_flavor_take_no_slot() {
    let t = T::new();
    t.fake.script("a", ok(0).with_company(3));
    t.fake.script("b", ok(0).with_company(3));
    t.fake.script("c", ok(0).with_company(3));
    let body = [job("a", &[], ""), job("b", &[], ""), job("c", &[], "")].concat();
    let o = t.run(t.workflow(&body, &["a", "b", "c"]), 1);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(t.fake.most_at_once(), 3);
}

#[test]
fn a_flavor_waits_for_room_the_running_ones_hold() {
    let t = T::new();
    // Each takes three quarters of the machine's memory: one at a time, slots or not.
    t.fake.script("a", ok(20).flavor("cpu.all"));
    t.fake.script("b", ok(20).flavor("cpu.all"));
    let body = [job("a", &[], ""), job("b", &[], "")].concat();
    let o = t.run(t.workflow(&body, &["a", "b"]), 4);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(t.fake.most_at_once(), 1);
    let log = t.fake.log();
    let first_end = log.iter().position(|l| l.ends_with("executed")).unwrap();
    let second_start = log.iter().rposition(|l| l.ends_with("start")).unwrap();
    assert!(first_end < second_start, "{log:?}");
}

#[test]
fn a_flavor_bigger_than_the_machine_fails_its_step_without_running_it() {
    let t = T::new();
    t.fake.script("big", ok(0).flavor("huge"));
    let o = t.run(t.workflow(&job("big", &[], ""), &["big"]), 2);
    assert_eq!(o.status, ExecStatus::Failed);
    let big = row(&o, "big");
    assert_eq!(
        (big.status, big.attempt, big.error.as_deref()),
        (
            Status::Failed,
            1,
            Some("flavor `huge` needs more than this machine has")
        )
    );
    assert_eq!(t.fake.of_step("big"), ["planned"]);
}

// ---------------------------------------------------------------------------------------------
// Plans and backends

#[test]
fn a_refused_plan_fails_the_step_before_anything_runs() {
    let t = T::new();
    t.fake
        .script("a", ok(0).refused("`lr` is `fast`, not a number"));
    let o = t.run(t.workflow(&job("a", &[], "retries: 2"), &["a"]), 1);
    let a = row(&o, "a");
    assert_eq!(
        (a.status, a.attempt, a.error.as_deref()),
        (Status::Failed, 1, Some("`lr` is `fast`, not a number"))
    );
    assert_eq!(t.fake.of_step("a"), ["planned"]);
}

#[test]
fn a_kind_without_a_backend_fails_its_step_naming_the_kind() {
    let t = T::new();
    let w = t.workflow(&job("a", &[], ""), &["a"]);
    let engine = Engine::new(t.home.path(), fake::no_backends);
    let p = engine.prepare(w, &t.request(1)).unwrap();
    let o = engine.run(p).unwrap();
    assert_eq!(o.status, ExecStatus::Failed);
    let a = row(&o, "a");
    assert_eq!(
        (a.status, a.error.as_deref()),
        (
            Status::Failed,
            Some("no backend runs job steps on this machine")
        )
    );
}

#[test]
fn a_policy_out_of_range_fails_the_step_naming_the_key() {
    let t = T::new();
    let body = job("a", &[], "retries: 2, max_execution_minutes: 1e300");
    let o = t.run(t.workflow(&body, &["a"]), 1);
    let a = row(&o, "a");
    assert_eq!((a.status, a.attempt), (Status::Failed, 1));
    let error = a.error.unwrap_or_default();
    assert!(
        error.starts_with("`max_execution_minutes` is ")
            && error.ends_with(", not a length of time"),
        "{error}"
    );
    assert!(t.fake.log().is_empty(), "{:?}", t.fake.log());
}

// ---------------------------------------------------------------------------------------------
// Stops and cancellation

#[test]
fn a_stop_of_one_step_stops_it_and_what_waits_for_it_while_the_rest_goes_on() {
    let t = T::new();
    t.fake.script("h", hang());
    t.fake.script("other", ok(30));
    let body = [
        job("h", &[], ""),
        job("after", &["h"], ""),
        job("other", &[], ""),
    ]
    .concat();
    let w = t.workflow(&body, &["h", "after", "other"]);
    let fake = t.fake.clone();
    let store = t.store();
    let o = t.run_while(w, 4, move |id, _| {
        fake.wait_for("h#1 start");
        // As `wf stop EXEC STEP` asks from another process: the waiting one first.
        store.request_stop(id, Some("after")).unwrap();
        store.request_stop(id, Some("h")).unwrap();
    });
    assert_eq!(o.status, ExecStatus::Stopped);
    assert_eq!(reason(&o).as_deref(), Some("stopped"));
    assert_eq!(row(&o, "h").status, Status::Stopped);
    assert_eq!(t.heard_of("h").last().unwrap(), "stopped: stopped");
    assert_eq!(
        t.heard_of("after"),
        ["stopped: stopped by `wf stop` before it ran"]
    );
    assert_eq!(row(&o, "other").status, Status::Executed);
    assert_eq!(t.fake.of_step("h"), ["planned", "#1 start", "#1 stopped"]);
    assert!(t.fake.of_step("after").is_empty());
}

#[test]
fn a_stop_of_the_execution_stops_what_runs_and_starts_nothing_more() {
    let t = T::new();
    t.fake.script("h", hang());
    let body = [job("h", &[], ""), job("after", &["h"], "")].concat();
    let w = t.workflow(&body, &["h", "after"]);
    let fake = t.fake.clone();
    let store = t.store();
    let o = t.run_while(w, 2, move |id, _| {
        fake.wait_for("h#1 start");
        store.request_stop(id, None).unwrap();
    });
    assert_eq!(o.status, ExecStatus::Stopped);
    assert_eq!(row(&o, "h").status, Status::Stopped);
    assert_eq!(row(&o, "after").status, Status::Waiting);
    assert!(t.fake.of_step("after").is_empty());
    assert_eq!(t.notes(), ["stopped by `wf stop`"]);
    assert_eq!(t.heard().last().unwrap(), "execution stopped: stopped");
}

#[test]
fn cancelling_the_engine_stops_running_steps_and_those_waiting_for_a_slot_never_start() {
    let t = T::new();
    // One slot for two steps that run until stopped: one runs, the other waits for it.
    t.fake.script("h1", hang().flavor("cpu.small"));
    t.fake.script("h2", hang().flavor("cpu.small"));
    let body = [job("h1", &[], ""), job("h2", &[], "")].concat();
    let w = t.workflow(&body, &["h1", "h2"]);
    let fake = t.fake.clone();
    let o = t.run_while(w, 1, move |_, cancel| {
        fake.wait_until(|e| e.ends_with("#1 start"));
        cancel.cancel("stopped by Ctrl-C");
    });
    assert_eq!(o.status, ExecStatus::Stopped);
    let started = |step: &str| t.fake.of_step(step).iter().any(|e| e.ends_with("start"));
    let (ran, queued) = if started("h1") {
        ("h1", "h2")
    } else {
        ("h2", "h1")
    };
    assert_eq!(row(&o, ran).status, Status::Stopped);
    assert_eq!(t.fake.of_step(ran), ["planned", "#1 start", "#1 stopped"]);
    assert_eq!(row(&o, queued).status, Status::Waiting);
    assert!(!started(queued), "{:?}", t.fake.log());
    assert_eq!(t.notes(), ["stopped by Ctrl-C"]);
    assert_eq!(reason(&o).as_deref(), Some("stopped"));
}

#[test]
fn cancelling_during_a_retry_delay_stops_the_step_without_another_attempt() {
    let t = T::new();
    t.fake.script("a", ok(0).fails(9));
    let body = job("a", &[], "retries: 3, retry_delay_seconds: 60");
    let w = t.workflow(&body, &["a"]);
    let heard = t.heard.clone();
    let o = t.run_while(w, 1, move |_, cancel| {
        // Heard once the scheduler handled the failure: the step waits out its delay now.
        heard.wait_for("note: a: attempt 1 failed; trying again");
        cancel.cancel("stopped by Ctrl-C");
    });
    assert_eq!(o.status, ExecStatus::Stopped);
    let a = row(&o, "a");
    assert_eq!((a.status, a.attempt), (Status::Stopped, 1));
    assert_eq!(t.fake.of_step("a"), ["planned", "#1 start", "#1 failed"]);
}

// ---------------------------------------------------------------------------------------------
// What a running attempt tells

#[test]
fn what_an_attempt_says_is_heard_and_the_detail_it_keeps_is_recorded() {
    let t = T::new();
    t.fake.script("a", ok(10).saying("waiting for the GPU"));
    let o = t.run(t.workflow(&job("a", &[], ""), &["a"]), 1);
    assert_eq!(o.status, ExecStatus::Executed);
    assert_eq!(t.notes(), ["a: waiting for the GPU"]);
    // Kept while it ran, and still there once it executed (its end brought no detail).
    assert_eq!(
        serde_json::Value::Object(row(&o, "a").detail),
        serde_json::json!({ "attempt": 1 })
    );
}

// ---------------------------------------------------------------------------------------------
// Carrying an execution on

#[test]
fn retry_runs_the_failed_step_again_with_its_next_attempt_and_not_what_executed() {
    let t = T::new();
    t.fake.script("b", ok(0).fails(1));
    let body = [
        job("a", &[], ""),
        job("b", &["a"], ""),
        job("c", &["b"], ""),
    ]
    .concat();
    let o = t.run(t.workflow(&body, &["a", "b", "c"]), 2);
    assert_eq!(o.status, ExecStatus::Failed);
    let again = t.engine().retry(&o.exec_id, None).unwrap();
    assert_eq!(again.status, ExecStatus::Executed);
    let b = row(&again, "b");
    assert_eq!((b.status, b.attempt), (Status::Executed, 2));
    assert_eq!(row(&again, "c").status, Status::Executed);
    assert_eq!(t.fake.of_step("a"), ["planned", "#1 start", "#1 executed"]);
    assert_eq!(
        t.fake.of_step("b"),
        [
            "planned",
            "#1 start",
            "#1 failed",
            "planned",
            "#2 start",
            "#2 executed"
        ]
    );
}

#[test]
fn resume_cleans_up_what_a_dead_runner_left_and_runs_that_step_again() {
    let t = T::new();
    let body = [job("a", &[], ""), job("b", &["a"], "")].concat();
    let w = t.workflow(&body, &["a", "b"]);
    let engine = t.engine();
    let p = engine.prepare(w, &t.request(2)).unwrap();
    let id = p.exec_id().to_string();
    t.fake.adopt(&id);
    // As a runner killed while `a` ran leaves it: executed nothing, `a` running with its
    // detail, no runner alive.
    drop(p);
    let store = t.store();
    store
        .set_step(
            &id,
            "a",
            Status::Running,
            None,
            &crate::store::StepPatch {
                attempt: Some(1),
                started: true,
                detail: Some(Some(serde_json::json!({ "pid": 42 }))),
                ..crate::store::StepPatch::default()
            },
        )
        .unwrap();
    let o = engine.resume(&id).unwrap();
    assert_eq!(o.status, ExecStatus::Executed);
    let a = row(&o, "a");
    assert_eq!((a.status, a.attempt), (Status::Executed, 2));
    assert_eq!(
        t.fake.log(),
        [
            "a cleaned up {\"pid\":42}",
            "swept",
            "a planned",
            "a#2 start",
            "a#2 executed",
            "b planned",
            "b#1 start",
            "b#1 executed"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Debugging phase by phase

#[test]
fn next_runs_one_phase_at_a_time_and_an_interrupt_stops_that_phase_alone() {
    let t = T::new();
    t.fake.script("h", hang());
    let body = [
        job("a", &[], ""),
        job("h", &["a"], ""),
        job("z", &["a"], ""),
    ]
    .concat();
    let w = t.workflow(&body, &["a", "h", "z"]);
    let engine = t.engine();
    let p = engine.prepare(w, &t.request(2)).unwrap();
    let mut run = engine.debug(p).unwrap();
    let none = crate::exec::cancel::Cancel::new();
    let first = run.next(&none).unwrap();
    let (name, status, _) = first.ran.unwrap();
    assert_eq!((name.as_str(), status), ("a", Status::Executed));
    let mut next = first.next.clone();
    next.sort();
    assert_eq!(next, ["h", "z"]);
    assert_eq!(first.finished, None);
    // Only `a` ran.
    assert_eq!(t.fake.log(), ["a planned", "a#1 start", "a#1 executed"]);

    // The phase that hangs is interrupted; the execution goes on.
    let interrupt = crate::exec::cancel::Cancel::new();
    let fake = t.fake.clone();
    let stopper = interrupt.clone();
    let side = std::thread::spawn(move || {
        fake.wait_for("h#1 start");
        stopper.cancel("interrupted");
    });
    let mut phases = Vec::new();
    while run.finished().is_none() {
        // Once cancelled it stays so: `z` ends on its first poll, before it is looked at.
        let r = run.next(&interrupt).unwrap();
        if let Some((name, status, _)) = r.ran {
            phases.push(format!("{name} {status}"));
        }
        assert!(phases.len() <= 2, "{phases:?}");
    }
    side.join().unwrap();
    phases.sort();
    assert_eq!(phases, ["h stopped", "z executed"]);
    assert_eq!(run.finished(), Some(ExecStatus::Stopped));
}
