//! The invalid-script corpus: every `tests/invalid/*.rhai` (top level only; helper modules live
//! in subfolders) must be refused by `wf check` with exit status 1, without a panic, and with
//! exactly the stderr recorded in the golden file beside it, `X.stderr`.
//!
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test integration invalid::`, then
//! read them. A script without its golden fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::test::{check_golden, update_golden, Ran, Test, MANIFEST_DIR};

const MIN_CASES: usize = 40;

fn manifest_dir() -> &'static Path {
    Path::new(MANIFEST_DIR)
}

/// The corpus' scripts, sorted, as paths relative to the manifest directory.
fn cases() -> Vec<PathBuf> {
    let dir = manifest_dir().join("tests").join("invalid");
    let mut out: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rhai"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_owned();
            Path::new("tests").join("invalid").join(name)
        })
        .collect();
    out.sort();
    out
}

/// Runs `wf check tests/invalid/X.rhai` from the manifest directory with `NO_COLOR=1`.
/// (`run` fails the test if `wf` panics.)
fn run_check(test: &Test, rel: &Path) -> Ran {
    let shown = rel.to_string_lossy().replace('\\', "/");
    test.args(&["check", &shown])
        .current_dir(manifest_dir())
        .run()
}

/// Runs every case, a few at a time (some deliberately run into the sandbox's limits).
fn run_all(cases: &[PathBuf]) -> Vec<Ran> {
    let test = Test::new();
    let workers = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(8);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Ran)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(rel) = cases.get(i) else { break };
                let outcome = run_check(&test, rel);
                results.lock().unwrap().push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}

#[test]
fn invalid_scripts_are_refused_with_the_recorded_errors() {
    let cases = cases();
    let mut failures: Vec<String> = Vec::new();

    for (rel, Ran { code, stderr, .. }) in cases.iter().zip(run_all(&cases)) {
        let shown = rel.display();
        let mut problems: Vec<String> = Vec::new();
        if code != 1 {
            problems.push(format!("  exit status {code}, expected 1\n"));
        }

        let golden = manifest_dir().join(rel.with_extension("stderr"));
        if let Err(problem) = check_golden(&golden, &stderr) {
            problems.push(format!("  stderr: golden {problem}"));
        }

        if !problems.is_empty() {
            failures.push(format!("{shown}:\n{}", problems.concat()));
        }
    }

    if !failures.is_empty() {
        panic!(
            "{} of {} invalid script(s) misbehaved:\n\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
}

#[test]
fn every_case_has_a_golden_and_every_golden_a_case() {
    if update_golden() {
        return;
    }
    let dir = manifest_dir().join("tests").join("invalid");
    let mut orphans = Vec::new();
    for entry in fs::read_dir(&dir).expect("tests/invalid") {
        let p = entry.expect("directory entry").path();
        if p.extension().is_some_and(|x| x == "stderr") && !p.with_extension("rhai").is_file() {
            orphans.push(p.display().to_string());
        }
    }
    assert!(
        orphans.is_empty(),
        "golden files without a script: {orphans:#?}"
    );
}

#[test]
fn the_corpus_has_enough_cases() {
    let n = cases().len();
    assert!(
        n >= MIN_CASES,
        "only {n} invalid scripts under tests/invalid, expected at least {MIN_CASES}"
    );
}

const FLAVOR_FLOW: &str = r#"let fl = wf.Placeholder(#{ name: "train_flavor", placeholder_type: wf.PlaceholderType.JSON });
let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j", algorithm: wf.BaseAlgorithm(#{ command: "true" }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: fl }) }),
  inputs: wf.steps.JobInput("i", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] })
"#;

#[test]
fn a_flavor_object_without_flavor_id_is_refused_before_anything_runs() {
    let t = Test::new();
    t.write("flow.rhai", FLAVOR_FLOW);
    let script = t.at("flow.rhai");
    let r = t.run_flow(&script, &["-p", r#"train_flavor={"flavour": "cpu.small"}"#]);
    r.status(2)
        .stderr_contains("-p train_flavor: the flavor object has no `flavor_id`")
        .stderr_contains("`flavour`: did you mean `flavor_id`?");
    let r = t.run_flow(&script, &["-p", r#"train_flavor={"flavor_id": 7}"#]);
    r.status(2)
        .stderr_contains("-p train_flavor: `flavor_id` is int (7), not a flavor id");
    // Nothing was recorded.
    let listed = t.wf(&["executions", "--json"]);
    listed.status(0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&listed.stdout).unwrap(),
        serde_json::json!([]),
        "{}",
        listed.stdout
    );
}

#[test]
fn a_flavor_given_as_a_json_string_is_that_string() {
    let t = Test::new();
    t.write("flow.rhai", FLAVOR_FLOW);
    let script = t.at("flow.rhai");
    t.run_flow(&script, &["-p", r#"train_flavor="cpu.small""#])
        .status(0);
    let r = t.run_flow(&script, &["-p", r#"train_flavor="gpu.99""#]);
    r.status(2)
        .stderr_contains("-p train_flavor: no flavor `gpu.99` on this machine");
    t.write("params.json", r#"{"train_flavor": "cpu.small"}"#);
    t.run_flow(&script, &["--params", &t.at("params.json")])
        .status(0);
}
