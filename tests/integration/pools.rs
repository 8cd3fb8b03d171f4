//! Job steps on resource pools (README, "Growing beyond one machine") against real clusters on this machine: a
//! single-node Ray (`ray start --head`, started here when none answers) and a one-node Slurm
//! (`.ci/slurm-up`). What a test starts is stopped when the test binary exits.
//!
//! Ray comes from the tests' virtual environment when the system lacks it, Slurm from Debian's
//! slurm-wlm when the tests run as root (it needs root to start, too); where either cannot be
//! had, its tests are skipped, saying so (`crate::tools`).

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::test::{wait_until, Runner, Test, MANIFEST_DIR};
use crate::tools::Tool;

// ---------------------------------------------------------------------------------------------
// The clusters

const RAY_ADDRESS: &str = "http://127.0.0.1:8265";

fn ray_address() -> String {
    std::env::var("WF_TEST_RAY_ADDRESS").unwrap_or_else(|_| RAY_ADDRESS.to_string())
}

fn http() -> reqwest::blocking::Client {
    wf::net::install_tls();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn ray_answers(addr: &str) -> bool {
    http()
        .get(format!("{addr}/nodes?view=summary"))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.json::<Value>().ok())
        .is_some_and(|v| {
            v["data"]["summary"]
                .as_array()
                .is_some_and(|n| !n.is_empty())
        })
}

