//! What a user hits outside the happy path: signals, a killed runner, a closed pipe, ranks that
//! fail, files that never end, scripts that import themselves. Each test names the behaviour a
//! person would notice (an exit status, a record, a process left or not left running).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::test::{alive, q, step, wait_until, Runner, Test};

/// A workflow of one job step `train` running `command` on `nodes` ranks.
fn ranks_flow(command: &str, nodes: u32) -> String {
    format!(
        r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let train = wf.steps.JobStep(#{{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{{ command: {cmd} }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small", node_count: {nodes} }}) }}),
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("out", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }}),
}});
wf.Workflow(#{{ name: "ranks", desc: "d", steps: [train], storages: [storage] }})
"#,
        cmd = q(command)
    )
}

fn pid_in(t: &Test, rel: &str) -> Option<u32> {
    t.read(rel).trim().parse().ok()
}

fn kill_if_alive(pid: Option<u32>) {
    if let Some(pid) = pid.filter(|p| alive(*p)) {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
}

/// `wf run flow.rhai --storage out=ROOT` in the background.
fn start_flow(t: &Test) -> Runner {
    t.args(&["run", &t.at("flow.rhai"), "--storage", &t.storage()])
        .spawn()
}

/// Waits for a job to write its pid into `rel`; fails the test with the runner's stderr if
/// it never does.
fn await_pid(t: &Test, runner: &Runner, rel: &str) -> u32 {
    let written = wait_until(Duration::from_secs(20), || pid_in(t, rel).is_some());
    assert!(written, "the job never started: {}", runner.stderr());
    pid_in(t, rel).expect("written")
}

fn latest_id(t: &Test) -> String {
    let r = t.wf(&["executions", "--json"]);
    r.json[0]["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no execution: {r:?}"))
        .to_string()
}

#[test]
fn a_failing_rank_fails_the_step_at_once_and_stops_the_other_ranks() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    let cmd = format!(
        "echo $$ > \"{dir}/rank$RANK.pid\"; if [ \"$RANK\" = 1 ]; then exit 1; fi; sleep 30"
    );
    t.write("flow.rhai", &ranks_flow(&cmd, 2));
    let started = Instant::now();
    let r = t.run_flow(&t.at("flow.rhai"), &[]);
    let took = started.elapsed();
    r.status(1);
    assert_eq!(r.step_status("train"), "failed", "{:#}", r.json);
    // Rank 0 may have been stopped before it wrote its pid; one that wrote it must be gone.
    std::thread::sleep(Duration::from_millis(300));
    let rank0 = pid_in(&t, "rank0.pid");
    let rank0_alive = rank0.is_some_and(alive);
    kill_if_alive(rank0);
    // A second is the aim; the bound leaves room for a loaded machine.
    assert!(
        took < Duration::from_secs(5),
        "the failing rank took {took:?} to fail the step"
    );
    assert!(!rank0_alive, "rank 0 outlived the failed step");
}

#[test]
fn resume_after_kill_9_re_attaches_to_the_live_ranks_and_never_starts_them_again() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    // Each rank counts its starts, then works for a while.
    let cmd = format!(
        "echo $$ >> \"{dir}/rank$RANK.starts\"; echo $$ > \"{dir}/rank$RANK.pid\"; sleep 3; echo \"rank $RANK done\""
    );
    t.write("flow.rhai", &ranks_flow(&cmd, 2));
    let mut runner = start_flow(&t);
    let both = wait_until(Duration::from_secs(20), || {
        pid_in(&t, "rank0.pid").is_some() && pid_in(&t, "rank1.pid").is_some()
    });
    assert!(both, "the ranks never started: {}", runner.stderr());
    runner.kill();
    let ranks = [pid_in(&t, "rank0.pid"), pid_in(&t, "rank1.pid")];
    assert!(
        ranks.iter().flatten().all(|p| alive(*p)),
        "the ranks died with their runner"
    );
    let r = t.wf(&["resume", &latest_id(&t), "--json"]);
    ranks.into_iter().for_each(kill_if_alive);
    r.status(0);
    assert_eq!(t.count("rank0.starts"), 1, "rank 0 was started again");
    assert_eq!(t.count("rank1.starts"), 1, "rank 1 was started again");
    let log = t.wf(&["logs", &latest_id(&t), "train"]);
    log.stdout_contains("re-attached to the job of attempt 1")
        .stdout_contains("rank 0 done")
        .stdout_contains("rank 1 done");
}

