//! The dataset service from the outside (README, "Datasets"): datasets made from folders in every
//! label format, labeling tasks that pause an execution until a person has labelled every
//! sample, released versions a job is given as a folder, and what a killed runner leaves.
//!
//! Sample files are generated in each test's temporary folder (small distinct texts standing
//! in for images); the label-format fixtures are `tests/fixtures/formats/` and its README's
//! table of counts.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::test::{dir_output, flow, input, job, q, step, Ran, Runner, Test, MANIFEST_DIR};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A folder of the label-format fixtures.
fn fixture(dir: &str) -> String {
    format!("{MANIFEST_DIR}/tests/fixtures/formats/{dir}")
}

/// `wf dataset show NAME[@VERSION] --json`, which must succeed.
#[track_caller]
fn show(t: &Test, name: &str) -> Value {
    let r = t.wf(&["dataset", "show", name, "--json"]);
    r.status(0);
    assert!(r.json.is_object(), "not a JSON object: {r:?}");
    r.json
}

/// `wf label TASK show --json [--unlabelled]`, which must succeed.
#[track_caller]
fn task(t: &Test, task: &str, unlabelled: bool) -> Value {
    let mut args = vec!["label", task, "show", "--json"];
    if unlabelled {
        args.push("--unlabelled");
    }
    let r = t.wf(&args);
    r.status(0);
    assert!(r.json.is_object(), "not a JSON object: {r:?}");
    r.json
}

/// The sample names of a `wf label ... show --json`, sorted.
fn sample_names(shown: &Value) -> Vec<String> {
    let mut names: Vec<String> = shown["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no samples: {shown:#}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("?").to_string())
        .collect();
    names.sort();
    names
}

/// The version `name` in a `wf dataset show NAME --json`.
fn version<'a>(dataset: &'a Value, name: &str) -> &'a Value {
    dataset["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["version_name"] == name))
        .unwrap_or_else(|| panic!("no version {name}: {dataset:#}"))
}

/// The lines of a manifest, parsed (blank lines passed over).
fn manifest_lines(path: &Path) -> Vec<Value> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {l}", path.display()))
        })
        .collect()
}

/// The outputs of `step` that carry a dataset record (`outputs.NAME.dataset`).
fn dataset_outputs(record: &Value, name: &str) -> Vec<Value> {
    let outputs = step(record, name)["outputs"].as_object();
    outputs
        .into_iter()
        .flat_map(|o| o.values())
        .map(|v| v["dataset"].clone())
        .filter(|d| d.is_object())
        .collect()
}

/// The one dataset record among the outputs of `step`.
#[track_caller]
fn dataset_output(record: &Value, name: &str) -> Value {
    let mut all = dataset_outputs(record, name);
    assert_eq!(
        all.len(),
        1,
        "step `{name}` has not one dataset output:\n{record:#}"
    );
    all.remove(0)
}

/// A script releasing a version of the dataset `name`, TRAIN share `ratio`.
fn release_script(name: &str, ratio: &str) -> String {
    r#"let release = wf.steps.ReleaseDatasetStep(#{
    name: "release",
    inputs: wf.steps.ReleaseDatasetInput(#{ name: "dataset", data: wf.data.Dataset(#{ dataset_name: NAME }) }),
    outputs: wf.steps.ReleaseDatasetOutput(#{ name: "version",
        dataset_version_config: wf.data.DatasetVersionConfig(#{ train_evaluate_sample_ratio: RATIO }) }),
});
wf.Workflow(#{ name: "release", desc: "release a version", steps: [release] })
"#
    .replace("NAME", &q(name))
    .replace("RATIO", &q(ratio))
}

/// Releases a version of `name` (ratio 0.8) with `release_NAME.rhai`; the version's name.
#[track_caller]
fn release(t: &Test, name: &str) -> String {
    let script = t
        .write(
            &format!("release_{name}.rhai"),
            &release_script(name, "0.8"),
        )
        .at(&format!("release_{name}.rhai"));
    let r = t.wf(&["run", &script, "--json"]);
    r.status(0);
    dataset_output(&r.json, "release")["version_name"]
        .as_str()
        .unwrap_or_else(|| panic!("the release recorded no version name: {r:?}"))
        .to_string()
}

/// A python job that reads the dataset folder in `$VAR` and writes to `OUT` the counts of
/// its manifest's lines by usage, and the `source`s that are not files of that folder.
const COUNT_PY: &str = r#"import json, os, sys
out, var = sys.argv[1], sys.argv[2]
root = os.environ[var]
lines, train, evals, missing, absolute = 0, 0, 0, [], []
with open(os.path.join(root, "manifest.json")) as f:
    for line in f:
        if not line.strip():
            continue
        m = json.loads(line)
        lines += 1
        train += m.get("usage") == "TRAIN"
        evals += m.get("usage") == "EVAL"
        src = m["source"]
        if os.path.isabs(src):
            absolute.append(src)
        if not os.path.isfile(os.path.join(root, src)):
            missing.append(src)
json.dump({"root": root, "lines": lines, "train": train, "eval": evals,
           "missing": missing, "absolute": absolute}, open(out, "w"))
"#;

/// The command of a job counting the dataset of its input `input` into `out` (see `COUNT_PY`).
fn count_command(t: &Test, input: &str, out: &str) -> String {
    t.write("count.py", COUNT_PY);
    format!(
        "python3 '{}' '{}' WF_INPUT_{}",
        t.at("count.py"),
        t.at(out),
        input.to_uppercase()
    )
}

/// What the counting job wrote, `Null` when it did not run.
fn counts(t: &Test, out: &str) -> Value {
    serde_json::from_str(&t.read(out)).unwrap_or(Value::Null)
}

/// The folder `zoo/` in MA_IMAGENET_V1 layout: cat/1..5 and dog/1..5, plus `cat/1copy.jpg`
/// and `dog/5again.jpg`, same bytes as `cat/1.jpg` and `dog/5.jpg`: 12 files, 10 samples.
fn write_zoo(t: &Test) -> String {
    for i in 1..=5 {
        t.write(&format!("zoo/cat/{i}.jpg"), &format!("FAKEJPG:cat {i}\n"));
        t.write(&format!("zoo/dog/{i}.jpg"), &format!("FAKEJPG:dog {i}\n"));
    }
    t.write("zoo/cat/1copy.jpg", "FAKEJPG:cat 1\n");
    t.write("zoo/dog/5again.jpg", "FAKEJPG:dog 5\n");
    t.at("zoo")
}

/// `wf dataset create zoo --from zoo/ --type IMAGE --format MA_IMAGENET_V1`.
#[track_caller]
fn create_zoo(t: &Test) -> Ran {
    let r = t.wf(&[
        "dataset",
        "create",
        "zoo",
        "--from",
        &t.at("zoo"),
        "--type",
        "IMAGE",
        "--format",
        "MA_IMAGENET_V1",
    ]);
    r.status(0);
    r
}

/// The dataset `zoo` with V001 (10 samples) and V002 (12: two files added to the folder).
fn zoo_with_two_versions(t: &Test) {
    write_zoo(t);
    create_zoo(t);
    assert_eq!(release(t, "zoo"), "V001");
    t.write("zoo/cat/6.jpg", "FAKEJPG:cat 6\n");
    t.write("zoo/dog/6.jpg", "FAKEJPG:dog 6\n");
    create_zoo(t);
    assert_eq!(release(t, "zoo"), "V002");
}

/// Whether the runner printed that `step` is running (its progress lines on stderr).
fn started(runner: &Runner, step: &str) -> bool {
    runner.stderr().lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() >= 3 && w[1] == step && w[2] == "running"
    })
}