extern "C" fn stop_ray() {
    let _ = Command::new(crate::tools::which("ray"))
        .args(["stop", "--force"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

extern "C" fn stop_slurm() {
    let _ = Command::new("bash")
        .arg(format!("{MANIFEST_DIR}/.ci/slurm-down"))
        .status();
}

fn start_ray() -> Result<String, String> {
    let addr = ray_address();
    if ray_answers(&addr) {
        return Ok(addr);
    }
    if std::env::var_os("WF_TEST_RAY_ADDRESS").is_some() {
        return Err(format!(
            "no Ray cluster answers at {addr} (WF_TEST_RAY_ADDRESS)"
        ));
    }
    let started = Command::new(crate::tools::which("ray"))
        .env("PATH", crate::tools::path())
        .args([
            "start",
            "--head",
            "--port=6390",
            "--dashboard-host=127.0.0.1",
            "--dashboard-port=8265",
            "--num-cpus=8",
            "--object-store-memory=100000000",
            "--include-dashboard=true",
            "--disable-usage-stats",
        ])
        .stdin(std::process::Stdio::null())
        .output();
    match started {
        Err(e) => {
            return Err(format!(
                "Ray is not installed here ({e}): `pip install \"ray[default]\"` (.ci/install-pools does)"
            ))
        }
        Ok(out) if !out.status.success() => {
            return Err(format!(
                "`ray start --head` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
        Ok(_) => {}
    }
    // SAFETY: registers a plain function to run when the test binary exits.
    unsafe {
        libc::atexit(stop_ray);
    }
    if wait_until(Duration::from_secs(90), || ray_answers(&addr)) {
        Ok(addr)
    } else {
        Err(format!(
            "Ray started but its dashboard never answered at {addr}"
        ))
    }
}

/// The Ray cluster's address, started once per test binary; `None` when the test is skipped.
fn ray() -> Option<String> {
    static RAY: OnceLock<Result<String, String>> = OnceLock::new();
    let started = RAY.get_or_init(|| {
        // A cluster that answers already needs no Ray here.
        if std::env::var_os("WF_TEST_RAY_ADDRESS").is_none() && !ray_answers(&ray_address()) {
            crate::tools::provide(Tool::Ray)?;
        }
        start_ray()
    });
    match started {
        Ok(addr) => Some(addr.clone()),
        Err(why) => {
            crate::tools::skip(Tool::Ray, why);
            None
        }
    }
}

fn sinfo_answers() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| {
            let s = String::from_utf8_lossy(&o.stdout);
            o.status.success() && (s.contains("idle") || s.contains("mix") || s.contains("alloc"))
        })
}

fn start_slurm() -> Result<(), String> {
    if sinfo_answers() {
        return Ok(());
    }
    crate::tools::provide(Tool::Slurm)?;
    crate::tools::provide(Tool::Root).map_err(|why| format!("starting Slurm needs root: {why}"))?;
    let out = Command::new("bash")
        .arg(format!("{MANIFEST_DIR}/.ci/slurm-up"))
        .output()
        .map_err(|e| e.to_string())?;
    // SAFETY: registers a plain function to run when the test binary exits.
    unsafe {
        libc::atexit(stop_slurm);
    }
    if out.status.success() && wait_until(Duration::from_secs(30), sinfo_answers) {
        Ok(())
    } else {
        Err(format!(
            "a one-node Slurm could not be started here: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether Slurm runs here (started once per test binary); says why not when it does not.
fn slurm() -> bool {
    static SLURM: OnceLock<Result<(), String>> = OnceLock::new();
    match SLURM.get_or_init(start_slurm) {
        Ok(()) => true,
        Err(why) => {
            crate::tools::skip(Tool::Slurm, why);
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workflows

/// The job a pool runs: it notes its start in the counter file, says where it runs, sleeps
/// `--sleep` seconds and writes a metric.
const JOB: &str = r#"#!/bin/bash
echo "start" >> "$WF_PARAM_COUNTER"
echo "job on pool $WF_POOL rank $RANK of $WORLD_SIZE in $WF_EXECUTION_ID: $*"
test -f "$WF_INPUT_DATA/prepared" || { echo "no input" >&2; exit 3; }
sleep "$WF_PARAM_SLEEP"
printf '[{"key": "accuracy", "type": "float", "data": {"value": 0.75}}]' > "$WF_OUTPUT_METRICS"
echo "job done"
"#;

/// A local step `prep`, then `train` on `flavor` (a pool's) reading prep's output.
fn pooled_flow(t: &Test, flavor: &str) -> String {
    pooled_flow_with(t, flavor, "wf.steps.StepPolicy(#{})")
}

/// `pooled_flow` with `train` under `policy`.
fn pooled_flow_with(t: &Test, flavor: &str, policy: &str) -> String {
    t.write("code/job.sh", JOB);
    let script = format!(
        r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let sleep = wf.Placeholder(#{{ name: "sleep", placeholder_type: wf.PlaceholderType.FLOAT, default: 0.0 }});
let prep = wf.steps.JobStep(#{{
    name: "prep",
    algorithm: wf.BaseAlgorithm(#{{ command: "echo run >> {prep}; touch \"$WF_OUTPUT_OUT/prepared\"" }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small" }}) }}),
    inputs: [wf.steps.JobInput("code", wf.data.OBSPath("code"))],
    outputs: [wf.steps.JobOutput("out", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("prep")) }})],
}});
let train = wf.steps.JobStep(#{{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{{ code_dir: "code", boot_file: "job.sh", parameters: [
        wf.AlgorithmParameters("counter", {counter}),
        wf.AlgorithmParameters("sleep", sleep),
    ] }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: {flavor} }}) }}),
    inputs: [wf.steps.JobInput("data", prep.outputs["out"].as_input())],
    outputs: [wf.steps.JobOutput("metrics", #{{ metrics_config: wf.data.MetricsConfig(storage.join("metrics.json", #{{ create_dir: false }})) }})],
    policy: {policy},
}});
wf.Workflow(#{{ name: "pooled", desc: "a step on a pool", steps: [prep, train], storages: [storage] }})
"#,
        prep = t.at("prep-runs"),
        counter = crate::test::q(&t.at("starts")),
    );
    t.write("flow.rhai", &script);
    t.at("flow.rhai")
}

fn add_ray_pool(t: &Test, addr: &str) {
    t.wf(&["pool", "add", "ray", "--ray", addr]).status(0);
}

fn add_slurm_pool(t: &Test) {
    t.wf(&["pool", "add", "hpc", "--slurm"]).status(0);
}

fn start_run(t: &Test, flow: &str, args: &[&str]) -> Runner {
    let storage = t.storage();
    let mut all = vec!["run", flow, "--storage", &storage];
    all.extend_from_slice(args);
    t.args(&all).spawn()
}

fn show(t: &Test, exec: &str) -> Value {
    t.wf(&["show", exec, "--json"]).json.clone()
}

fn latest_id(t: &Test) -> String {
    let r = t.wf(&["executions", "--json"]);
    r.json[0]["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no execution: {r:?}"))
        .to_string()
}