#[test]
fn a_job_that_ended_while_its_runner_was_dead_is_taken_up_not_run_again() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    let cmd = format!(
        "echo $$ >> \"{dir}/starts\"; echo $$ > \"{dir}/job.pid\"; sleep 1; echo finished; exit 3"
    );
    t.write("flow.rhai", &ranks_flow(&cmd, 1));
    let mut runner = start_flow(&t);
    let pid = await_pid(&t, &runner, "job.pid");
    runner.kill();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pid)),
        "the job never ended"
    );
    let r = t.wf(&["resume", &latest_id(&t), "--json"]);
    r.status(1);
    assert_eq!(t.count("starts"), 1, "the job was run again");
    assert_eq!(r.step_status("train"), "failed", "{r:?}");
    let error = r.step("train")["error"].as_str().unwrap_or("");
    assert!(error.contains("status 3"), "{error}");
    assert!(error.contains("finished"), "the log's tail: {error}");
}

#[test]
fn kill_9_of_the_runner_at_random_moments_never_runs_a_step_twice_nor_loses_one() {
    let t = Test::new();
    let ticks = t.at("ticks");
    let steps = ["a", "b", "c"];
    let jobs: Vec<crate::test::Job> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let j = crate::test::job(s, &format!("echo {s} >> '{ticks}'; sleep 0.0{}", i + 2));
            if i == 0 {
                j
            } else {
                j.after(&[steps[i - 1]])
            }
        })
        .collect();
    t.write("flow.rhai", &crate::test::flow("chain", "", &jobs, &steps));
    // A fixed sequence, so a failure names a delay that can be tried again.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut resumed, mut trials) = (0, 100);
    if let Ok(n) = std::env::var("WF_KILL_TRIALS") {
        trials = n.parse().unwrap_or(trials);
    }
    for trial in 0..trials {
        let _ = std::fs::remove_file(t.path("ticks"));
        let _ = std::fs::remove_dir_all(t.home());
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(20 + seed % 260);
        let mut runner = t
            .args(&["run", &t.at("flow.rhai"), "--storage", &t.storage()])
            .spawn();
        std::thread::sleep(delay);
        runner.kill();
        let listed = t.wf(&["executions", "--json"]);
        let Some(id) = listed.json[0]["execution_id"].as_str().map(str::to_string) else {
            // Killed before it recorded anything: nothing may have run.
            assert_eq!(
                t.count("ticks"),
                0,
                "trial {trial} ({delay:?}): ran unrecorded"
            );
            continue;
        };
        if listed.json[0]["status"] != "executed" {
            resumed += 1;
            let r = t.wf(&["resume", &id, "--json"]);
            assert_eq!(
                r.exec_status(),
                "executed",
                "trial {trial} ({delay:?}): {r:?}"
            );
        }
        let ran = t.read("ticks");
        let mut lines: Vec<&str> = ran.lines().collect();
        lines.sort();
        assert_eq!(
            lines, steps,
            "trial {trial} (killed after {delay:?}): each step must run exactly once"
        );
    }
    assert!(
        resumed > trials / 4,
        "only {resumed} trials were killed mid-run"
    );
}
#[test]
fn ctrl_c_during_a_run_stops_it_records_stopped_and_kills_the_job() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    t.write(
        "flow.rhai",
        &ranks_flow(&format!("echo $$ > '{dir}/job.pid'; sleep 30"), 1),
    );
    let mut runner = start_flow(&t);
    await_pid(&t, &runner, "job.pid");
    runner.signal("INT");
    let code = runner.wait(Duration::from_secs(10));
    let job = pid_in(&t, "job.pid");
    let job_gone = wait_until(Duration::from_secs(3), || job.is_some_and(|p| !alive(p)));
    kill_if_alive(job);
    assert_eq!(
        code,
        Some(1),
        "exit status after Ctrl-C: {}",
        runner.stderr()
    );
    assert!(!runner.stderr().contains("panicked"), "{}", runner.stderr());
    let shown = t.wf(&["show", "latest", "--json"]);
    assert_eq!(shown.json["status"], "stopped", "{:#}", shown.json);
    assert_eq!(step(&shown.json, "train")["status"], "stopped");
    assert!(job_gone, "the job outlived Ctrl-C");
}