/// Waits, polling often, for the runner to print that `step` is running.
#[track_caller]
fn await_start(runner: &Runner, step: &str) {
    let start = Instant::now();
    while !started(runner, step) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "`{step}` never started: {}",
            runner.stderr()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGKILL, also when the runner has just ended (a zombie takes the signal).
fn kill_9(runner: &mut Runner) {
    runner.signal("KILL");
    assert!(
        runner.wait(Duration::from_secs(10)).is_some(),
        "the runner outlived SIGKILL"
    );
}

/// What a killed import or release may not leave: a dataset of `samples` samples, every listed
/// version whole (a manifest of as many lines as its samples, each `source` a file once the
/// newest version is exported, with `export`), and no folder among the versions that is not a listed version
/// (work in progress is hidden, named with a leading dot).
#[track_caller]
fn check_whole(t: &Test, name: &str, samples: u64, export: bool) -> Vec<String> {
    let shown = show(t, name);
    assert_eq!(shown["samples"], samples, "samples of `{name}`: {shown:#}");
    let listed: Vec<String> = shown["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("no versions list: {shown:#}"))
        .iter()
        .map(|v| v["version_name"].as_str().unwrap_or("?").to_string())
        .collect();
    for v in &listed {
        let one = show(t, &format!("{name}@{v}"));
        let n = one["samples"].as_u64().unwrap_or(0);
        assert_eq!(n, samples, "{name}@{v} has another sample count: {one:#}");
        let path = PathBuf::from(one["path"].as_str().unwrap_or("?"));
        let lines = manifest_lines(&path.join("manifest.json"));
        assert_eq!(lines.len() as u64, n, "{name}@{v}'s manifest is not whole");
        let mut ids: Vec<&str> = lines
            .iter()
            .map(|l| l["id"].as_str().unwrap_or("?"))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len() as u64,
            n,
            "{name}@{v}'s manifest repeats a sample"
        );
    }
    // Exporting the newest shows that the samples behind a version are all there.
    if let Some(v) = listed.last().filter(|_| export) {
        let dest = t.path(&format!("export_{name}_{v}"));
        if !dest.exists() {
            t.wf(&[
                "dataset",
                "export",
                &format!("{name}@{v}"),
                dest.to_str().unwrap(),
            ])
            .status(0);
            let files = fs::read_dir(dest.join("data")).unwrap().count() as u64;
            assert_eq!(files, samples, "export of {name}@{v}: {files} files");
        }
    }
    let vdir = t.home().join("datasets/sets").join(name).join("versions");
    if let Ok(entries) = fs::read_dir(&vdir) {
        for e in entries {
            let f = e.unwrap().file_name().to_string_lossy().to_string();
            assert!(
                f.starts_with('.') || listed.contains(&f),
                "`{}` holds `{f}`, which is not a listed version of {listed:?}",
                vdir.display()
            );
        }
    }
    listed
}

// ---------------------------------------------------------------------------------------------
// 1. The whole lifecycle in one workflow

#[test]
fn create_label_release_and_train_in_one_workflow_pausing_for_labels() {
    let t = Test::new();
    for i in 0..20 {
        t.write(
            &format!("images/img_{i:02}.jpg"),
            &format!("FAKEJPG:img {i}\n"),
        );
    }
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "images", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{ dataset_name: "pets", data_type: wf.data.DataTypeEnum.IMAGE }),
});
let labeling = wf.steps.LabelingStep(#{
    name: "labeling",
    properties: wf.steps.LabelTaskProperties(#{
        task_type: wf.data.LabelTaskTypeEnum.IMAGE_CLASSIFICATION,
        task_name: "round1",
        labels: [wf.steps.Label(#{ name: "cat" }), wf.steps.Label(#{ name: "dog" })],
    }),
    inputs: wf.steps.LabelingInput(#{ name: "dataset", data: create.outputs["dataset"].as_input() }),
    outputs: wf.steps.LabelingOutput(#{ name: "task" }),
    depend_steps: create,
});
let release = wf.steps.ReleaseDatasetStep(#{
    name: "release",
    inputs: wf.steps.ReleaseDatasetInput(#{ name: "task", data: labeling.outputs["task"].as_input() }),
    outputs: wf.steps.ReleaseDatasetOutput(#{ name: "version",
        dataset_version_config: wf.data.DatasetVersionConfig(#{ train_evaluate_sample_ratio: "0.8" }) }),
    depend_steps: labeling,
});
"#
    .replace("SRC", &q(&t.at("images")));
    let train = job("train", &count_command(&t, "data_url", "counts.json"))
        .inputs(&[&input(
            "data_url",
            r#"release.outputs["version"].as_input()"#,
        )])
        .after(&["release"]);
    let script = t
        .write(
            "flow.rhai",
            &flow(
                "pets",
                &body,
                &[train],
                &["create", "labeling", "release", "train"],
            ),
        )
        .at("flow.rhai");

    // No terminal to label at: the execution pauses at the labeling step, saying how to go on.
    let r = t.run_flow(&script, &[]);
    r.status(3);
    let id = r.id();
    assert_eq!(r.exec_status(), "awaiting_input", "{:#}", r.json);
    assert_eq!(r.step_status("create"), "executed", "{:#}", r.json);
    let created = dataset_output(&r.json, "create");
    assert_eq!(created["dataset_name"], "pets", "{created:#}");
    assert_eq!(created["samples"], 20, "{created:#}");
    assert_eq!(created["version_name"], Value::Null, "{created:#}");
    assert_eq!(r.step_status("labeling"), "awaiting_input", "{:#}", r.json);
    assert_eq!(r.step_status("release"), "waiting", "{:#}", r.json);
    assert_eq!(r.step_status("train"), "waiting", "{:#}", r.json);
    let reason = r.step("labeling")["reason"].as_str().unwrap_or("");
    assert!(reason.contains("wf label pets/round1"), "reason: {reason}");
    assert!(
        reason.contains(&format!("wf proceed {id} labeling")),
        "reason: {reason}"
    );
    let shown = task(&t, "pets/round1", false);
    assert_eq!(shown["task_type"], "IMAGE_CLASSIFICATION", "{shown:#}");
    assert_eq!(shown["labels"], json!(["cat", "dog"]), "{shown:#}");
    assert_eq!(shown["labelled"], 0, "{shown:#}");
    assert_eq!(shown["unlabelled"], 20, "{shown:#}");
    let all: Vec<String> = (0..20).map(|i| format!("img_{i:02}.jpg")).collect();
    assert_eq!(sample_names(&shown), all);

    // 15 labels from a file: the step refuses to go on while 5 remain.
    let tsv: String = (0..15)
        .map(|i| {
            format!(
                "img_{i:02}.jpg\t{}\n",
                if i % 2 == 0 { "cat" } else { "dog" }
            )
        })
        .collect();
    t.write("labels.tsv", &tsv);
    t.wf(&["label", "pets/round1", "import", &t.at("labels.tsv")])
        .status(0);
    let r = t.wf(&["proceed", &id, "labeling", "--json"]);
    r.status(2)
        .stderr_contains("5 unlabelled")
        .stderr_contains("of 20");
    let record = t.wf(&["show", &id, "--json"]);
    assert_eq!(record.exec_status(), "awaiting_input", "{record:?}");
    assert_eq!(
        record.step_status("labeling"),
        "awaiting_input",
        "{record:?}"
    );
    assert_eq!(counts(&t, "counts.json"), Value::Null, "the job ran early");
    let left = task(&t, "pets/round1", true);
    assert_eq!(left["labelled"], 15, "{left:#}");
    assert_eq!(left["unlabelled"], 5, "{left:#}");
    assert_eq!(sample_names(&left), all[15..].to_vec(), "{left:#}");

    // The last five one by one: four by name, one by a prefix of its content hash.
    for i in 15..19 {
        t.wf(&[
            "label",
            "pets/round1",
            "set",
            &format!("img_{i:02}.jpg"),
            "cat",
        ])
        .status(0);
    }
    let last = left["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "img_19.jpg")
        .unwrap_or_else(|| panic!("img_19.jpg not unlabelled: {left:#}"));
    let prefix = &last["id"].as_str().unwrap()[..8];
    t.wf(&["label", "pets/round1", "set", prefix, "dog"])
        .status(0);
    let done = task(&t, "pets/round1", false);
    assert_eq!(done["unlabelled"], 0, "{done:#}");
    let img19 = done["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "img_19.jpg")
        .unwrap();
    assert_eq!(img19["labels"], json!(["dog"]), "{done:#}");

    // Now it carries on to its end; the job is given version V001 as a folder.
    let r = t.wf(&["proceed", &id, "labeling", "--json"]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed", "{r:?}");
    for s in ["create", "labeling", "release", "train"] {
        assert_eq!(r.step_status(s), "executed", "{r:?}");
    }
    let c = counts(&t, "counts.json");
    assert_eq!(c["lines"], 20, "the job's counts: {c:#}");
    assert_eq!(c["train"], 16, "the job's counts: {c:#}");
    assert_eq!(c["eval"], 4, "the job's counts: {c:#}");
    assert_eq!(c["missing"], json!([]), "sources not in the folder: {c:#}");
    assert_eq!(c["absolute"], json!([]), "absolute sources: {c:#}");

    let latest = t.wf(&["show", "latest", "--json"]);
    latest.status(0);
    let task_out = dataset_output(&latest.json, "labeling");
    assert_eq!(task_out["task_name"], "round1", "{task_out:#}");
    assert_eq!(task_out["labelled"], 20, "{task_out:#}");
    assert_eq!(task_out["unlabelled"], 0, "{task_out:#}");
    let released = dataset_output(&latest.json, "release");
    assert_eq!(released["dataset_name"], "pets", "{released:#}");
    assert_eq!(released["version_name"], "V001", "{released:#}");
    assert_eq!(released["samples"], 20, "{released:#}");
    assert_eq!(
        c["root"].as_str().map(|p| p.trim_end_matches('/')),
        released["path"].as_str().map(|p| p.trim_end_matches('/')),
        "the job was given another folder than the released version's"
    );

    let pets = show(&t, "pets");
    assert_eq!(pets["samples"], 20, "{pets:#}");
    assert_eq!(pets["labelled"], 20, "{pets:#}");
    assert_eq!(pets["labels"], json!({"cat": 12, "dog": 8}), "{pets:#}");
    let v = &pets["versions"][0];
    assert_eq!(v["version_name"], "V001", "{pets:#}");
    assert_eq!(v["samples"], 20, "{pets:#}");
    assert_eq!(v["train"], 16, "{pets:#}");
    assert_eq!(v["eval"], 4, "{pets:#}");
}

// ---------------------------------------------------------------------------------------------
// 2. Label formats on import

#[test]
fn every_label_format_imports_its_fixture_with_the_readmes_counts() {
    let t = Test::new();
    // (folder, format, data type, samples, labelled, samples per label). The README's counts,
    // but for its duplicate pair: `ma_image_classification_v1` holds 5 files of 4 distinct
    // contents (`dup_a.jpg` = `dup_b.jpg`, both cat), so the dataset has 4 samples, 3 of them
    // labelled, and cat on 2 of them.
    let table: &[(&str, &str, &str, u64, u64, Value)] = &[
        (
            "ma_image_classification_v1",
            "MA_IMAGE_CLASSIFICATION_V1",
            "IMAGE",
            4,
            3,
            json!({"animal": 1, "cat": 2, "dog": 1}),
        ),
        (
            "ma_imagenet_v1",
            "MA_IMAGENET_V1",
            "IMAGE",
            4,
            3,
            json!({"cat": 2, "dog": 1}),
        ),
        (
            "ma_pascal_voc_v1",
            "MA_PASCAL_VOC_V1",
            "IMAGE",
            4,
            2,
            json!({"car": 1, "dog": 1, "person": 1}),
        ),
        (
            "yolo",
            "YOLO",
            "IMAGE",
            4,
            3,
            json!({"bird": 1, "cat": 2, "dog": 1}),
        ),
        (
            "ma_image_segmentation_v1",
            "MA_IMAGE_SEGMENTATION_V1",
            "IMAGE",
            3,
            2,
            json!({"car": 1, "road": 1, "sky": 1}),
        ),
        (
            "ma_text_classification_combine_v1",
            "MA_TEXT_CLASSIFICATION_COMBINE_V1",
            "TEXT",
            5,
            4,
            json!({"negative": 2, "neutral": 1, "positive": 2}),
        ),
        (
            "ma_text_classification_v1",
            "MA_TEXT_CLASSIFICATION_V1",
            "TEXT",
            4,
            3,
            json!({"funny": 1, "negative": 1, "positive": 2}),
        ),
        (
            "ma_audio_classification_dir_v1",
            "MA_AUDIO_CLASSIFICATION_DIR_V1",
            "AUDIO",
            4,
            3,
            json!({"music": 1, "speech": 2}),
        ),
        (
            "manifest/manifest.jsonl",
            "MANIFEST",
            "IMAGE",
            5,
            4,
            json!({"car": 1, "cat": 2, "dog": 2}),
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (dir, format, data_type, samples, labelled, labels)) in table.iter().enumerate() {
        let name = format!("f{i}");
        let r = t.wf(&[
            "dataset",
            "create",
            &name,
            "--from",
            &fixture(dir),
            "--type",
            data_type,
            "--format",
            format,
        ]);
        if r.code != 0 {
            wrong.push(format!("{dir}: {r:?}"));
            continue;
        }
        let d = show(&t, &name);
        let got = (
            d["data_type"].clone(),
            d["samples"].clone(),
            d["labelled"].clone(),
            d["unlabelled"].clone(),
            d["labels"].clone(),
        );
        let want = (
            json!(data_type),
            json!(samples),
            json!(labelled),
            json!(samples - labelled),
            labels.clone(),
        );
        if got != want {
            wrong.push(format!(
                "{dir} ({format}): (type, samples, labelled, unlabelled, labels) {got:?}, not {want:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // `wf datasets` counts them the same way.
    let r = t.wf(&["datasets", "--json"]);
    r.status(0);
    let list = r.json.as_array().unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(list.len(), table.len(), "{r:?}");
    for (i, (dir, _, _, samples, labelled, _)) in table.iter().enumerate() {
        let d = list
            .iter()
            .find(|d| d["name"] == format!("f{i}"))
            .unwrap_or_else(|| panic!("f{i} ({dir}) not listed: {r:?}"));
        assert_eq!(d["samples"], *samples, "{dir}: {d:#}");
        assert_eq!(d["labelled"], *labelled, "{dir}: {d:#}");
        assert_eq!(d["versions"], 0, "{dir}: {d:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Combinations that cannot work

#[test]
fn a_text_format_on_images_and_carbondata_are_refused_and_create_nothing() {
    let t = Test::new();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "ma_text_classification_v1",
            "MA_TEXT_CLASSIFICATION_V1",
            "IMAGE",
            &["MA_TEXT_CLASSIFICATION_V1", "TEXT"],
        ),
        (
            "ma_text_classification_combine_v1",
            "MA_TEXT_CLASSIFICATION_COMBINE_V1",
            "IMAGE",
            &["MA_TEXT_CLASSIFICATION_COMBINE_V1", "TEXT"],
        ),
        (
            "ma_image_classification_v1",
            "CarbonData",
            "IMAGE",
            &["CarbonData"],
        ),
    ];
    for (i, (dir, format, data_type, said)) in cases.iter().enumerate() {
        let name = format!("bad{i}");
        let r = t.wf(&[
            "dataset",
            "create",
            &name,
            "--from",
            &fixture(dir),
            "--type",
            data_type,
            "--format",
            format,
        ]);
        assert_ne!(r.code, 0, "refused: {r:?}");
        for s in *said {
            r.stderr_contains(s);
        }
        t.wf(&["dataset", "show", &name])
            .status(1)
            .stderr_contains(&name);
        assert!(
            !t.home().join("datasets/sets").join(&name).exists(),
            "a folder for the refused `{name}`"
        );
    }

    // The same from a script: refused as it is checked, before anything runs.
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "texts", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{
        dataset_name: "bad_step",
        data_type: wf.data.DataTypeEnum.IMAGE,
        import_config: wf.steps.ImportConfig(#{ annotation_format_config: [
            wf.steps.AnnotationFormatConfig(#{ format_name: wf.steps.AnnotationFormatEnum.MA_TEXT_CLASSIFICATION_V1 }),
        ] }),
    }),
});
"#
    .replace("SRC", &q(&fixture("ma_text_classification_v1")));
    let script = t
        .write("create.rhai", &flow("bad", &body, &[], &["create"]))
        .at("create.rhai");
    let r = t.run_flow(&script, &[]);
    r.status(1)
        .stderr_contains("label format MA_TEXT_CLASSIFICATION_V1 is for TEXT datasets, not IMAGE");
    t.wf(&["check", &script])
        .status(1)
        .stderr_contains("label format MA_TEXT_CLASSIFICATION_V1 is for TEXT datasets, not IMAGE");
    let r = t.wf(&["datasets", "--json"]);
    assert_eq!(r.json, json!([]), "{r:?}");

    // A CarbonData version is refused by the release, which makes no version.
    write_zoo(&t);
    create_zoo(&t);
    let carbon = release_script("zoo", "0.8").replace(
        "train_evaluate_sample_ratio",
        "version_format: \"CarbonData\", train_evaluate_sample_ratio",
    );
    let script = t.write("carbon.rhai", &carbon).at("carbon.rhai");
    let r = t.wf(&["run", &script, "--json"]);
    r.status(1);
    assert_eq!(r.step_status("release"), "failed", "{r:?}");
    let error = r.step("release")["error"].as_str().unwrap_or("");
    assert!(error.contains("CarbonData"), "error: {error}");
    let zoo = show(&t, "zoo");
    assert_eq!(zoo["versions"], json!([]), "{zoo:#}");
    let vdir = t.home().join("datasets/sets/zoo/versions");
    let left: Vec<String> = fs::read_dir(&vdir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|f| !f.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "folders left in {}: {left:?}",
        vdir.display()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Samples by content; versions never change

#[test]
fn samples_are_kept_by_content_and_a_released_version_never_changes() {
    let t = Test::new();
    write_zoo(&t);

    // 12 files, two of them repeats: 10 samples.
    create_zoo(&t);
    let zoo = show(&t, "zoo");
    assert_eq!(zoo["samples"], 10, "{zoo:#}");
    assert_eq!(zoo["labels"], json!({"cat": 5, "dog": 5}), "{zoo:#}");
    // The same folder again adds nothing.
    create_zoo(&t);
    assert_eq!(show(&t, "zoo")["samples"], 10);

    assert_eq!(release(&t, "zoo"), "V001");
    let v1_shown = show(&t, "zoo@V001");
    assert_eq!(v1_shown["samples"], 10, "{v1_shown:#}");
    assert_eq!(v1_shown["train"], 8, "{v1_shown:#}");
    assert_eq!(v1_shown["eval"], 2, "{v1_shown:#}");
    let v1_manifest = PathBuf::from(v1_shown["path"].as_str().unwrap()).join("manifest.json");
    let v1_bytes = fs::read(&v1_manifest).unwrap();
    assert_eq!(manifest_lines(&v1_manifest).len(), 10);

    // Two new files beside the old: exactly two more samples.
    t.write("zoo/cat/6.jpg", "FAKEJPG:cat 6\n");
    t.write("zoo/dog/6.jpg", "FAKEJPG:dog 6\n");
    create_zoo(&t).stderr_contains("2 new");
    let zoo = show(&t, "zoo");
    assert_eq!(zoo["samples"], 12, "{zoo:#}");
    assert_eq!(zoo["labels"], json!({"cat": 6, "dog": 6}), "{zoo:#}");

    // Source files overwritten in place after their import (one in V001, one only in the
    // dataset) change neither the dataset nor the versions.
    fs::write(t.path("zoo/cat/1.jpg"), "CHANGED 1\n").unwrap();
    fs::write(t.path("zoo/cat/6.jpg"), "CHANGED 6\n").unwrap();

    assert_eq!(release(&t, "zoo"), "V002");
    let v2 = show(&t, "zoo@V002");
    assert_eq!(v2["samples"], 12, "{v2:#}");
    assert_eq!(v2["train"], 10, "round(0.8 × 12): {v2:#}");
    assert_eq!(v2["eval"], 2, "{v2:#}");
    assert_eq!(show(&t, "zoo@V001"), v1_shown, "V001 changed with V002");
    assert_eq!(
        fs::read(&v1_manifest).unwrap(),
        v1_bytes,
        "V001's manifest changed with V002"
    );
    let zoo = show(&t, "zoo");
    assert_eq!(version(&zoo, "V001")["samples"], 10, "{zoo:#}");
    assert_eq!(version(&zoo, "V002")["samples"], 12, "{zoo:#}");

    // Exported, both hold the bytes as they were imported.
    for (v, n) in [("V001", 10), ("V002", 12)] {
        let dest = t.path(&format!("export_{v}"));
        t.wf(&[
            "dataset",
            "export",
            &format!("zoo@{v}"),
            dest.to_str().unwrap(),
        ])
        .status(0);
        let lines = manifest_lines(&dest.join("manifest.json"));
        assert_eq!(lines.len(), n, "export of {v}");
        let mut contents = Vec::new();
        for l in &lines {
            let src = l["source"].as_str().unwrap();
            let bytes = fs::read_to_string(dest.join(src))
                .unwrap_or_else(|e| panic!("export of {v}: {src}: {e}"));
            contents.push(bytes);
        }
        contents.sort();
        let mut want: Vec<String> = (1..=5)
            .flat_map(|i| [format!("FAKEJPG:cat {i}\n"), format!("FAKEJPG:dog {i}\n")])
            .collect();
        if n == 12 {
            want.push("FAKEJPG:cat 6\n".into());
            want.push("FAKEJPG:dog 6\n".into());
        }
        want.sort();
        assert_eq!(contents, want, "the samples exported from {v}");
    }

    // The same samples are split the same way again.
    assert_eq!(release(&t, "zoo"), "V003");
    let usage = |v: &str| -> Vec<(String, String)> {
        let path = PathBuf::from(
            show(&t, &format!("zoo@{v}"))["path"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let mut u: Vec<(String, String)> = manifest_lines(&path.join("manifest.json"))
            .iter()
            .map(|l| {
                (
                    l["id"].as_str().unwrap_or("?").to_string(),
                    l["usage"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect();
        u.sort();
        u
    };
    assert_eq!(
        usage("V002"),
        usage("V003"),
        "the same samples split another way"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. A dataset given to a job

#[test]
fn a_dataset_placeholder_gives_the_job_the_version_named_and_fails_on_a_missing_one() {
    let t = Test::new();
    zoo_with_two_versions(&t);
    let cmd = count_command(&t, "data", "counts.json");
    let uses = job("train", &cmd).inputs(&[&input("data", "ds")]);
    let script = t
        .write(
            "flow.rhai",
            &flow(
                "uses",
                "let ds = wf.data.DatasetPlaceholder(#{ name: \"ds\" });\n",
                &[uses],
                &["train"],
            ),
        )
        .at("flow.rhai");
    let zoo = show(&t, "zoo");

    for (value, v) in [
        ("zoo@V001", "V001"),
        ("zoo@V002", "V002"),
        // A dataset without a version: its latest.
        ("zoo", "V002"),
    ] {
        let _ = fs::remove_file(t.path("counts.json"));
        let r = t.run_flow(&script, &["-p", &format!("ds={value}")]);
        r.status(0);
        let c = counts(&t, "counts.json");
        let want = version(&zoo, v);
        assert_eq!(c["lines"], want["samples"], "ds={value}: {c:#}");
        assert_eq!(c["train"], want["train"], "ds={value}: {c:#}");
        assert_eq!(c["eval"], want["eval"], "ds={value}: {c:#}");
        assert_eq!(c["missing"], json!([]), "ds={value}: {c:#}");
    }

    for (value, named) in [("nosuch", "nosuch"), ("zoo@V009", "V009")] {
        let _ = fs::remove_file(t.path("counts.json"));
        let r = t.run_flow(&script, &["-p", &format!("ds={value}")]);
        r.status(1);
        assert_eq!(r.step_status("train"), "failed", "{r:?}");
        let error = r.step("train")["error"].as_str().unwrap_or("");
        assert!(error.contains(named), "ds={value}: the error: {error}");
        assert_eq!(counts(&t, "counts.json"), Value::Null, "the job ran");
    }

    // `wf.data.Dataset` in the script names the version the same way.
    let named = job("train", &cmd).inputs(&[&input(
        "data",
        r#"wf.data.Dataset(#{ dataset_name: "zoo", version_name: "V001" })"#,
    )]);
    let script = t
        .write("named.rhai", &flow("named", "", &[named], &["train"]))
        .at("named.rhai");
    let _ = fs::remove_file(t.path("counts.json"));
    t.run_flow(&script, &[]).status(0);
    assert_eq!(counts(&t, "counts.json")["lines"], 10);
}

#[test]
fn a_dataset_placeholder_takes_the_json_form_of_a_version() {
    let t = Test::new();
    zoo_with_two_versions(&t);
    let cmd = count_command(&t, "data", "counts.json");
    let uses = job("train", &cmd).inputs(&[&input("data", "ds")]);
    let script = t
        .write(
            "flow.rhai",
            &flow(
                "uses",
                "let ds = wf.data.DatasetPlaceholder(#{ name: \"ds\" });\n",
                &[uses],
                &["train"],
            ),
        )
        .at("flow.rhai");
    let r = t.run_flow(
        &script,
        &[
            "-p",
            r#"ds={"dataset_name": "zoo", "version_name": "V001"}"#,
        ],
    );
    r.status(0);
    assert_eq!(r.json["parameters"]["ds"]["dataset_name"], "zoo", "{r:?}");
    assert_eq!(r.json["parameters"]["ds"]["version_name"], "V001", "{r:?}");
    assert_eq!(counts(&t, "counts.json")["lines"], 10);
}

// ---------------------------------------------------------------------------------------------
// 6. A runner killed in the middle

/// A folder of 3000 distinct files, half in `cat/`, half in `dog/` (MA_IMAGENET_V1).
fn write_big(t: &Test) -> String {
    let root = t.path("big");
    fs::create_dir_all(root.join("cat")).unwrap();
    fs::create_dir_all(root.join("dog")).unwrap();
    for i in 0..3000 {
        let label = if i % 2 == 0 { "cat" } else { "dog" };
        fs::write(
            root.join(label).join(format!("f{i:04}.jpg")),
            format!("FAKEJPG:big {i}\n"),
        )
        .unwrap();
    }
    t.at("big")
}

#[test]
fn kill_9_during_an_import_then_resume_imports_every_sample_once() {
    let t = Test::new();
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "images", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{
        dataset_name: "big",
        data_type: wf.data.DataTypeEnum.IMAGE,
        import_config: wf.steps.ImportConfig(#{ annotation_format_config: [
            wf.steps.AnnotationFormatConfig(#{ format_name: wf.steps.AnnotationFormatEnum.MA_IMAGENET_V1 }),
        ] }),
    }),
});
let release = wf.steps.ReleaseDatasetStep(#{
    name: "release",
    inputs: wf.steps.ReleaseDatasetInput(#{ name: "dataset", data: create.outputs["dataset"].as_input() }),
    outputs: wf.steps.ReleaseDatasetOutput(#{ name: "version",
        dataset_version_config: wf.data.DatasetVersionConfig(#{ train_evaluate_sample_ratio: "0.8" }) }),
    depend_steps: create,
});
"#
    .replace("SRC", &q(&write_big(&t)));
    let script = t
        .write(
            "flow.rhai",
            &flow("big", &body, &[], &["create", "release"]),
        )
        .at("flow.rhai");
    let storage = t.storage();
    let mut runner = t.args(&["run", &script, "--storage", &storage]).spawn();
    await_start(&runner, "create");
    // Into the copying of the samples; the whole import takes most of a second.
    std::thread::sleep(Duration::from_millis(150));
    kill_9(&mut runner);
    let killed = t.wf(&["show", "latest", "--json"]);
    assert_eq!(
        killed.step_status("create"),
        "running",
        "the kill did not land during the import: {killed:?}"
    );

    let r = t.wf(&["resume", "latest", "--json"]);
    r.status(0);
    assert_eq!(r.step_status("create"), "executed", "{r:?}");
    assert_eq!(dataset_output(&r.json, "create")["samples"], 3000, "{r:?}");
    let big = show(&t, "big");
    assert_eq!(big["labelled"], 3000, "{big:#}");
    assert_eq!(big["labels"], json!({"cat": 1500, "dog": 1500}), "{big:#}");
    let listed = check_whole(&t, "big", 3000, true);
    assert_eq!(listed, vec!["V001".to_string()], "{big:#}");
    assert_eq!(version(&big, "V001")["train"], 2400, "{big:#}");
}

#[test]
fn kill_9_during_a_release_then_resume_leaves_only_whole_versions() {
    let t = Test::new();
    let big = write_big(&t);
    t.wf(&[
        "dataset",
        "create",
        "big",
        "--from",
        &big,
        "--type",
        "IMAGE",
        "--format",
        "MA_IMAGENET_V1",
    ])
    .status(0);
    let script = t
        .write("release.rhai", &release_script("big", "0.8"))
        .at("release.rhai");

    // A release takes a tenth of a second or so: kill at a few points into it, and count the
    // kills that caught it running.
    let mut landed = 0;
    for delay in [0, 20, 40, 60] {
        let mut runner = t.args(&["run", &script]).spawn();
        await_start(&runner, "release");
        std::thread::sleep(Duration::from_millis(delay));
        kill_9(&mut runner);
        let killed = t.wf(&["show", "latest", "--json"]);
        if killed.exec_status() != "running" {
            // It ended before the kill; nothing to resume.
            assert_eq!(killed.exec_status(), "executed", "{killed:?}");
            continue;
        }
        if killed.step_status("release") == "running" {
            landed += 1;
        }
        let r = t.wf(&["resume", "latest", "--json"]);
        r.status(0);
        let v = dataset_output(&r.json, "release");
        let listed = check_whole(&t, "big", 3000, false);
        let name = v["version_name"].as_str().unwrap_or("?").to_string();
        assert!(listed.contains(&name), "{name} not among {listed:?}");
        assert_eq!(v["samples"], 3000, "{v:#}");
    }
    assert!(landed > 0, "no kill landed while the release was running");
    check_whole(&t, "big", 3000, true);
    let shown = show(&t, "big");
    // One version per execution: a release step run again after its runner died finds the
    // version it made rather than making another.
    assert_eq!(shown["versions"].as_array().unwrap().len(), 4, "{shown:#}");
    for v in shown["versions"].as_array().unwrap() {
        assert_eq!(v["train"], 2400, "{v:#}");
        assert_eq!(v["eval"], 600, "{v:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. `wf label` mistakes

#[test]
fn label_commands_name_what_is_missing_and_change_nothing() {
    let t = Test::new();
    for i in 0..3 {
        t.write(
            &format!("images/img_{i}.jpg"),
            &format!("FAKEJPG:img {i}\n"),
        );
    }
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "images", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{ dataset_name: "pets", data_type: wf.data.DataTypeEnum.IMAGE }),
});
let labeling = wf.steps.LabelingStep(#{
    name: "labeling",
    properties: wf.steps.LabelTaskProperties(#{
        task_type: wf.data.LabelTaskTypeEnum.IMAGE_CLASSIFICATION,
        task_name: "t",
        labels: [wf.steps.Label(#{ name: "cat" }), wf.steps.Label(#{ name: "dog" })],
    }),
    inputs: wf.steps.LabelingInput(#{ name: "dataset", data: create.outputs["dataset"].as_input() }),
    outputs: wf.steps.LabelingOutput(#{ name: "task" }),
    depend_steps: create,
});
"#
    .replace("SRC", &q(&t.at("images")));
    let script = t
        .write(
            "flow.rhai",
            &flow("pets", &body, &[], &["create", "labeling"]),
        )
        .at("flow.rhai");
    t.run_flow(&script, &[]).status(3);

    t.wf(&["label", "nosuch/t", "show"])
        .status(1)
        .stderr_contains("nosuch");
    t.wf(&["label", "pets/nosuchtask", "show"])
        .status(1)
        .stderr_contains("nosuchtask");
    t.wf(&["label", "noslash", "show"]).status(2);
    t.wf(&["label", "pets/t", "set", "ghost.jpg", "cat"])
        .status(1)
        .stderr_contains("ghost.jpg");
    t.wf(&["label", "pets/t", "set", "img_0.jpg", "bird"])
        .status(1)
        .stderr_contains("bird");
    // A file naming one unknown sample labels none of the others.
    t.write("labels.tsv", "img_0.jpg\tcat\nghost.jpg\tdog\n");
    t.wf(&["label", "pets/t", "import", &t.at("labels.tsv")])
        .status(1)
        .stderr_contains("ghost.jpg");

    let shown = task(&t, "pets/t", false);
    assert_eq!(shown["labelled"], 0, "{shown:#}");
    assert_eq!(shown["unlabelled"], 3, "{shown:#}");
    // And what is right still works after all that.
    t.wf(&["label", "pets/t", "set", "img_0.jpg", "cat"])
        .status(0);
    assert_eq!(task(&t, "pets/t", false)["labelled"], 1);
}

/// Ctrl-C while a dataset is imported: the runner ends promptly with the step stopped, and
/// the dataset holds none of what the stopped import read (or, if the import ended first,
/// all of it): never a part.
#[test]
fn ctrl_c_during_an_import_stops_it_and_records_none_of_it() {
    let t = Test::new();
    let body = r#"
let create = wf.steps.CreateDatasetStep(#{
    name: "create",
    inputs: wf.steps.CreateDatasetInput(#{ name: "images", data: wf.data.OBSPath(SRC) }),
    outputs: wf.steps.CreateDatasetOutput(#{ name: "dataset", config: wf.data.OBSOutputConfig(storage.join("dataset")) }),
    properties: wf.steps.DatasetProperties(#{ dataset_name: "big", data_type: wf.data.DataTypeEnum.IMAGE }),
});
"#
    .replace("SRC", &q(&write_big(&t)));
    let script = t
        .write("flow.rhai", &flow("big", &body, &[], &["create"]))
        .at("flow.rhai");
    let storage = t.storage();
    let mut runner = t.args(&["run", &script, "--storage", &storage]).spawn();
    await_start(&runner, "create");
    runner.signal("INT");
    let code = runner.wait(Duration::from_secs(10));
    assert!(
        code.is_some(),
        "the runner did not end within 10 s of Ctrl-C"
    );
    let shown = t.wf(&["show", "latest", "--json"]);
    let samples = show(&t, "big")["samples"].as_u64().unwrap_or(0);
    match shown.step_status("create") {
        "stopped" => {
            assert_eq!(code, Some(1), "{shown:?}");
            assert_eq!(samples, 0, "a stopped import recorded {samples} samples");
        }
        "executed" => assert_eq!(samples, 3000),
        other => panic!("create is {other}: {shown:?}"),
    }
}

/// What `wf dataset export zoo@V001` gives, file name to bytes.
fn exported(t: &Test, into: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    t.wf(&["dataset", "export", "zoo@V001", &t.at(into)])
        .status(0);
    let mut files = std::collections::BTreeMap::new();
    for e in fs::read_dir(t.path(into).join("data")).unwrap() {
        let e = e.unwrap();
        files.insert(
            e.file_name().to_string_lossy().into_owned(),
            fs::read(e.path()).unwrap(),
        );
    }
    files.insert(
        "manifest.json".into(),
        fs::read(t.path(into).join("manifest.json")).unwrap(),
    );
    files
}

#[test]
fn a_job_that_writes_into_its_input_version_never_changes_the_stored_samples() {
    let t = Test::new();
    write_zoo(&t);
    create_zoo(&t);
    assert_eq!(release(&t, "zoo"), "V001");
    let before = exported(&t, "before");
    // The common mistake: appending to (and removing) the input's files in place.
    let cmd = "for f in \"$WF_INPUT_DATA\"/data/*; do echo x >> \"$f\"; done; \
               rm -f \"$WF_INPUT_DATA\"/data/*; echo tampered >> \"$WF_INPUT_DATA/manifest.json\"; \
               echo \"$WF_INPUT_DATA\" > \"$WF_OUTPUT_OUT/seen\"; true";
    let uses = job("train", cmd)
        .inputs(&[&input(
            "data",
            r#"wf.data.Dataset(#{ dataset_name: "zoo", version_name: "V001" })"#,
        )])
        .outputs(&[&dir_output("out", "o")]);
    let script = t
        .write("flow.rhai", &flow("tamper", "", &[uses], &["train"]))
        .at("flow.rhai");
    // Read-only in the job's mount namespace (the default), and private copies (the fallback
    // where namespaces are refused).
    for (how, n) in [("mount", 1), ("copy", 2)] {
        let r = t
            .args(&["run", &script, "--storage", &t.storage(), "--json"])
            .env("WF_JOB_DATA", how)
            .run();
        r.status(0);
        let after = exported(&t, &format!("after{n}"));
        assert_eq!(before.len(), after.len(), "{how}: samples were removed");
        assert!(before == after, "{how}: the stored version changed");
        let shown = show(&t, "zoo@V001");
        assert_eq!(shown["samples"], 10, "{how}: {shown:#}");
    }
}

#[test]
fn dataset_create_takes_the_data_type_its_format_is_for() {
    let t = Test::new();
    write_zoo(&t);
    let r = t.wf(&[
        "dataset",
        "create",
        "zoo",
        "--from",
        &t.at("zoo"),
        "--format",
        "MA_IMAGENET_V1",
    ]);
    r.status(0);
    let zoo = show(&t, "zoo");
    assert_eq!(zoo["data_type"], "IMAGE", "{zoo:#}");
    assert_eq!(zoo["labels"], json!({"cat": 5, "dog": 5}), "{zoo:#}");
    // Adding to it later without --type keeps its type.
    t.write("zoo/cat/7.jpg", "FAKEJPG:cat 7\n");
    t.wf(&["dataset", "create", "zoo", "--from", &t.at("zoo")])
        .status(0);
    assert_eq!(show(&t, "zoo")["data_type"], "IMAGE");
    // A type given that the format does not describe is still refused, naming both.
    t.wf(&[
        "dataset",
        "create",
        "notes",
        "--from",
        &t.at("zoo"),
        "--type",
        "TEXT",
        "--format",
        "MA_IMAGENET_V1",
    ])
    .status(2)
    .stderr_contains("label format MA_IMAGENET_V1 is for IMAGE datasets, not TEXT");
}

#[test]
fn dataset_release_makes_a_version_as_the_release_step_does() {
    let t = Test::new();
    write_zoo(&t);
    create_zoo(&t);
    let r = t.wf(&["dataset", "release", "zoo", "--ratio", "0.8"]);
    r.status(0)
        .stdout_is("zoo@V001\n")
        .stderr_contains("released `zoo@V001`: 10 samples, 8 TRAIN, 2 EVAL");
    let json = t.wf(&["dataset", "release", "zoo", "--json"]);
    json.status(0);
    assert_eq!(json.json, show(&t, "zoo@V002"));
    assert_eq!(json.json["version_name"], "V002");
    assert_eq!(json.json["train"], 10, "{:#}", json.json);
    // The versions are the ones a ReleaseDatasetStep makes: exported as jobs see them.
    t.wf(&["dataset", "export", "zoo@V001", &t.at("v1")])
        .status(0);
    assert!(t.path("v1/manifest.json").is_file());

    t.wf(&["dataset", "release", "zoo", "--ratio", "1.5"])
        .status(2)
        .stderr_contains("`1.5`, not a number from 0 to 1");
    t.wf(&["dataset", "release", "zoo@V001"])
        .status(2)
        .stderr_contains("versions never change");
    t.wf(&["dataset", "release", "nothing"])
        .status(1)
        .stderr_contains("no dataset `nothing`");
}

/// The display column where `word` starts in `line` (every character here is one column).
fn column_of(line: &str, word: &str) -> usize {
    let i = line
        .find(word)
        .unwrap_or_else(|| panic!("no `{word}` in {line:?}"));
    line[..i].chars().count()
}

#[test]
fn show_aligns_the_columns_of_a_long_step_type() {
    let t = Test::new();
    write_zoo(&t);
    create_zoo(&t);
    release(&t, "zoo");
    let r = t.wf(&["show", "latest"]);
    r.status(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let head = lines
        .iter()
        .find(|l| l.trim_start().starts_with("STEP"))
        .unwrap_or_else(|| panic!("no heading: {}", r.stdout));
    let row = lines
        .iter()
        .find(|l| l.contains("release_dataset"))
        .unwrap_or_else(|| panic!("no release_dataset row: {}", r.stdout));
    let status = row
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no status in {row:?}"));
    assert_eq!(
        column_of(head, "TYPE"),
        column_of(row, "release_dataset"),
        "{}",
        r.stdout
    );
    assert_eq!(
        column_of(head, "STATUS"),
        column_of(row, status),
        "{}",
        r.stdout
    );
    assert!(
        row.contains("release_dataset  "),
        "the type runs into the status: {}",
        r.stdout
    );
}

#[test]
fn dataset_create_prints_no_progress_when_piped() {
    let t = Test::new();
    for i in 0..600 {
        t.write(&format!("many/{i}.txt"), &format!("sample {i}\n"));
    }
    let r = t.wf(&["dataset", "create", "many", "--from", &t.at("many")]);
    r.status(0);
    assert_eq!(
        r.stderr, "created dataset `many`: 600 new samples of 600 found, 0 labelled\n",
        "{r:?}"
    );
    assert_eq!(r.stdout, "");
    t.write("many/600.txt", "sample 600\n");
    let r = t.wf(&[
        "dataset",
        "create",
        "many",
        "--from",
        &t.at("many"),
        "--json",
    ]);
    r.status(0);
    assert_eq!(r.stderr, "", "{r:?}");
    assert_eq!(r.json["samples"], 601);
}