/// Waits for the remote job to note its start.
fn await_start(t: &Test, runner: &Runner) {
    let started = wait_until(Duration::from_secs(90), || t.count("starts") >= 1);
    assert!(started, "the remote job never started: {}", runner.stderr());
}

fn ray_status(addr: &str, id: &str) -> String {
    http()
        .get(format!("{addr}/api/jobs/{id}"))
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok())
        .and_then(|v| v["status"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn slurm_state(id: &str) -> String {
    Command::new("squeue")
        .args(["--states=all", "-h", "-j", id, "-o", "%T"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The checks every pool's happy path shares: executed, the log and metrics recorded, the
/// record naming the pool and the remote job, the job run once.
/// The remote id recorded for step `train` of `exec`.
#[track_caller]
fn remote_id(t: &Test, exec: &str) -> String {
    let rec = show(t, exec);
    crate::test::step(&rec, "train")["remote_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("no remote id recorded: {rec:#}"))
        .to_string()
}

/// Starts `flow` (its job sleeping `sleep` seconds on the pool), waits until the job has
/// started, then kills the runner with SIGKILL: the execution and its job's remote id.
fn start_then_kill_runner(t: &Test, flow: &str, sleep: &str) -> (String, String) {
    let mut runner = start_run(t, flow, &["-p", &format!("sleep={sleep}")]);
    await_start(t, &runner);
    runner.kill();
    let exec = latest_id(t);
    let id = remote_id(t, &exec);
    (exec, id)
}

/// Starts `flow` (a job of 120 s on the pool), and stops it with `wf stop` through its live
/// runner, which ends with status 1 and the step `stopped`: the job's remote id.
fn start_then_stop(t: &Test, flow: &str) -> String {
    let mut runner = start_run(t, flow, &["-p", "sleep=120"]);
    await_start(t, &runner);
    let exec = latest_id(t);
    t.wf(&["stop", &exec]).status(0);
    assert_eq!(runner.wait(Duration::from_secs(60)), Some(1));
    let rec = show(t, &exec);
    assert_eq!(
        crate::test::step_status(&rec, "train"),
        "stopped",
        "{rec:#}"
    );
    remote_id(t, &exec)
}

fn check_ran_on_pool(t: &Test, r: &crate::test::Ran, pool: &str) {
    r.status(0);
    assert_eq!(r.exec_status(), "executed", "{r:?}");
    let train = r.step("train");
    assert_eq!(train["pool"], pool, "{:#}", r.json);
    assert!(
        train["remote_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{:#}",
        r.json
    );
    assert_eq!(train["metrics"]["accuracy"], 0.75, "{:#}", r.json);
    assert_eq!(t.count("starts"), 1);
    assert_eq!(t.count("prep-runs"), 1);
    let logs = t.wf(&["logs", &r.id(), "train"]);
    logs.status(0)
        .stdout_contains(&format!("job on pool {pool} rank 0 of 1"))
        .stdout_contains("job done")
        .stdout_contains("--data=");
    // A re-attached job's output is copied on from where the dead runner left it.
    assert_eq!(logs.stdout.matches("job on pool").count(), 1, "{logs:?}");
}

// ---------------------------------------------------------------------------------------------
// Ray

#[test]
fn ray_a_two_step_workflow_runs_its_second_step_on_the_pool() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow(&t, r#""ray:cpu-1""#);
    let r = t.run_flow(&flow, &[]);
    check_ran_on_pool(&t, &r, "ray");
    let id = r.step("train")["remote_id"].as_str().unwrap().to_string();
    assert_eq!(ray_status(&addr, &id), "SUCCEEDED");
    // ModelArts' own shape for a dedicated pool's flavor names the same thing.
    let t2 = Test::new();
    add_ray_pool(&t2, &addr);
    let flow = pooled_flow(&t2, r#"#{ flavor_id: "cpu-1", pool_id: "ray" }"#);
    check_ran_on_pool(&t2, &t2.run_flow(&flow, &[]), "ray");
}

#[test]
fn ray_resume_after_kill_9_reattaches_to_the_running_job() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow(&t, r#""ray:cpu-1""#);
    let (exec, id) = start_then_kill_runner(&t, &flow, "6");
    assert_eq!(
        ray_status(&addr, &id),
        "RUNNING",
        "the job outlives its runner"
    );
    let r = t.wf(&["resume", &exec, "--json"]);
    r.stderr_contains(&format!("re-attached to Ray job {id}"));
    check_ran_on_pool(&t, &r, "ray");
    assert_eq!(r.step("train")["remote_id"], id.as_str());
}

#[test]
fn ray_resume_reads_back_a_job_that_ended_while_nobody_watched() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow(&t, r#""ray:cpu-1""#);
    let mut runner = start_run(&t, &flow, &["-p", "sleep=1"]);
    await_start(&t, &runner);
    runner.kill();
    let exec = latest_id(&t);
    let id = crate::test::step(&show(&t, &exec), "train")["remote_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        wait_until(Duration::from_secs(60), || ray_status(&addr, &id)
            == "SUCCEEDED"),
        "the job did not end"
    );
    let r = t.wf(&["resume", &exec, "--json"]);
    check_ran_on_pool(&t, &r, "ray");
}

#[test]
fn ray_wf_stop_stops_the_ray_job_with_or_without_its_runner() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow(&t, r#""ray:cpu-1""#);
    // Through the live runner.
    let id = start_then_stop(&t, &flow);
    assert!(
        wait_until(Duration::from_secs(30), || ray_status(&addr, &id)
            == "STOPPED"),
        "the Ray job was not stopped: {}",
        ray_status(&addr, &id)
    );
    // After its runner died: `wf stop` stops the job from the record.
    std::fs::remove_file(t.path("starts")).unwrap();
    let (exec, id) = start_then_kill_runner(&t, &flow, "120");
    t.wf(&["stop", &exec]).status(0);
    assert!(
        wait_until(Duration::from_secs(30), || ray_status(&addr, &id)
            == "STOPPED"),
        "the Ray job was not stopped: {}",
        ray_status(&addr, &id)
    );
}

#[test]
fn ray_a_timed_out_attempt_stops_its_job_and_a_retry_submits_a_new_one() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow_with(
        &t,
        r#""ray:cpu-1""#,
        "wf.steps.StepPolicy(#{ max_execution_minutes: 0.2, retries: 1 })",
    );
    let r = t.run_flow(&flow, &["-p", "sleep=120"]);
    r.status(1);
    assert_eq!(r.step_status("train"), "failed", "{r:?}");
    let error = r.step("train")["error"].as_str().unwrap_or("");
    assert!(error.contains("timed out"), "{r:?}");
    assert_eq!(r.step("train")["attempt"], 2, "{r:?}");
    // A new remote job per attempt (each found stopped below); on a slow cluster the second
    // may be stopped before its entrypoint began.
    assert!(t.count("starts") >= 1);
    let exec = r.id();
    for attempt in [1, 2] {
        let id = format!("wf-{exec}-train-{attempt}");
        assert!(
            wait_until(Duration::from_secs(30), || ray_status(&addr, &id)
                == "STOPPED"),
            "{id} was not stopped: {}",
            ray_status(&addr, &id)
        );
    }
}

#[test]
fn ray_node_count_2_runs_two_ranks_in_a_placement_group() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    t.write("code/README", "ranks\n");
    let ranks = t.at("ranks");
    let script = format!(
        r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let train = wf.steps.JobStep(#{{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{{ code_dir: "code", command: {cmd} }}),
    spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "ray:cpu-1", node_count: 2 }}) }}),
    inputs: [wf.steps.JobInput("data", wf.data.OBSPath("code"))],
    outputs: [wf.steps.JobOutput("out", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }})],
}});
wf.Workflow(#{{ name: "ranks", desc: "two ranks", steps: [train], storages: [storage] }})
"#,
        cmd = crate::test::q(&format!(
            "echo \"$RANK/$WORLD_SIZE $LOCAL_RANK $MASTER_ADDR:$MASTER_PORT $WF_STEP_NAME\" >> {ranks}"
        ))
    );
    t.write("flow.rhai", &script);
    let r = t.run_flow(&t.at("flow.rhai"), &[]);
    r.status(0);
    let mut lines: Vec<String> = t.read("ranks").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{lines:?}\n{r:?}");
    assert!(
        lines[0].starts_with("0/2 0 ") && lines[1].starts_with("1/2 1 "),
        "{lines:?}"
    );
    let master = |l: &str| l.split(' ').nth(2).unwrap_or("").to_string();
    assert_eq!(
        master(&lines[0]),
        master(&lines[1]),
        "one rendezvous: {lines:?}"
    );
    assert!(lines.iter().all(|l| l.ends_with(" train")), "{lines:?}");
    let log = t.wf(&["logs", &r.id(), "train"]);
    assert!(
        !log.stdout.contains('\u{1b}'),
        "colour codes in the log: {log:?}"
    );
}