#[test]
fn a_second_signal_is_not_a_crash() {
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("sleep 30", 1));
    let mut runner = start_flow(&t);
    assert!(wait_until(Duration::from_secs(20), || runner
        .stderr()
        .contains("running")));
    runner.signal("TERM");
    runner.signal("INT");
    assert_eq!(runner.wait(Duration::from_secs(10)), Some(1));
    assert!(!runner.stderr().contains("panicked"), "{}", runner.stderr());
    let shown = t.wf(&["show", "latest", "--json"]);
    assert_eq!(shown.json["status"], "stopped");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("true", 1));
    t.run_flow(&t.at("flow.rhai"), &[]).status(0);
    let wf = env!("CARGO_BIN_EXE_wf");
    let home = t.home().display().to_string();
    for args in [
        "show latest",
        "show latest --json",
        "executions",
        "executions --json",
        "check --list-api",
    ] {
        // `head -c1` reads one byte and leaves: the rest meets a closed pipe.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{wf}' --home '{home}' {args} | head -c1 >/dev/null"
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "`wf {args} | head` wrote: {stderr}");
    }
}

#[test]
fn values_given_on_the_command_line_reach_a_run_the_script_starts() {
    let t = Test::new();
    t.write(
        "flow.rhai",
        r#"let epochs = wf.Placeholder(#{ name: "epochs", placeholder_type: wf.PlaceholderType.INT });
let gate = wf.steps.ConditionStep(#{ name: "gate", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.GT, epochs, 5) });
let workflow = wf.Workflow(#{ name: "w", desc: "d", steps: [gate] });
workflow.run(#{});
"#,
    );
    let r = t.wf(&["run", &t.at("flow.rhai"), "-p", "epochs=7", "--json"]);
    r.status(0);
    assert_eq!(r.json["parameters"]["epochs"], 7, "{:#}", r.json);
    assert_eq!(r.step("gate")["result"], true);
}

#[test]
fn the_sandbox_time_limit_counts_script_time_not_the_phases_it_runs() {
    let t = Test::new();
    // The phase takes 11 s, past the 10 s limit; the loop after it takes well under it.
    let script = ranks_flow("sleep 11", 1).replace("wf.Workflow(", "let workflow = wf.Workflow(");
    t.write(
        "flow.rhai",
        &format!(
            "{};\nworkflow.run(#{{}});\nlet n = 0;\nfor i in 0..10000 {{ n += i; }}\n",
            script.trim_end()
        ),
    );
    let storage = t.storage();
    let r = t.wf(&["run", &t.at("flow.rhai"), "--storage", &storage]);
    assert!(
        !r.stderr.contains("max_seconds"),
        "the phase's time counted against the script: {}",
        r.stderr
    );
    r.status(0);
}

#[test]
fn a_fifo_at_a_metrics_path_fails_the_step_instead_of_freezing_the_runner() {
    let t = Test::new();
    let fifo = t.path("metrics.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    t.write(
        "flow.rhai",
        &format!(
            r#"let train = wf.steps.JobStep(#{{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{{ command: "true" }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small" }}) }}),
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("metrics", #{{ metrics_config: wf.data.MetricsConfig({path}) }}),
}});
wf.Workflow(#{{ name: "fifo", desc: "d", steps: [train] }})
"#,
            path = q(&fifo.display().to_string())
        ),
    );
    let mut runner = t.args(&["run", &t.at("flow.rhai"), "--json"]).spawn();
    let code = runner.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "the runner froze: {}", runner.stderr());
    let shown = t.wf(&["show", "latest", "--json"]);
    let error = step(&shown.json, "train")["error"].as_str().unwrap_or("");
    assert!(error.contains("a FIFO, not a regular file"), "{error}");
}

#[test]
fn a_params_file_that_is_a_fifo_is_refused_at_once() {
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("true", 1));
    let fifo = t.path("params.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let storage = t.storage();
    let mut runner = t
        .args(&[
            "run",
            &t.at("flow.rhai"),
            "--storage",
            &storage,
            "--params",
            fifo.to_str().unwrap(),
        ])
        .spawn();
    assert_eq!(runner.wait(Duration::from_secs(10)), Some(2));
    assert!(
        runner.stderr().contains("is a FIFO, not a regular file"),
        "{}",
        runner.stderr()
    );
}

#[test]
fn an_import_cycle_is_an_error_naming_it() {
    let t = Test::new();
    t.write("a.rhai", "import \"b\" as b;\n")
        .write("b.rhai", "import \"a\" as a;\n")
        .write("main.rhai", "import \"a\" as a;\n");
    let r = t.wf(&["check", &t.at("main.rhai")]);
    r.status(1)
        .stderr_contains("the imports form a cycle: `a` imports `b` imports `a`");
    let r = t
        .write("self.rhai", "import \"self\" as me;\n")
        .wf(&["check", &t.at("self.rhai")]);
    r.status(1).stderr_contains("the imports form a cycle");
}

#[test]
fn objects_are_checked_where_they_are_built() {
    let t = Test::new();
    t.write(
        "p.rhai",
        "let p = wf.Placeholder(#{ name: \"c\", placeholder_type: wf.PlaceholderType.ENUM, default: \"c\", enum_list: [\"a\", \"b\"] });\np\n",
    );
    let r = t.wf(&["check", &t.at("p.rhai")]);
    r.status(1)
        .stderr_contains("p.rhai:1:12: error: the default str (\"c\") of ENUM placeholder `c` is not in its `enum_list`");
}

#[test]
fn a_huge_placeholder_name_is_refused_without_a_panic() {
    let t = Test::new();
    let name = "a".repeat(65_536);
    t.write(
        "long.rhai",
        &format!(
            "let p = wf.Placeholder(#{{ name: \"{name}\", placeholder_type: wf.PlaceholderType.INT, default: 1 }});\n\
             let c = wf.steps.ConditionStep(#{{ name: \"c\", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.EQ, p, 1) }});\n\
             wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: [c] }})\n"
        ),
    );
    let r = t.wf(&["check", &t.at("long.rhai")]);
    r.status(1).stderr_contains("is 65536 characters long");
    assert!(r.stderr.len() < 4_000, "the whole name was printed");
    let r = t.wf(&["check", &t.at("long.rhai"), "--json"]);
    assert_eq!(r.json["valid"], false, "{}", r.stdout);
}

#[test]
fn copying_big_strings_into_objects_hits_a_limit_not_the_machine() {
    let t = Test::new();
    t.write(
        "mem.rhai",
        "let big = \"x\";\nfor i in 0..19 { big += big; }\nlet all = [];\nfor i in 0..100000 { all.push(wf.data.OBSPath(#{ obs_path: big + i })); }\n",
    );
    let r = t.wf(&["check", &t.at("mem.rhai")]);
    r.status(1).stderr_contains("(max_object_bytes)");
}

#[test]
fn logs_follow_ends_for_a_step_that_will_never_run() {
    let t = Test::new();
    t.write(
        "flow.rhai",
        r#"let storage = wf.data.OutputStorage(#{ name: "out" });
let spec = wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) });
let first = wf.steps.JobStep(#{ name: "first", algorithm: wf.BaseAlgorithm(#{ command: "exit 3" }), spec: spec,
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("a")) }) });
let second = wf.steps.JobStep(#{ name: "second", algorithm: wf.BaseAlgorithm(#{ command: "true" }), spec: spec,
    inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
    outputs: wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("b")) }),
    depend_steps: [first] });
