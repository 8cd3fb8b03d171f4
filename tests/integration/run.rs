//! The executor from the outside: each test writes a small workflow into a fresh temporary
//! folder, runs the real `wf` binary with its own home, and checks what a user would notice —
//! the exit status, the `--json` execution record, the files the jobs wrote, and the other
//! commands' views of the records (README, "A script"; ARCHITECTURE.md, "Step states").
//!
//! Jobs are tiny `sh -c` commands. They leave traces in the temporary folder: a "counter" file
//! gets one line per run of a job, so a test can prove what ran and how often.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::test::{
    alive, dir_output, flow, input, job, metrics_output, step, step_names, tick, wait_until, Ran,
    Test, MANIFEST_DIR,
};

/// The id of the newest execution in the test's home.
fn latest_id(t: &Test) -> String {
    let r = t.wf(&["executions", "--json"]);
    let list = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("executions --json: {r:?}"));
    assert!(!list.is_empty(), "no execution recorded: {r:?}");
    list[0]["execution_id"].as_str().unwrap().to_string()
}

/// The pid a job wrote into the file `rel`.
fn read_pid(t: &Test, rel: &str) -> u32 {
    t.read(rel)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {rel}"))
}

/// Ends a process this test started, if it outlived the test's assertions.
fn cleanup(pid: u32) {
    if alive(pid) {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Condition steps

#[test]
fn condition_step_runs_the_taken_branch_and_skips_the_other() {
    let t = Test::new();
    let body = r#"
let flag = wf.Placeholder(#{ name: "flag", placeholder_type: wf.PlaceholderType.BOOL, default: true });
let gate = wf.steps.ConditionStep(#{
    name: "gate",
    conditions: wf.steps.Condition(#{ condition_type: wf.steps.ConditionTypeEnum.EQ, left: flag, right: true }),
    if_then_steps: ["yes"],
    else_then_steps: ["no"],
});
"#;
    let yes = job(
        "yes",
        &format!("echo $WF_EXECUTION_ID >> '{}'", t.at("yes.log")),
    )
    .after(&["gate"]);
    let no = job(
        "no",
        &format!("echo $WF_EXECUTION_ID >> '{}'", t.at("no.log")),
    )
    .after(&["gate"]);
    let script = t
        .write(
            "flow.rhai",
            &flow("branches", body, &[yes, no], &["gate", "yes", "no"]),
        )
        .at("flow.rhai");

    // The default: true.
    let r = t.run_flow(&script, &[]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    assert_eq!(r.json["parameters"]["flag"], true);
    assert_eq!(r.step("gate")["result"], true, "{:#}", r.json);
    assert_eq!(r.step_status("yes"), "executed");
    assert_eq!(r.step_status("no"), "skipped");
    let first = r.id();
    assert_eq!(t.read("yes.log").trim(), first);
    assert_eq!(t.read("no.log"), "");

    // -p flag=false: the else branch.
    let r = t.run_flow(&script, &["-p", "flag=false"]);
    r.status(0);
    assert_eq!(r.json["parameters"]["flag"], false);
    assert_eq!(r.step("gate")["result"], false, "{:#}", r.json);
    assert_eq!(r.step_status("yes"), "skipped");
    assert_eq!(r.step_status("no"), "executed");
    assert_eq!(t.read("yes.log").trim(), first, "the if branch ran again");
    assert_eq!(t.read("no.log").trim(), r.id());
}

// ---------------------------------------------------------------------------------------------
// 2. The manual's branch-control table (§4.5)

#[test]
fn skip_policies_skip_the_downstream_step_only_when_both_branches_are_skipped() {
    let t = Test::new();
    let script = format!("{MANIFEST_DIR}/tests/run/branch_control.rhai");
    let storage = format!("storage_name={}", t.at("root"));
    for (a, b) in [(true, true), (true, false), (false, true), (false, false)] {
        let pa = format!("job_step_a_is_skip={a}");
        let pb = format!("job_step_b_is_skip={b}");
        let r = t.wf(&[
            "run",
            &script,
            "--storage",
            &storage,
            "-p",
            &pa,
            "-p",
            &pb,
            "--json",
        ]);
        let row = format!(
            "row a_is_skip={a} b_is_skip={b}: {:#}\n{}",
            r.json, r.stderr
        );
        let expect = |skip: bool| if skip { "skipped" } else { "executed" };
        assert_eq!(r.step_status("training_job_a"), expect(a), "{row}");
        assert_eq!(r.step_status("training_job_b"), expect(b), "{row}");
        let model = r.step("model_registration");
        match (a, b) {
            (true, true) => {
                // The default rule: every dependency skipped.
                assert_eq!(model["status"], "skipped", "{row}");
                assert_eq!(r.code, 0, "{row}");
                assert_eq!(r.exec_status(), "executed", "{row}");
            }
            (true, false) | (false, true) => {
                assert_eq!(model["status"], "executed", "{row}");
                assert_eq!(r.code, 0, "{row}");
            }
            (false, false) => {
                // It is not skipped: it runs, and (§4.4) a selector with two executed steps to
                // choose from is a clear failure of the consuming step.
                assert_eq!(model["status"], "failed", "{row}");
                let error = model["error"].as_str().unwrap_or("");
                assert!(
                    error.contains("training_job_a") && error.contains("training_job_b"),
                    "{row}"
                );
                assert_eq!(r.code, 1, "{row}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. DataConsumptionSelector

#[test]
fn data_consumption_selector_hands_over_the_executed_branch_output() {
    let t = Test::new();
    let body = r#"
let flag = wf.Placeholder(#{ name: "flag", placeholder_type: wf.PlaceholderType.BOOL, default: true });
let gate = wf.steps.ConditionStep(#{
    name: "gate",
    conditions: [wf.steps.Condition(#{ condition_type: wf.steps.ConditionTypeEnum.EQ, left: flag, right: true })],
    if_then_steps: ["train_1"],
    else_then_steps: ["train_2"],
});
"#;
    let write_model = "echo model > \"$WF_OUTPUT_TRAIN_URL/model.txt\"";
    let t1 = job("train_1", write_model)
        .outputs(&[&dir_output("train_url", "dir1")])
        .after(&["gate"]);
    let t2 = job("train_2", write_model)
        .outputs(&[&dir_output("train_url", "dir2")])
        .after(&["gate"]);
    let consume = job(
        "consume",
        &format!(
            "printf '%s' \"$WF_INPUT_MODEL_INPUT\" > '{}' && cat \"$WF_INPUT_MODEL_INPUT/model.txt\"",
            t.at("received.txt")
        ),
    )
    .inputs(&[&input(
        "model_input",
        r#"wf.data.DataConsumptionSelector(#{ data_list: [train_1.outputs["train_url"].as_input(), train_2.outputs["train_url"].as_input()] })"#,
    )])
    .after(&["train_1", "train_2"]);
    let script = t
        .write(
            "flow.rhai",
            &flow(
                "select",
                body,
                &[t1, t2, consume],
                &["gate", "train_1", "train_2", "consume"],
            ),
        )
        .at("flow.rhai");

    for (flag, ran, skipped) in [
        ("true", "train_1", "train_2"),
        ("false", "train_2", "train_1"),
    ] {
        let r = t.run_flow(&script, &["-p", &format!("flag={flag}")]);
        r.status(0);
        assert_eq!(r.step_status(ran), "executed");
        assert_eq!(r.step_status(skipped), "skipped");
        assert_eq!(r.step_status("consume"), "executed");
        let expected = r.output_path(ran, "train_url");
        assert!(
            expected.contains(&r.id()),
            "output path without the execution id: {expected}"
        );
        let received = t.read("received.txt");
        assert_eq!(
            received.trim_end_matches('/'),
            expected.trim_end_matches('/'),
            "flag={flag}: consume got another path than {ran}'s output"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Metric conditions

#[test]
fn metric_condition_takes_the_branch_on_each_side_of_its_threshold() {
    let t = Test::new();
    let body = r#"
let acc = wf.Placeholder(#{ name: "acc", placeholder_type: wf.PlaceholderType.FLOAT, default: 0.9 });
"#;
    // The manual's key-value metrics format.
    let write_metrics = r#"python3 -c 'import json, os; json.dump([{"key": "loss", "title": "loss", "type": "float", "data": {"value": 0.25}}, {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": float(os.environ["WF_PARAM_ACC"])}}], open(os.environ["WF_OUTPUT_METRICS"], "w"))'"#;
    let train = job("train", write_metrics).param("acc", "acc").outputs(&[
        &dir_output("train_url", "model"),
        &metrics_output("model/metrics.json"),
    ]);
    let gate = r#"
let gate = wf.steps.ConditionStep(#{
    name: "gate",
    conditions: wf.steps.Condition(#{
        condition_type: wf.steps.ConditionTypeEnum.GTE,
        left: wf.steps.MetricInfo(train.outputs["metrics"].as_input(), "accuracy"),
        right: 0.5,
    }),
    if_then_steps: ["publish"],
    else_then_steps: ["retrain"],
    depend_steps: train,
});
"#;
    let publish = job("publish", "true").after(&["gate"]);
    let retrain = job("retrain", "true").after(&["gate"]);
    let mut script = flow("metric-gate", body, &[train], &[]);
    // The condition step uses `train`, the branches use the condition: put it in between.
    script = script.replace(
        "wf.Workflow(#{",
        &format!("{gate}{}{}wf.Workflow(#{{", publish.rhai(), retrain.rhai()),
    );
    script = script.replace("steps: []", "steps: [train, gate, publish, retrain]");
    let script = t.write("flow.rhai", &script).at("flow.rhai");

    for (acc, passes) in [(0.8, true), (0.5, true), (0.3, false)] {
        let r = t.run_flow(&script, &["-p", &format!("acc={acc}")]);
        let ctx = format!("acc={acc}: {:#}\n{}", r.json, r.stderr);
        assert_eq!(r.code, 0, "{ctx}");
        assert_eq!(r.step_status("train"), "executed", "{ctx}");
        let metrics = &r.step("train")["metrics"];
        assert_eq!(metrics["accuracy"].as_f64(), Some(acc), "{ctx}");
        assert_eq!(metrics["loss"].as_f64(), Some(0.25), "{ctx}");
        assert_eq!(r.step("gate")["result"], passes, "{ctx}");
        let (ran, skipped) = if passes {
            ("publish", "retrain")
        } else {
            ("retrain", "publish")
        };
        assert_eq!(r.step_status(ran), "executed", "{ctx}");
        assert_eq!(r.step_status(skipped), "skipped", "{ctx}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Storage

#[test]
fn storages_resolve_with_and_without_the_execution_id_and_a_missing_root_is_a_usage_error() {
    let t = Test::new();
    fs::create_dir_all(t.path("in_root/data")).unwrap();
    fs::write(t.path("in_root/data/x.csv"), "1,2\n").unwrap();
    let body = r#"
let indata = wf.data.InputStorage(#{ name: "indata" });
let flat = wf.data.Storage(#{ name: "flat", with_execution_id: false, create_dir: true });
"#;
    let j = job(
        "store",
        &format!(
            "cat \"$WF_INPUT_SRC/x.csv\" && printf '%s' \"$WF_INPUT_SRC\" > '{}' && \
             touch \"$WF_OUTPUT_PER_RUN/a\" \"$WF_OUTPUT_SHARED/b\"",
            t.at("src.txt")
        ),
    )
    .inputs(&[&input("src", "wf.data.OBSPath(indata.join(\"data\"))")])
    .outputs(&[
        &dir_output("per_run", "models"),
        "wf.steps.JobOutput(\"shared\", #{ obs_config: wf.data.OBSOutputConfig(flat.join(\"cache\")) })",
    ]);
    let script = flow("storages", body, &[j], &["store"])
        .replace("storages: [storage]", "storages: [storage, indata, flat]");
    let script = t.write("flow.rhai", &script).at("flow.rhai");

    let in_arg = format!("indata={}", t.at("in_root"));
    let flat_arg = format!("flat={}", t.at("flat_root"));
    let r = t.run_flow(&script, &["--storage", &in_arg, "--storage", &flat_arg]);
    r.status(0);
    let id = r.id();
    let trim = |s: &str| s.trim_end_matches('/').to_string();
    assert_eq!(
        trim(&r.output_path("store", "per_run")),
        format!("{}/{id}/models", t.at("root"))
    );
    assert_eq!(
        trim(&r.output_path("store", "shared")),
        format!("{}/cache", t.at("flat_root"))
    );
    assert_eq!(
        trim(&t.read("src.txt")),
        format!("{}/data", t.at("in_root"))
    );
    assert!(t.path(&format!("root/{id}/models/a")).is_file());
    assert!(t.path("flat_root/cache/b").is_file());

    // No root for `flat`, and no terminal to ask: a usage error naming it, nothing run.
    let r = t.run_flow(&script, &["--storage", &in_arg]);
    r.status(2);
    r.stderr_contains("flat");
    let list = t.wf(&["executions", "--json"]);
    assert_eq!(list.json.as_array().map(|a| a.len()), Some(1), "{list:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Placeholder values

#[test]
fn missing_required_placeholders_are_all_listed_and_a_mistyped_value_is_refused() {
    let t = Test::new();
    let body = r#"
let epochs = wf.Placeholder(#{ name: "epochs", placeholder_type: wf.PlaceholderType.INT, description: "passes over the data" });
let lr = wf.Placeholder(#{ name: "lr", placeholder_type: wf.PlaceholderType.FLOAT, description: "learning rate" });
let tag = wf.Placeholder(#{ name: "tag", placeholder_type: wf.PlaceholderType.STR, default: "v1" });
"#;
    let j = job("train", &tick(&t.at("ran")))
        .param("epochs", "epochs")
        .param("lr", "lr")
        .param("tag", "tag");
    let script = t
        .write("flow.rhai", &flow("params", body, &[j], &["train"]))
        .at("flow.rhai");

    let r = t.run_flow(&script, &[]);
    r.status(2);
    let err = r.stderr.to_lowercase();
    for needle in [
        "epochs",
        "passes over the data",
        "int",
        "lr",
        "learning rate",
        "float",
    ] {
        assert!(
            err.contains(needle),
            "stderr does not mention `{needle}`:\n{}",
            r.stderr
        );
    }
    assert!(
        !err.contains("tag"),
        "a placeholder with a default is listed as missing:\n{}",
        r.stderr
    );
    assert_eq!(t.count("ran"), 0, "the job ran");
    let list = t.wf(&["executions", "--json"]);
    let executed = list.json.as_array().map_or(0, |a| {
        a.iter()
            .filter(|e| {
                step_names(e)
                    .iter()
                    .any(|s| step(e, s)["status"] == "executed")
            })
            .count()
    });
    assert_eq!(executed, 0, "something was recorded as executed: {list:?}");

    let r = t.run_flow(&script, &["-p", "epochs=ten", "-p", "lr=0.1"]);
    r.status(2);
    r.stderr_contains("epochs");
    assert!(
        r.stderr.to_lowercase().contains("int"),
        "what epochs takes is not said: {}",
        r.stderr
    );
    assert_eq!(t.count("ran"), 0, "the job ran");

    // And the good values run.
    let r = t.run_flow(&script, &["-p", "epochs=10", "-p", "lr=0.1"]);
    r.status(0);
    assert_eq!(r.json["parameters"]["epochs"], 10);
    assert_eq!(t.count("ran"), 1);
}

// ---------------------------------------------------------------------------------------------
// 7. Delayed placeholders

#[test]
fn delayed_placeholder_pauses_until_proceed_supplies_it() {
    let t = Test::new();
    let body = r#"
let answer = wf.Placeholder(#{ name: "answer", placeholder_type: wf.PlaceholderType.INT, delay: true, description: "asked at the step" });
"#;
    let prep = job("prep", &tick(&t.at("prep.count")));
    let ask = job(
        "ask",
        &format!(
            "printf '%s %s' \"$WF_PARAM_ANSWER\" \"$*\" > '{}'",
            t.at("answer.txt")
        ),
    )
    .param("answer", "answer")
    .after(&["prep"]);
    let script = t
        .write(
            "flow.rhai",
            &flow("delayed", body, &[prep, ask], &["prep", "ask"]),
        )
        .at("flow.rhai");

    let r = t.run_flow(&script, &[]);
    r.status(3);
    assert_eq!(r.exec_status(), "awaiting_input", "{:#}", r.json);
    assert_eq!(r.step_status("prep"), "executed");
    assert_eq!(r.step_status("ask"), "awaiting_input");
    assert_eq!(t.read("answer.txt"), "", "the step ran without its value");
    let id = r.id();

    let r = t.wf(&["proceed", &id, "ask", "-p", "answer=42", "--json"]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    assert_eq!(r.step_status("ask"), "executed");
    let seen = t.read("answer.txt");
    assert!(
        seen.starts_with("42 ") && seen.contains("--answer=42"),
        "the job saw: {seen}"
    );
    assert_eq!(t.count("prep.count"), 1, "prep ran again");
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "executed", "{shown:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Retry

#[test]
fn retry_runs_the_failed_step_again_and_not_the_executed_ones() {
    let t = Test::new();
    let first = job("first", &tick(&t.at("first.count")));
    let flaky = job(
        "flaky",
        &format!(
            "{}; if [ ! -e '{m}' ]; then touch '{m}'; echo 'first attempt fails' >&2; exit 7; fi",
            tick(&t.at("flaky.count")),
            m = t.at("marker")
        ),
    )
    .after(&["first"]);
    let last = job("last", &tick(&t.at("last.count"))).after(&["flaky"]);
    let script = t
        .write(
            "flow.rhai",
            &flow(
                "retry",
                "",
                &[first, flaky, last],
                &["first", "flaky", "last"],
            ),
        )
        .at("flow.rhai");

    let r = t.run_flow(&script, &[]);
    r.status(1);
    assert_eq!(r.exec_status(), "failed");
    assert_eq!(r.step_status("first"), "executed");
    assert_eq!(r.step_status("flaky"), "failed");
    assert!(
        r.step("flaky")["error"]
            .as_str()
            .unwrap_or("")
            .contains("first attempt fails"),
        "the error does not carry the log's last lines: {:#}",
        r.step("flaky")
    );
    assert_ne!(r.step_status("last"), "executed");
    assert_eq!(t.count("last.count"), 0);
    let id = r.id();

    let r = t.wf(&["retry", &id, "--json"]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    assert_eq!(r.id(), id);
    assert_eq!(r.step_status("flaky"), "executed");
    assert_eq!(r.step("flaky")["attempt"], 2, "{:#}", r.step("flaky"));
    assert_eq!(r.step_status("last"), "executed");
    assert_eq!(t.count("first.count"), 1, "an executed step ran again");
    assert_eq!(t.count("flaky.count"), 2);
    assert_eq!(t.count("last.count"), 1);
}

// ---------------------------------------------------------------------------------------------
// 9. Resume after kill -9

#[test]
fn resume_after_kill_9_does_not_run_executed_steps_again_and_re_attaches_to_the_running_one() {
    let t = Test::new();
    let first = job("first", &tick(&t.at("first.count")));
    // `second` signals it started and works for a while; it must never start twice.
    let second = job(
        "second",
        &format!(
            "{}; echo $$ > '{m}'; sleep 2; echo second done",
            tick(&t.at("second.count")),
            m = t.at("second.started")
        ),
    )
    .after(&["first"]);
    let script = t
        .write(
            "flow.rhai",
            &flow("durable", "", &[first, second], &["first", "second"]),
        )
        .at("flow.rhai");

    let storage = t.storage();
    let mut runner = t
        .args(&["run", &script, "--storage", &storage, "--json"])
        .spawn();
    let started = wait_until(Duration::from_secs(20), || {
        !t.read("second.started").trim().is_empty()
    });
    assert!(started, "`second` never started: {}", t.read("runner.err"));
    let id = latest_id(&t);
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(
        step(&shown.json, "second")["status"],
        "running",
        "{shown:?}"
    );
    runner.kill();
    let old_job = read_pid(&t, "second.started");
    assert!(alive(old_job), "the job died with its runner");

    let r = t.wf(&["resume", &id, "--json"]);
    cleanup(old_job);
    r.status(0);
    assert_eq!(r.exec_status(), "executed", "{:#}", r.json);
    assert_eq!(r.step_status("first"), "executed");
    assert_eq!(r.step_status("second"), "executed");
    assert_eq!(t.count("first.count"), 1, "the executed step ran again");
    assert_eq!(
        t.count("second.count"),
        1,
        "the running step was started twice"
    );
    t.wf(&["logs", &id, "second"])
        .stdout_contains("second done");
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "executed", "{shown:?}");
}

// ---------------------------------------------------------------------------------------------
// 10. Partial execution

#[test]
fn partial_execution_reuses_outputs_of_the_latest_execution_and_refuses_without_one() {
    let t = Test::new();
    let first = job(
        "first",
        &format!(
            "{} && echo data > \"$WF_OUTPUT_OUT/data.txt\"",
            tick(&t.at("first.count"))
        ),
    );
    let second = job(
        "second",
        &format!(
            "{} && cat \"$WF_INPUT_SRC/data.txt\" && printf '%s' \"$WF_INPUT_SRC\" > '{}'",
            tick(&t.at("second.count")),
            t.at("second.src")
        ),
    )
    .inputs(&[&input("src", r#"first.outputs["out"].as_input()"#)]);
    let script = t
        .write(
            "flow.rhai",
            &flow("partial", "", &[first, second], &["first", "second"]),
        )
        .at("flow.rhai");

    // On a fresh home there is no execution to take `first`'s output from.
    let r = t.run_flow(&script, &["--steps", "second"]);
    assert_ne!(r.code, 0, "{r:?}");
    r.stderr_contains("first");
    assert_eq!(t.count("second.count"), 0, "the step ran");

    let whole = t.run_flow(&script, &[]);
    whole.status(0);
    let produced = whole.output_path("first", "out");

    let r = t.run_flow(&script, &["--steps", "second"]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    assert_ne!(r.id(), whole.id());
    assert_eq!(step_names(&r.json), ["second"], "{:#}", r.json);
    assert_eq!(r.step_status("second"), "executed");
    assert_eq!(
        t.read("second.src").trim_end_matches('/'),
        produced.trim_end_matches('/')
    );
    assert_eq!(t.count("first.count"), 1, "first ran again");
    assert_eq!(t.count("second.count"), 2);
    assert!(
        r.json["reused"].to_string().contains("first"),
        "the record does not say what it reused: {:#}",
        r.json
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Timeouts

#[test]
fn timeout_kills_the_whole_process_tree() {
    let t = Test::new();
    let j = job(
        "slow",
        &format!(
            "sleep 60 & echo $! > '{}'; sleep 60",
            t.at("grandchild.pid")
        ),
    )
    .policy("wf.steps.StepPolicy(#{ max_execution_minutes: 0.02 })");
    let script = t
        .write("flow.rhai", &flow("timeout", "", &[j], &["slow"]))
        .at("flow.rhai");

    let start = Instant::now();
    let r = t.run_flow(&script, &[]);
    let took = start.elapsed();
    let grandchild = read_pid(&t, "grandchild.pid");
    let gone = wait_until(Duration::from_secs(3), || !alive(grandchild));
    cleanup(grandchild);
    r.status(1);
    assert_eq!(r.exec_status(), "failed");
    assert_eq!(r.step_status("slow"), "failed");
    let error = r.step("slow")["error"].as_str().unwrap_or("");
    assert!(error.contains("timed out"), "error: {error}");
    // 0.02 minutes: a limit under a minute is told in seconds, never as "0.0 minutes".
    assert!(error.contains("after 1.2 seconds"), "error: {error}");
    assert!(took < Duration::from_secs(10), "the timeout took {took:?}");
    assert!(
        gone,
        "the background grandchild {grandchild} outlived the timeout"
    );
}

// ---------------------------------------------------------------------------------------------
// 12. Definition JSON

#[test]
fn running_the_definition_json_equals_running_the_script() {
    let t = Test::new();
    let body = r#"
let acc = wf.Placeholder(#{ name: "acc", placeholder_type: wf.PlaceholderType.FLOAT, default: 0.7 });
"#;
    let train = job(
        "train",
        r#"printf '[{"key": "accuracy", "type": "float", "data": {"value": %s}}]' "$WF_PARAM_ACC" > "$WF_OUTPUT_METRICS"; echo m > "$WF_OUTPUT_OUT/m""#,
    )
    .param("acc", "acc")
    .outputs(&[&dir_output("out", "train"), &metrics_output("train/metrics.json")]);
    let gate = r#"let gate = wf.steps.ConditionStep(#{ name: "gate",
    conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.GT, wf.steps.MetricInfo(train.outputs["metrics"].as_input(), "accuracy"), 0.5),
    if_then_steps: ["good"], else_then_steps: ["bad"] });
"#;
    let good = job("good", "cat \"$WF_INPUT_SRC/m\"")
        .inputs(&[&input("src", r#"train.outputs["out"].as_input()"#)])
        .after(&["gate"]);
    let bad = job("bad", "true").after(&["gate"]);
    let script = flow("def", body, &[train], &[])
        .replace(
            "wf.Workflow(#{",
            &format!("{gate}{}{}wf.Workflow(#{{", good.rhai(), bad.rhai()),
        )
        .replace("steps: []", "steps: [train, gate, good, bad]");
    let script = t.write("flow.rhai", &script).at("flow.rhai");

    let graph = t.wf(&["graph", &script, "--format", "json"]);
    graph.status(0);
    let def = t.write("def.json", &graph.stdout).at("def.json");

    let shape = |r: &Ran| -> Vec<(String, String, String, Vec<String>, Value, Value)> {
        let id = r.id();
        r.json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut outputs: Vec<String> = s["outputs"]
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k}={}",
                                    v["path"].as_str().unwrap_or("").replace(&id, "ID")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                outputs.sort();
                let f = |k: &str| s[k].as_str().unwrap_or("").to_string();
                (
                    f("name"),
                    f("type"),
                    f("status"),
                    outputs,
                    s["metrics"].clone(),
                    s["result"].clone(),
                )
            })
            .collect()
    };
    for acc in ["0.7", "0.2"] {
        let p = format!("acc={acc}");
        let from_script = t.run_flow(&script, &["-p", &p]);
        let from_def = t.run_flow(&def, &["-p", &p]);
        from_script.status(0);
        from_def.status(0);
        assert_eq!(from_def.json["workflow"], from_script.json["workflow"]);
        assert_eq!(from_def.json["status"], from_script.json["status"]);
        assert_eq!(from_def.json["parameters"], from_script.json["parameters"]);
        assert_eq!(shape(&from_def), shape(&from_script), "acc={acc}");
        assert_eq!(step_names(&from_def.json), ["train", "gate", "good", "bad"]);
    }
}

// ---------------------------------------------------------------------------------------------
// 13. Automatic retries

#[test]
fn step_policy_retries_a_failing_job_until_it_succeeds() {
    let t = Test::new();
    let counter = t.at("count");
    let j = job(
        "flaky",
        &format!(
            "{}; [ \"$(wc -l < '{counter}')\" -ge 3 ] || exit 1",
            tick(&counter)
        ),
    )
    .policy("wf.steps.StepPolicy(#{ retries: 2 })");
    let script = t
        .write("flow.rhai", &flow("retries", "", &[j], &["flaky"]))
        .at("flow.rhai");

    let r = t.run_flow(&script, &[]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    assert_eq!(r.step_status("flaky"), "executed");
    assert_eq!(r.step("flaky")["attempt"], 3, "{:#}", r.step("flaky"));
    assert_eq!(t.count("count"), 3);
}

// ---------------------------------------------------------------------------------------------
// 14. Stop

#[test]
fn stop_from_another_process_ends_the_run_stopped_and_kills_the_job() {
    let t = Test::new();
    let j = job(
        "sleepy",
        &format!("sleep 30 & echo $! > '{}'; wait", t.at("sleep.pid")),
    );
    let after = job("after", &tick(&t.at("after.count"))).after(&["sleepy"]);
    let script = t
        .write(
            "flow.rhai",
            &flow("stoppable", "", &[j, after], &["sleepy", "after"]),
        )
        .at("flow.rhai");

    let storage = t.storage();
    let mut runner = t
        .args(&["run", &script, "--storage", &storage, "--json"])
        .spawn();
    let started = wait_until(Duration::from_secs(20), || {
        !t.read("sleep.pid").trim().is_empty()
    });
    assert!(started, "the job never started: {}", t.read("runner.err"));
    let sleeper = read_pid(&t, "sleep.pid");
    let id = latest_id(&t);

    let stop = t.wf(&["stop", &id]);
    let code = runner.wait(Duration::from_secs(20));
    let gone = wait_until(Duration::from_secs(3), || !alive(sleeper));
    cleanup(sleeper);
    stop.status(0);
    assert_eq!(
        code,
        Some(1),
        "the runner did not end (1) after stop: {}",
        t.read("runner.err")
    );
    let record: Value = serde_json::from_str(&t.read("runner.out")).unwrap_or(Value::Null);
    assert_eq!(
        record["status"],
        "stopped",
        "{record:#}\n{}",
        t.read("runner.err")
    );
    assert_eq!(step(&record, "sleepy")["status"], "stopped");
    assert_ne!(step(&record, "after")["status"], "executed");
    assert_eq!(t.count("after.count"), 0);
    assert!(gone, "the job's process {sleeper} outlived the stop");
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "stopped", "{shown:?}");
}

// ---------------------------------------------------------------------------------------------
// 15. Bad input is a clear error, never a panic

fn metrics_job_run(metrics_text: &str) -> (Test, Ran) {
    let t = Test::new();
    let src = t.write("metrics.src", metrics_text).at("metrics.src");
    let j = job("train", &format!("cp '{src}' \"$WF_OUTPUT_METRICS\"")).outputs(&[
        &dir_output("out", "train"),
        &metrics_output("train/metrics.json"),
    ]);
    let script = t
        .write("flow.rhai", &flow("metrics", "", &[j], &["train"]))
        .at("flow.rhai");
    let r = t.run_flow(&script, &[]);
    (t, r)
}

#[test]
fn corrupt_metrics_file_fails_the_step_naming_the_file() {
    let (_env, r) = metrics_job_run("this is not json {");
    r.status(1);
    assert_eq!(r.step_status("train"), "failed");
    let error = r.step("train")["error"].as_str().unwrap_or("");
    assert!(
        error.contains("metrics.json"),
        "the file is not named: {error}"
    );
}

#[test]
fn foreign_metrics_format_fails_the_step_naming_the_file() {
    let (_env, r) = metrics_job_run(r#"{"accuracy": 0.9}"#);
    r.status(1);
    assert_eq!(r.step_status("train"), "failed");
    let error = r.step("train")["error"].as_str().unwrap_or("");
    assert!(
        error.contains("metrics.json"),
        "the file is not named: {error}"
    );
}

#[test]
fn an_invalid_metrics_file_fails_the_step_without_using_up_its_retries() {
    let t = Test::new();
    let src = t
        .write("metrics.src", "this is not json {")
        .at("metrics.src");
    let counter = t.at("count");
    let j = job(
        "train",
        &format!("{}; cp '{src}' \"$WF_OUTPUT_METRICS\"", tick(&counter)),
    )
    .outputs(&[&metrics_output("train/metrics.json")])
    .policy("wf.steps.StepPolicy(#{ retries: 2 })");
    let script = t
        .write("flow.rhai", &flow("metrics", "", &[j], &["train"]))
        .at("flow.rhai");
    let r = t.run_flow(&script, &[]);
    r.status(1);
    assert_eq!(r.step_status("train"), "failed");
    assert_eq!(r.step("train")["attempt"], 1, "{:#}", r.step("train"));
    assert_eq!(t.count("count"), 1, "the job ran again for the same file");
}

/// The definition of a two-step workflow a -> b, as `wf graph` prints it.
fn two_step_definition(t: &Test) -> Value {
    let a = job("a", "true");
    let b = job("b", "true").after(&["a"]);
    let script = t
        .write("flow.rhai", &flow("pair", "", &[a, b], &["a", "b"]))
        .at("flow.rhai");
    let graph = t.wf(&["graph", &script, "--format", "json"]);
    graph.status(0);
    graph.json
}

#[test]
fn definition_with_a_cycle_is_refused() {
    let t = Test::new();
    let mut def = two_step_definition(&t);
    // a depends on b as well as b on a.
    def["workflow"]["steps"][0]["depend_steps"] = serde_json::json!([{ "$step": "b" }]);
    def["dependencies"]["a"] = serde_json::json!([{ "step": "b" }]);
    let path = t.write("cycle.json", &def.to_string()).at("cycle.json");
    let r = t.run_flow(&path, &[]);
    r.status(1);
    assert!(
        r.stderr.to_lowercase().contains("cycl"),
        "the cycle is not named: {}",
        r.stderr
    );
    let check = t.wf(&["check", &path]);
    check.status(1);
}

#[test]
fn definition_with_an_unknown_field_is_refused() {
    let t = Test::new();
    let mut def = two_step_definition(&t);
    def["workflow"]["steps"][1]["bogus_field"] = serde_json::json!(1);
    let path = t.write("unknown.json", &def.to_string()).at("unknown.json");
    let r = t.run_flow(&path, &[]);
    r.status(1);
    r.stderr_contains("bogus_field");
    assert!(t
        .wf(&["executions", "--json"])
        .json
        .as_array()
        .is_none_or(|a| a.is_empty()));
}

#[test]
fn show_of_an_unknown_execution_is_a_clear_error() {
    let t = Test::new();
    let r = t.wf(&["show", "nosuchid", "--json"]);
    assert_ne!(r.code, 0, "{r:?}");
    r.stderr_contains("nosuchid");
}

#[test]
fn unusable_home_is_a_clear_error() {
    let t = Test::new();
    let j = job("a", "true");
    let script = t
        .write("flow.rhai", &flow("home", "", &[j], &["a"]))
        .at("flow.rhai");
    let storage = t.storage();

    // A home that is a regular file.
    let file_home = t.write("home_file", "not a folder").path("home_file");
    let r = t
        .args(&["run", &script, "--storage", &storage, "--json"])
        .home(&file_home)
        .run();
    assert_ne!(r.code, 0, "{r:?}");
    r.stderr_contains("home_file");
    let r = t.args(&["executions", "--json"]).home(&file_home).run();
    assert_ne!(r.code, 0, "{r:?}");

    // A home inside a read-only folder (root writes anyway: then there is nothing to check).
    let locked = t.path("locked");
    fs::create_dir(&locked).unwrap();
    set_mode(&locked, 0o555);
    let writable_anyway = fs::write(locked.join("probe"), "").is_ok();
    if !writable_anyway {
        let r = t
            .args(&["run", &script, "--storage", &storage, "--json"])
            .home(locked.join("home"))
            .run();
        assert_ne!(r.code, 0, "{r:?}");
        r.stderr_contains("locked");
    }
    set_mode(&locked, 0o755);
}

/// `--home` wins over `WF_HOME`: the records go where the command line says.
#[test]
fn home_given_on_the_command_line_wins_over_wf_home() {
    let t = Test::new();
    let j = job("a", "true");
    let script = t
        .write("flow.rhai", &flow("home", "", &[j], &["a"]))
        .at("flow.rhai");
    let storage = t.storage();
    let elsewhere = t.at("elsewhere");
    t.args(&["run", &script, "--storage", &storage, "--json"])
        .env("WF_HOME", &elsewhere)
        .run()
        .status(0);
    assert!(
        !Path::new(&elsewhere).exists(),
        "WF_HOME was used although --home was given"
    );
    latest_id(&t);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 16. Reading the records

#[test]
fn executions_json_lists_newest_first() {
    let t = Test::new();
    let j = job("a", "true");
    let script = t
        .write("flow.rhai", &flow("listed", "", &[j], &["a"]))
        .at("flow.rhai");
    let first = t.run_flow(&script, &[]);
    let second = t.run_flow(&script, &[]);
    first.status(0);
    second.status(0);

    let r = t.wf(&["executions", "--json"]);
    r.status(0);
    let list = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.stdout));
    let ids: Vec<&str> = list
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ids, [second.id(), first.id()]);
    assert_eq!(list[0]["workflow"], "listed");
    assert_eq!(list[0]["status"], "executed");
    assert!(
        list[0]["steps"].is_array(),
        "not an execution record: {:#}",
        list[0]
    );
}

#[test]
fn flavors_json_is_an_array_of_flavors() {
    let t = Test::new();
    let r = t.wf(&["flavors", "--json"]);
    r.status(0);
    let list = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.stdout));
    assert!(list.iter().any(|f| f["id"] == "cpu.small"), "{}", r.stdout);
    for f in list {
        assert!(f["id"].is_string(), "{f}");
        assert!(f["cpu"].is_number(), "{f}");
        assert!(f["memory_mib"].is_number(), "{f}");
        assert!(f["gpu"].is_number(), "{f}");
    }
}

#[test]
fn logs_print_what_the_job_printed() {
    let t = Test::new();
    let j = job(
        "talk",
        "echo \"hello from $WF_STEP_NAME\"; echo 'to stderr' >&2; echo \"args: $*\"",
    );
    let script = t
        .write("flow.rhai", &flow("talker", "", &[j], &["talk"]))
        .at("flow.rhai");
    let r = t.run_flow(&script, &[]);
    r.status(0);

    let logs = t.wf(&["logs", &r.id(), "talk"]);
    logs.status(0)
        .stdout_contains("hello from talk")
        .stdout_contains("to stderr")
        .stdout_contains("--data=")
        .stdout_contains("--out=");
}

// ---------------------------------------------------------------------------------------------
// Distributed jobs and exported logs

#[test]
fn node_count_starts_one_process_per_rank() {
    let t = Test::new();
    let ranks = t.at("ranks.txt");
    let script = t.write(
        "flow.rhai",
        &format!(
            r#"
let storage = wf.data.OutputStorage(#{{ name: "out" }});
let train = wf.steps.JobStep(#{{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{{ command: "echo $RANK/$WORLD_SIZE/$LOCAL_RANK/$MASTER_ADDR >> '{ranks}'" }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small", node_count: 3 }}) }}),
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("out", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("out")) }}),
}});
wf.Workflow(#{{ name: "ranks", desc: "d", steps: [train], storages: [storage] }})
"#
        ),
    ).at("flow.rhai");
    let r = t.run_flow(&script, &[]);
    r.status(0);
    let mut lines: Vec<String> = t.read("ranks.txt").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["0/3/0/127.0.0.1", "1/3/1/127.0.0.1", "2/3/2/127.0.0.1"]
    );
}

#[test]
fn the_log_is_exported_to_log_export_path() {
    let t = Test::new();
    let script = t.write(
        "flow.rhai",
        r#"
let storage = wf.data.OutputStorage(#{ name: "out" });
let train = wf.steps.JobStep(#{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{ command: "echo hello from the job" }),
    spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }),
                             log_export_path: wf.steps.job_step.LogExportPath(#{ obs_url: storage.join("logs/") }) }),
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("out")) }),
});
wf.Workflow(#{ name: "logs", desc: "d", steps: [train], storages: [storage] })
"#,
    ).at("flow.rhai");
    let r = t.run_flow(&script, &[]);
    r.status(0);
    let id = r.json["execution_id"].as_str().unwrap().to_string();
    let exported = t.read(&format!("root/{id}/logs/train.log"));
    assert!(
        exported.contains("hello from the job"),
        "exported log: {exported:?}"
    );
}
