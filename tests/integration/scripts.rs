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

/// The reference ports of §4.4.1–§4.4.4 run, one after another on one home, on the fixture
/// folders beside them (`scripts/reference/data/`): each does to the datasets what the
/// manual says it does.
#[test]
fn reference_dataset_phases_run_on_their_fixtures() {
    let test = Test::new();
    let data = format!("{ROOT}/scripts/reference/data");
    let run = |script: &str, params: &[String]| -> Ran {
        let path = format!("scripts/reference/{script}.rhai");
        let mut args: Vec<String> = vec!["run".into(), path, "--json".into()];
        for p in params {
            args.push("-p".into());
            args.push(p.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wf(&test, &args)
    };
    let show = |name: &str| -> serde_json::Value {
        let r = wf(&test, &["dataset", "show", name, "--json"]);
        r.status(0);
        r.json.clone()
    };
    let out = |n: &str| format!("dataset_output_path={}", test.at(n));

    // §4.4.1: a dataset from unlabelled pictures, and one with their labels imported.
    run(
        "s4_4_1_3_create_dataset_unlabeled",
        &[
            "dataset_name=plain".into(),
            format!("obs_placeholder_name={data}/more_pictures"),
            out("out1"),
        ],
    )
    .status(0);
    assert_eq!(show("plain")["samples"], 2);
    run(
        "s4_4_1_3_create_dataset_labeled",
        &[
            "dataset_placeholder_name=pics".into(),
            format!("obs_placeholder_name={data}/pictures"),
            out("out2"),
        ],
    )
    .status(0);
    let pics = show("pics");
    assert_eq!(
        (pics["samples"].clone(), pics["labelled"].clone()),
        (6.into(), 4.into())
    );
    assert_eq!(pics["labels"]["rose"], 2);
    assert!(test.read("out2/manifest.json").lines().count() == 6);

    // §4.4.3: unlabelled pictures into a dataset.
    run(
        "s4_4_3_3_import_unlabeled_to_dataset",
        &[
            "input_dataset=pics".into(),
            format!("obs_placeholder_name={data}/more_pictures"),
        ],
    )
    .status(0);
    assert_eq!(show("pics")["samples"], 8);

    // §4.4.2: a labeling task on the dataset awaits its 4 unlabelled pictures.
    let r = run(
        "s4_4_2_3_labeling_dataset",
        &[
            "input_dataset=pics".into(),
            "placeholder_name=round1".into(),
        ],
    );
    r.status(3);
    assert_eq!(r.step_status("labeling"), "awaiting_input");
    let exec = r.id();
    wf(&test, &["proceed", &exec, "labeling"])
        .status(2)
        .stderr_contains("4 unlabelled");
    wf(
        &test,
        &[
            "label",
            "pics/round1",
            "import",
            &format!("{data}/labels.tsv"),
        ],
    )
    .status(0);
    wf(&test, &["proceed", &exec, "labeling", "--json"]).status(0);
    // ... and labeling the task itself finds nothing left to do.
    run(
        "s4_4_2_3_labeling_job",
        &["label_task_placeholder_name=pics/round1".into()],
    )
    .status(0);

    // §4.4.4: versions of the dataset and of the task.
    let r = run(
        "s4_4_4_3_release_dataset_version",
        &["input_dataset=pics".into()],
    );
    r.status(0);
    let v = &r.step("release_dataset")["outputs"]["output_name"]["dataset"];
    assert_eq!(v["version_name"], "V001");
    assert_eq!(v["samples"], 8);
    let r = run(
        "s4_4_4_3_release_labeling_job_version",
        &["label_task_placeholder_name=pics/round1".into()],
    );
    r.status(0);
    let versions = show("pics")["versions"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(
        (versions[0]["train"].clone(), versions[0]["eval"].clone()),
        (6.into(), 2.into())
    );
    run(
        "s4_4_4_3_release_after_labeling",
        &["label_task_placeholder_name=pics/round1".into()],
    )
    .status(0);
    assert_eq!(show("pics")["versions"][2]["version_name"], "V003");

    // §4.4.3: labelled pictures into a dataset and into a task; unlabelled into a task.
    run(
        "s4_4_3_3_import_labeled_to_dataset",
        &[
            "input_dataset=plain".into(),
            format!("obs_placeholder_name={data}/pictures"),
        ],
    )
    .status(0);
    let plain = show("plain");
    assert_eq!(
        (plain["samples"].clone(), plain["labelled"].clone()),
        (8.into(), 4.into())
    );
    for script in [
        "s4_4_3_3_import_labeled_to_labeling_job",
        "s4_4_3_3_import_unlabeled_to_labeling_job",
    ] {
        run(
            script,
            &[
                "label_task_placeholder_name=pics/round1".into(),
                format!("obs_placeholder_name={data}/pictures"),
            ],
        )
        .status(0);
    }
    assert_eq!(show("pics")["samples"], 8);

    // A creation followed by labeling, and by an import, in one workflow each.
    let r = run(
        "s4_4_2_3_labeling_after_create_dataset",
        &[
            "dataset_name=fresh".into(),
            format!("obs_placeholder_name={data}/pictures"),
            out("out3"),
            "placeholder_name=first".into(),
        ],
    );
    r.status(3);
    assert_eq!(r.step_status("create_dataset"), "executed");
    let r = run(
        "s4_4_3_3_import_after_create_dataset",
        &[
            "dataset_name=fresh2".into(),
            format!("create_dataset_obs_placeholder_name={data}/pictures"),
            format!("obs_placeholder_name={data}/more_pictures"),
            out("out4"),
        ],
    );
    r.status(0);
    assert_eq!(show("fresh2")["samples"], 8);
}

#[test]
fn a_script_with_errors_starts_nothing_it_calls_run_on() {
    let t = crate::test::Test::new();
    t.write(
        "flow.rhai",
        r#"let storage = wf.data.OutputStorage(#{ name: "out" });
let j = wf.steps.JobStep(#{ name: "j", algorithm: wf.BaseAlgorithm(#{ command: "touch ran" }),
  inputs: wf.steps.JobInput("data", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }) });
let workflow = wf.Workflow(#{ name: "w", desc: "d", steps: [j], storages: [storage] });
workflow.run(#{});
workflow
"#,
    );
    let r = t.wf(&["run", &t.at("flow.rhai"), "--storage", &t.storage()]);
    r.status(1)
        .stderr_contains("spec")
        .stderr_contains("`run` starts nothing: the script has 1 error");
    assert!(!t.path("ran").exists(), "the job of an invalid script ran");
    let listed = t.wf(&["executions", "--json"]);
    assert_eq!(listed.json, serde_json::json!([]), "{listed:?}");
}