wf.Workflow(#{ name: "w", desc: "d", steps: [first, second], storages: [storage] })
"#,
    );
    t.run_flow(&t.at("flow.rhai"), &[]).status(1);
    let mut follow = t.args(&["logs", "latest", "second", "--follow"]).spawn();
    assert_eq!(
        follow.wait(Duration::from_secs(10)),
        Some(0),
        "`wf logs --follow` of a step that will never run did not return"
    );
    let r = t.wf(&["logs", "latest", "second"]);
    r.status(0).stderr_contains("it has not run: it is waiting");
}

#[test]
fn an_execution_whose_runner_died_is_shown_as_interrupted() {
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("sleep 30", 1));
    let mut runner = start_flow(&t);
    assert!(wait_until(Duration::from_secs(20), || runner
        .stderr()
        .contains("running")));
    runner.kill();
    let id = latest_id(&t);
    let shown = t.wf(&["show", &id]);
    shown
        .status(0)
        .stdout_contains("interrupted")
        .stdout_contains(&format!("`wf resume {id}`"));
    t.wf(&["executions"]).stdout_contains("interrupted");
    // Whatever the record says, the job is ended by the resume, which finishes the run.
    t.wf(&["stop", &id]).status(0);
}

#[test]
fn the_home_and_its_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("echo hi", 1));
    let storage = t.storage();
    let wf = env!("CARGO_BIN_EXE_wf");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; '{wf}' --home '{}' run '{}' --storage '{storage}'",
            t.home().display(),
            t.at("flow.rhai")
        ))
        .env_remove("WF_HOME")
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&t.home()), 0o700, "the home");
    assert_eq!(mode(&t.home().join("wf.db")), 0o600, "the records");
    let logs = t.home().join("logs");
    let exec_logs = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_dir(&exec_logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&log), 0o600, "a step's log");
    let lock = std::fs::read_dir(t.home().join("locks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&lock), 0o600, "a lock");
}

/// A workflow whose job's flavor is the JSON placeholder `train_flavor`.
const FLAVOR_FLOW: &str = r#"let fl = wf.Placeholder(#{ name: "train_flavor", placeholder_type: wf.PlaceholderType.JSON });
let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j", algorithm: wf.BaseAlgorithm(#{ command: "true" }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: fl }) }),
  inputs: wf.steps.JobInput("i", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] })
