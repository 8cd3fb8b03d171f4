//! The invalid-script corpus: every `tests/invalid/*.rhai` (top level only; helper modules live
//! in subfolders) must be refused by `wf check` with exit status 1, without a panic, and with
//! exactly the stderr recorded in the golden file beside it, `X.stderr`.
//!
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test invalid`, then read them.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const MIN_CASES: usize = 40;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// Renders the first differing line of two texts with both full texts, for a readable failure.
fn describe_mismatch(expected: &str, actual: &str) -> String {
    let mut msg = String::new();
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = (0..e.len().max(a.len())).find(|&i| e.get(i) != a.get(i));
    if let Some(i) = first {
        let _ = writeln!(msg, "  first difference at line {}:", i + 1);
        let _ = writeln!(
            msg,
            "  - expected: {:?}",
            e.get(i).copied().unwrap_or("<end of text>")
        );
        let _ = writeln!(
            msg,
            "  + actual:   {:?}",
            a.get(i).copied().unwrap_or("<end of text>")
        );
    } else {
        let _ = writeln!(msg, "  (texts differ only in trailing newlines)");
    }
    let _ = writeln!(msg, "  --- expected");
    for l in &e {
        let _ = writeln!(msg, "  -{l}");
    }
    let _ = writeln!(msg, "  +++ actual");
    for l in &a {
        let _ = writeln!(msg, "  +{l}");
    }
    msg
}

struct Outcome {
    shown: String,
    code: Option<i32>,
    stderr: String,
}

/// Runs `wf check tests/invalid/X.rhai` from the manifest directory with `NO_COLOR=1`.
fn run_check(rel: &Path) -> Outcome {
    let shown = rel.to_string_lossy().replace('\\', "/");
    let output = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("check")
        .arg(&shown)
        .current_dir(manifest_dir())
        .env("NO_COLOR", "1")
        .env_remove("WF_HOME")
        .output()
        .unwrap_or_else(|e| panic!("cannot run wf: {e}"));
    Outcome {
        shown,
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs every case, a few at a time (some deliberately run into the sandbox's limits).
fn run_all(cases: &[PathBuf]) -> Vec<Outcome> {
    let workers = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(8);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(rel) = cases.get(i) else { break };
                let outcome = run_check(rel);
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
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0");
    let cases = cases();
    let mut failures: Vec<String> = Vec::new();
    let mut updated = 0usize;

    for (
        rel,
        Outcome {
            shown,
            code,
            stderr,
        },
    ) in cases.iter().zip(run_all(&cases))
    {
        let mut problems: Vec<String> = Vec::new();
        if code != Some(1) {
            problems.push(format!("  exit status {code:?}, expected Some(1)\n"));
        }
        if stderr.contains("panicked") {
            problems.push(format!("  wf panicked:\n{stderr}\n"));
        }

        let golden = manifest_dir().join(rel.with_extension("stderr"));
        if update {
            if fs::read_to_string(&golden).ok().as_deref() != Some(stderr.as_str()) {
                fs::write(&golden, &stderr)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", golden.display()));
                updated += 1;
            }
        } else {
            match fs::read_to_string(&golden) {
                Ok(expected) if expected == stderr => {}
                Ok(expected) => problems.push(format!(
                    "  stderr differs from {}\n{}",
                    golden.display(),
                    describe_mismatch(&expected, &stderr)
                )),
                Err(e) => problems.push(format!(
                    "  no golden {} ({e}); run with UPDATE_GOLDEN=1. actual stderr:\n{stderr}\n",
                    golden.display()
                )),
            }
        }

        if !problems.is_empty() {
            failures.push(format!("{shown}:\n{}", problems.concat()));
        }
    }

    if update {
        eprintln!("UPDATE_GOLDEN: {updated} golden file(s) written");
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
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0") {
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
