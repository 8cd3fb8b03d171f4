//! Every script shipped in `scripts/` and `examples/` checks, and the graph of each reference
//! example matches its golden file (`UPDATE_GOLDEN=1 cargo test` rewrites them; a missing one
//! fails). Each golden definition is read back by `wf graph` and gives itself again.

use std::path::{Path, PathBuf};

use crate::test::{check_golden, Ran, Test, MANIFEST_DIR as ROOT};

/// `wf ARGS` from the repository's root, the scripts named as a user there would name them.
fn wf(test: &Test, args: &[&str]) -> Ran {
    test.args(args).current_dir(ROOT).run()
}

fn rhai_files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(ROOT).join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rhai") {
                out.push(p.strip_prefix(ROOT).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Modules imported by other scripts are not workflows themselves.
fn is_module(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "modules")
}

#[test]
fn every_script_and_example_checks() {
    let mut failures = Vec::new();
    let files: Vec<PathBuf> = rhai_files("scripts")
        .into_iter()
        .chain(rhai_files("examples"))
        .filter(|p| !is_module(p))
        .collect();
    assert!(files.len() >= 30, "only {} scripts", files.len());
    let test = Test::new();
    for f in &files {
        let r = wf(&test, &["check", f.to_str().unwrap()]);
        if r.code != 0 || r.stderr.contains("error") {
            failures.push(format!("{}:\n{}", f.display(), r.stderr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reference_graphs_match_golden_files() {
    let golden_dir = Path::new(ROOT).join("tests/golden/graph");
    let mut failures = Vec::new();
    let files = rhai_files("scripts/reference");
    assert!(files.len() >= 30, "only {} reference examples", files.len());
    let test = Test::new();
    for f in &files {
        let actual = wf(&test, &["graph", f.to_str().unwrap(), "--format", "json"]).stdout;
        let golden = golden_dir
            .join(f.file_stem().unwrap())
            .with_extension("json");
        if let Err(problem) = check_golden(&golden, &actual) {
            failures.push(format!("{}: graph: golden {problem}", f.display()));
            continue;
        }
        // The definition is a complete description: read back, it prints itself again.
        let rel = golden.strip_prefix(ROOT).unwrap();
        let again = wf(&test, &["graph", rel.to_str().unwrap(), "--format", "json"]);
        if again.stdout != actual {
            failures.push(format!(
                "{}: reading the definition back changes it: {again:?}",
                rel.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dot_and_mermaid_draw_every_edge() {
    let test = Test::new();
    let out = wf(
        &test,
        &["graph", "examples/train_and_branch.rhai", "--format", "dot"],
    );
    let dot = &out.stdout;
    assert!(
        dot.contains("\"clf_gate\" -> \"publish\" [label=\"if true\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"clf_train\" -> \"clf_evaluate\" [label=\"model_url\"];"),
        "{dot}"
    );
    let out = wf(
        &test,
        &[
            "graph",
            "examples/train_and_branch.rhai",
            "--format",
            "mermaid",
        ],
    );
    let mm = &out.stdout;
    assert!(mm.starts_with("flowchart LR\n"), "{mm}");
    assert!(mm.contains("-->|if false|"), "{mm}");
}

#[test]
fn check_summarises_steps_parameters_and_storages() {
    let out = wf(&Test::new(), &["check", "examples/train_and_branch.rhai"]);
    out.status(0);
    let text = &out.stdout;
    assert!(
        text.contains("publish       job        after clf_gate (if true), clf_train (model_url)"),
        "{text}"
    );
    assert!(
        text.contains("threshold  FLOAT  default 0.8  \"accuracy needed to publish\""),
        "{text}"
    );
    assert!(text.contains("output  (wf.data.OutputStorage)"), "{text}");
}

#[test]
fn check_json_is_one_object() {
    let out = wf(
        &Test::new(),
        &["check", "examples/train_and_branch.rhai", "--json"],
    );
    out.status(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(v["valid"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["steps"][4]["depends_on"],
        serde_json::json!(["clf_gate", "clf_train"])
    );
    assert_eq!(v["parameters"][0]["name"], "epochs");
}

#[test]
fn the_readmes_script_checks() {
    let t = Test::new();
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let script = readme
        .split("```rhai\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README shows a script");
    t.write("readme.rhai", script);
    t.wf(&["check", &t.at("readme.rhai")]).status(0);
}