"#;

#[test]
fn a_flavor_placeholder_takes_a_plain_flavor_id_and_refuses_an_unknown_one() {
    let t = Test::new();
    t.write("flow.rhai", FLAVOR_FLOW);
    let script = t.at("flow.rhai");
    t.run_flow(&script, &["-p", "train_flavor=cpu.small"])
        .status(0);
    t.run_flow(
        &script,
        &["-p", r#"train_flavor={"flavor_id": "cpu.small"}"#],
    )
    .status(0);
    let r = t.run_flow(&script, &["-p", "train_flavor=gpu.99"]);
    r.status(2)
        .stderr_contains("-p train_flavor: no flavor `gpu.99` on this machine");
}

#[test]
fn a_subgraph_among_the_steps_is_refused_with_what_to_do() {
    let t = Test::new();
    t.write(
        "sg.rhai",
        r#"let c = wf.steps.ConditionStep(#{ name: "c", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.EQ, 1, 1) });
let g = wf.Subgraph(#{ name: "g", steps: [c] });
wf.Workflow(#{ name: "w", desc: "d", steps: [g] })
"#,
    );
    t.wf(&["check", &t.at("sg.rhai")])
        .status(1)
        .stderr_contains("list its steps in `steps` themselves");
}

#[test]
fn show_prints_a_data_parameter_as_its_path() {
    let t = Test::new();
    t.write(
        "obs.rhai",
        r#"let data = wf.data.OBSPlaceholder(#{ name: "data", object_type: "directory" });
let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j", algorithm: wf.BaseAlgorithm(#{ command: "true" }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),
  inputs: wf.steps.JobInput("i", data),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] })
"#,
    );
    let dir = t.dir().display().to_string();
    t.run_flow(&t.at("obs.rhai"), &["-p", &format!("data={dir}")])
        .status(0);
    let shown = t.wf(&["show", "latest"]);
    shown.stdout_contains(&format!("parameters data={dir}"));
    assert!(!shown.stdout.contains("$class"), "{}", shown.stdout);
}