#[test]
fn ray_a_bad_pool_or_flavor_fails_before_anything_runs() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    add_ray_pool(&t, &addr);
    let flow = pooled_flow(&t, r#""nope:cpu-1""#);
    t.run_flow(&flow, &[])
        .status(2)
        .stderr_contains("no pool `nope`");
    let flow = pooled_flow(&t, r#""ray:cpu-999""#);
    t.run_flow(&flow, &[])
        .status(2)
        .stderr_contains("pool `ray` has no flavor `cpu-999`");
    let flow = pooled_flow(&t, r#"#{ flavor_id: "huge", pool_id: "ray" }"#);
    t.run_flow(&flow, &[])
        .status(2)
        .stderr_contains("no flavor `huge`");
    assert_eq!(t.count("prep-runs"), 0, "nothing may run");
    assert_eq!(t.count("starts"), 0, "nothing may run");
    let listed = t.wf(&["executions", "--json"]);
    assert_eq!(listed.json, serde_json::json!([]), "{listed:?}");
    // A pool that no longer answers (its cluster went away after it was added).
    t.wf(&["pool", "add", "gone", "--ray", &addr]).status(0);
    let db = rusqlite::Connection::open(t.home().join("wf.db")).unwrap();
    db.execute(
        "UPDATE pools SET address = 'http://127.0.0.1:9' WHERE name = 'gone'",
        [],
    )
    .unwrap();
    drop(db);
    let flow = pooled_flow(&t, r#""gone:cpu-1""#);
    t.run_flow(&flow, &[])
        .status(1)
        .stderr_contains("pool `gone` (ray at http://127.0.0.1:9) cannot be reached");
    assert_eq!(t.count("prep-runs"), 0, "nothing may run");
    // A pool whose nodes see only another folder refuses the paths it is given.
    t.wf(&[
        "pool",
        "add",
        "narrow",
        "--ray",
        &addr,
        "--shared",
        "/nonexistent-shared",
    ])
    .status(0);
    let flow = pooled_flow(&t, r#""narrow:cpu-1""#);
    let r = t.run_flow(&flow, &[]);
    r.status(1);
    let error = r.step("train")["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.contains("is not on a path the nodes of pool `narrow` see")
            && error.contains(&t.at("root")),
        "{r:?}"
    );
    assert_eq!(t.count("starts"), 0, "the job must not be submitted");
}

#[test]
fn pool_commands_register_list_show_and_remove_pools() {
    let Some(addr) = ray() else { return };
    let t = Test::new();
    t.wf(&["pool", "list"])
        .status(0)
        .stderr_contains("no pools yet");
    t.wf(&["pool", "add", "ray", "--ray", &format!("{addr}/")])
        .status(0)
        .stdout_contains("ray:cpu-1");
    t.wf(&["pool", "add", "ray", "--ray", &addr])
        .status(2)
        .stderr_contains("already registered");
    t.wf(&["pool", "add", "x", "--ray", "127.0.0.1:8265"])
        .status(2)
        .stderr_contains("not a Ray dashboard address");
    t.wf(&["pool", "add", "gone", "--ray", "http://127.0.0.1:9"])
        .status(1)
        .stderr_contains("pool `gone` (ray at http://127.0.0.1:9) cannot be reached");
    t.wf(&["pool", "add", "x", "--partition", "p"]).status(2);
    let list = t.wf(&["pool", "list", "--json"]);
    assert_eq!(list.json[0]["name"], "ray", "{list:?}");
    assert_eq!(list.json[0]["address"], addr.as_str(), "{list:?}");
    let flavors = t.wf(&["flavors", "--json"]);
    let ids: Vec<&str> = flavors
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"cpu.small") && ids.contains(&"ray:cpu-1"),
        "{ids:?}"
    );
    t.wf(&["flavors"]).status(0).stdout_contains("ray:cpu-1");
    t.wf(&["pool", "show", "ray"])
        .status(0)
        .stdout_contains("ray:cpu-1");
    t.wf(&["pool", "show", "nope"])
        .status(2)
        .stderr_contains("no pool `nope`");
    t.wf(&["pool", "remove", "ray"]).status(0);
    t.wf(&["pool", "remove", "ray"])
        .status(2)
        .stderr_contains("no pool `ray`");
}

/// Without any cluster: what was asked wrong ends with status 2, a cluster that does not
/// answer with 1, each with its message.
#[test]
fn pool_errors_end_with_usage_or_failure_by_their_kind() {
    let t = Test::new();
    t.wf(&["pool", "show", "nope"]).status(2).stderr_contains(
        "error: no pool `nope`; none is registered: `wf pool add NAME --ray URL` or `--slurm` adds one",
    );
    t.wf(&["pool", "remove", "nope"])
        .status(2)
        .stderr_contains("no pool `nope`");
    t.wf(&["pool", "add", "a/b", "--ray", "http://127.0.0.1:9"])
        .status(2)
        .stderr_contains("`a/b` is not a pool name");
    t.wf(&["pool", "add", "x", "--ray", "127.0.0.1:8265"])
        .status(2)
        .stderr_contains("`127.0.0.1:8265` is not a Ray dashboard address");
    t.wf(&["pool", "add", "gone", "--ray", "http://127.0.0.1:9"])
        .status(1)
        .stderr_contains("pool `gone` (ray at http://127.0.0.1:9) cannot be reached: ");
    t.wf(&["pool", "list"])
        .status(0)
        .stderr_contains("no pools yet");
}

// ---------------------------------------------------------------------------------------------
// Slurm

#[test]
fn slurm_a_two_step_workflow_runs_its_second_step_on_the_pool() {
    if !slurm() {
        return;
    }
    let t = Test::new();
    add_slurm_pool(&t);
    let flow = pooled_flow(&t, r#""hpc:cpu-1""#);
    let r = t.run_flow(&flow, &[]);
    check_ran_on_pool(&t, &r, "hpc");
}

#[test]
fn slurm_resume_after_kill_9_reattaches_to_the_running_job() {
    if !slurm() {
        return;
    }
    let t = Test::new();
    add_slurm_pool(&t);
    let flow = pooled_flow(&t, r#""hpc:cpu-1""#);
    let (exec, id) = start_then_kill_runner(&t, &flow, "5");
    let r = t.wf(&["resume", &exec, "--json"]);
    r.stderr_contains(&format!("re-attached to Slurm job {id}"));
    check_ran_on_pool(&t, &r, "hpc");
    assert_eq!(r.step("train")["remote_id"], id.as_str());
}

#[test]
fn slurm_wf_stop_cancels_the_job() {
    if !slurm() {
        return;
    }
    let t = Test::new();
    add_slurm_pool(&t);
    let flow = pooled_flow(&t, r#""hpc:cpu-1""#);
    let id = start_then_stop(&t, &flow);
    assert!(
        wait_until(Duration::from_secs(30), || {
            let s = slurm_state(&id);
            s.is_empty() || s == "CANCELLED"
        }),
        "the Slurm job was not cancelled: {}",
        slurm_state(&id)
    );
}

/// A dashboard on 127.0.0.1 that answers `/nodes?view=summary` as Ray does right after
/// `ray start`: no alive node for its first `starting` answers, then one node of 4 CPUs.
fn starting_dashboard(starting: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = if n < starting {
                r#"{"result": true, "msg": "Node summary fetched.", "data": {"summary": []}}"#
            } else {
                r#"{"result": true, "data": {"summary": [{"raylet": {"state": "ALIVE",
                "resourcesTotal": {"CPU": 4.0, "memory": 4294967296.0}}}]}}"#
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn pool_add_waits_for_a_starting_ray_cluster_to_have_a_node() {
    let t = Test::new();
    let addr = starting_dashboard(3);
    let r = t.wf(&["pool", "add", "fresh", "--ray", &addr, "--json"]);
    r.status(0)
        .stderr_contains("pool `fresh`: the cluster has no alive node; waiting up to 30 s");
    assert!(
        r.json["flavors"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["cpu"] == 4)),
        "{r:?}"
    );
    t.wf(&["pool", "list", "--json"])
        .status(0)
        .stdout_contains("fresh");
}