#[test]
fn values_outside_the_tables_sets_are_refused_where_they_are_written() {
    let t = Test::new();
    t.write(
        "sets.rhai",
        r#"let m = wf.steps.ModelConfig(#{ model_name: "m", model_type: "Tensorflow" });
let s = wf.steps.ServiceConfig(#{ infer_type: "realtime" });
let v = wf.data.DatasetVersionConfig(#{ version_format: "Parquet" });
"#,
    );
    t.wf(&["check", &t.at("sets.rhai")])
        .status(1)
        .stderr_contains("`wf.steps.ModelConfig` `model_type` is `Tensorflow`")
        .stderr_contains("`wf.steps.ServiceConfig` `infer_type` is `realtime`")
        .stderr_contains("`wf.data.DatasetVersionConfig` `version_format` is `Parquet`");
}

#[test]
fn a_drawing_of_a_dense_graph_is_refused_not_attempted() {
    let t = Test::new();
    t.write(
        "dense.rhai",
        r#"let steps = [];
for i in 0..220 {
    steps.push(wf.steps.ConditionStep(#{ name: "c" + i, conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.EQ, 1, 1), depend_steps: steps }));
}
wf.Workflow(#{ name: "dense", desc: "d", steps: steps })
"#,
    );
    t.wf(&["graph", &t.at("dense.rhai"), "--format", "dot"])
        .status(1)
        .stderr_contains("`dense` has 24090 dependencies; a drawing shows at most 20000");
    let r = t.wf(&["check", &t.at("dense.rhai")]);
    r.status(0).stdout_contains("and 211 more");
}

/// A read-only bind mount of a folder, unmounted when dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    /// `None` where mounts are not allowed (not root, no mount namespace): the test is then
    /// skipped, as the permissions of a plain folder do not bind root.
    fn new(from: &std::path::Path, at: &std::path::Path) -> Option<ReadOnlyMount> {
        std::fs::create_dir_all(at).ok()?;
        let bind = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(at)
            .output()
            .ok()?;
        if !bind.status.success() {
            return None;
        }
        let guard = ReadOnlyMount(at.to_path_buf());
        let ro = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(at)
            .output()
            .ok()?;
        ro.status.success().then_some(guard)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_home_can_still_be_read() {
    let t = Test::new();
    t.write("flow.rhai", &ranks_flow("true", 1));
    t.run_flow(&t.at("flow.rhai"), &[]).status(0);
    let Some(_mount) = ReadOnlyMount::new(&t.home(), &t.path("ro-home")) else {
        crate::tools::skip(
            crate::tools::Tool::Root,
            "`mount --bind` and `mount -o remount,bind,ro` are refused here",
        );
        return;
    };
    let ro = t.path("ro-home");
    let shown = t.args(&["show", "latest", "--json"]).home(&ro).run();
    shown.status(0);
    assert_eq!(shown.json["status"], "executed", "{:#}", shown.json);
    t.args(&["executions"]).home(&ro).run().status(0);
    let storage = t.storage();
    let r = t
        .args(&["run", &t.at("flow.rhai"), "--storage", &storage])
        .home(&ro)
        .run();
    r.status(1).stderr_contains("cannot be written");
}

#[test]
fn a_parameter_and_a_data_placeholder_may_share_a_name() {
    let t = Test::new();
    // The manual's own examples name a STR placeholder and a data placeholder alike.
    t.write(
        "same.rhai",
        r#"let tag = wf.Placeholder(#{ name: "img", placeholder_type: wf.PlaceholderType.STR });
let data = wf.data.OBSPlaceholder(#{ name: "img", object_type: "directory" });
let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j",
  algorithm: wf.BaseAlgorithm(#{ command: "echo tag=$WF_PARAM_TAG data=$WF_INPUT_I", parameters: [wf.AlgorithmParameters("tag", tag)] }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),
  inputs: wf.steps.JobInput("i", data),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] })
"#,
    );
    let script = t.at("same.rhai");
    t.wf(&["check", &script]).status(0);
    let dir = t.dir().display().to_string();
    let r = t.run_flow(&script, &["-p", "img=v2", "-p", &format!("data:img={dir}")]);
    r.status(0);
    assert_eq!(r.json["parameters"]["img"], "v2", "{:#}", r.json);
    assert!(r.json["parameters"]["data:img"].is_object(), "{:#}", r.json);
    let log = t.wf(&["logs", "latest", "j"]);
    log.stdout_contains(&format!("tag=v2 data={dir}"));
    // Without the data value, the missing one is named as it is given.
    let r = t.run_flow(&script, &["-p", "img=v2"]);
    r.status(2).stderr_contains("img");
}

#[test]
fn resume_re_attaches_to_a_job_its_dead_runner_started_but_never_recorded() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    let cmd = format!("echo $$ >> \"{dir}/starts\"; echo $$ > \"{dir}/job.pid\"; sleep 2");
    t.write("flow.rhai", &ranks_flow(&cmd, 1));
    let mut runner = start_flow(&t);
    await_pid(&t, &runner, "job.pid");
    runner.kill();
    // As if the runner had died between starting the job and recording it.
    let db = rusqlite::Connection::open(t.home().join("wf.db")).unwrap();
    db.execute("UPDATE steps SET status = 'waiting', detail = NULL", [])
        .unwrap();
    drop(db);
    let job = pid_in(&t, "job.pid");
    let r = t.wf(&["resume", &latest_id(&t)]);
    kill_if_alive(job);
    r.status(0);
    assert_eq!(t.count("starts"), 1, "the unrecorded job was started again");
}

#[test]
fn a_relative_home_gives_jobs_absolute_paths_to_obs_inputs_and_outputs() {
    let t = Test::new();
    // `obs://bucket/...` lives in the home's object folder; the home is named relatively.
    t.write("rel-home/obs/bucket/data.txt", "the data\n");
    t.write("code/keep.txt", "");
    let script = r#"let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j",
  algorithm: wf.BaseAlgorithm(#{ code_dir: "code", command: "cat \"$WF_INPUT_DATA\" > \"$WF_OUTPUT_O/copy.txt\" && printf '%s\n' \"$WF_INPUT_DATA\" \"$WF_OUTPUT_O\" > paths.txt" }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),
  inputs: wf.steps.JobInput("data", wf.data.OBSPath("obs://bucket/data.txt")),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] })
"#;
    t.write("flow.rhai", script);
    let r = t
        .args(&["run", "flow.rhai", "--storage", "out=runs", "--json"])
        .home("rel-home")
        .run();
    r.status(0);
    let paths = t.read("code/paths.txt");
    for p in paths.lines() {
        assert!(p.starts_with('/'), "a job was given a relative path: {p}");
    }
    let out = r.output_path("j", "o");
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&out).join("copy.txt")).unwrap_or_default(),
        "the data\n"
    );
}

#[test]
fn executions_started_at_once_share_the_machines_cpus() {
    let t = Test::new();
    let events = t.at("events");
    let script = format!(
        r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let j = wf.steps.JobStep(#{{ name: "j",
  algorithm: wf.BaseAlgorithm(#{{ command: "echo start >> '{events}'; sleep 0.6; echo end >> '{events}'" }}),
  spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.1" }}) }}),
  inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }}) }});
wf.Workflow(#{{ name: "w", desc: "d", steps: [j], storages: [storage] }})
"#
    );
    t.write("flow.rhai", &script);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runs = cpus + 4;
    let mut runners: Vec<_> = (0..runs)
        .map(|i| {
            t.args(&["run", &t.at("flow.rhai"), "--storage", &t.storage()])
                .spawn_as(&format!("run{i}"))
        })
        .collect();
    for r in runners.iter_mut() {
        assert_eq!(r.wait(Duration::from_secs(60)), Some(0), "{}", r.stderr());
    }
    let (mut now, mut most) = (0usize, 0usize);
    for line in t.read("events").lines() {
        if line == "start" {
            now += 1;
            most = most.max(now);
        } else {
            now -= 1;
        }
    }
    assert_eq!(t.count("events"), runs * 2, "every job ran once");
    assert!(
        most <= cpus,
        "{most} cpu.1 jobs ran at once on {cpus} CPUs, in {runs} executions"
    );
}

#[test]
fn a_job_left_running_keeps_its_room_and_is_re_attached_at_once() {
    let t = Test::new();
    let events = t.at("events");
    let flow = |name: &str, secs: &str| {
        format!(
            r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let j = wf.steps.JobStep(#{{ name: "j",
  algorithm: wf.BaseAlgorithm(#{{ command: "echo start {name} >> '{events}'; echo $$ > '{dir}/{name}.pid'; sleep {secs}; echo end {name} >> '{events}'" }}),
  spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.all" }}) }}),
  inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }}) }});
wf.Workflow(#{{ name: "{name}", desc: "d", steps: [j], storages: [storage] }})
"#,
            dir = t.dir().display()
        )
    };
    t.write("a.rhai", &flow("a", "2"));
    t.write("b.rhai", &flow("b", "0.2"));
    let mut a = t
        .args(&["run", &t.at("a.rhai"), "--storage", &t.storage()])
        .spawn();
    await_pid(&t, &a, "a.pid");
    let a_id = latest_id(&t);
    a.kill();
    // Another execution wants every CPU: it waits for the job the dead runner left.
    let mut b = t
        .args(&["run", &t.at("b.rhai"), "--storage", &t.storage()])
        .spawn_as("b");
    // The dead runner's execution is taken up at once, not queued behind `b`.
    let r = t.wf(&["resume", &a_id, "--json"]);
    r.status(0);
    assert_eq!(b.wait(Duration::from_secs(30)), Some(0), "{}", b.stderr());
    let order: Vec<String> = t.read("events").lines().map(str::to_string).collect();
    assert_eq!(
        order,
        ["start a", "end a", "start b", "end b"],
        "two jobs that each need every CPU ran at once"
    );
}

#[test]
fn wf_stop_with_no_runner_stops_the_job_and_retry_runs_it_again() {
    let t = Test::new();
    let dir = t.dir().display().to_string();
    let cmd = format!("echo $$ >> \"{dir}/starts\"; echo $$ > \"{dir}/job.pid\"; sleep 30");
    t.write("flow.rhai", &ranks_flow(&cmd, 1));
    // The default kind of home: a relative one.
    let mut runner = t
        .args(&["run", "flow.rhai", "--storage", &t.storage()])
        .home(".wf")
        .spawn();
    let pid = await_pid(&t, &runner, "job.pid");
    runner.kill();
    assert!(alive(pid), "the job died with its runner");
    t.args(&["stop", "latest"]).home(".wf").run().status(0);
    let gone = wait_until(Duration::from_secs(15), || !alive(pid));
    kill_if_alive(Some(pid));
    assert!(gone, "`wf stop` left the job running");
    let shown = t.args(&["show", "latest", "--json"]).home(".wf").run();
    assert_eq!(shown.json["status"], "stopped", "{:#}", shown.json);
    // Retried, it starts again (once), and is stopped again by Ctrl-C.
    let mut again = t.args(&["retry", "latest"]).home(".wf").spawn();
    assert!(
        wait_until(Duration::from_secs(20), || t.count("starts") == 2),
        "retry did not start the job again: {}",
        again.stderr()
    );
    let second = pid_in(&t, "job.pid");
    again.signal("INT");
    assert_eq!(
        again.wait(Duration::from_secs(20)),
        Some(1),
        "{}",
        again.stderr()
    );
    let gone = wait_until(Duration::from_secs(5), || second.is_some_and(|p| !alive(p)));
    kill_if_alive(second);
    assert!(gone, "Ctrl-C of the retry left the job running");
}
