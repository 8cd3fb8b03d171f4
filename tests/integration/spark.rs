//! MRS (Spark) steps and `wf cluster` (README, "Spark"): a PySpark word count on the built-in
//! `local` cluster with the real spark-submit, and, with a stand-in spark-submit that needs no
//! JVM (`tests/fixtures/spark/fake-spark`), how a step's run_args, app_args, parameters,
//! inputs and outputs reach spark-submit, a failing driver, and a stop.
//!
//! Only the first test starts Spark (a `local[*]` session takes 15 s or so here). It needs
//! PySpark and a Java runtime: PySpark comes from the tests' virtual environment when the
//! system lacks it, Java from Debian when the tests run as root; where either cannot be had
//! the test is skipped, saying so (`crate::tools`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::test::{alive, q, step, wait_until, Test, MANIFEST_DIR};

fn fixture(rel: &str) -> PathBuf {
    Path::new(MANIFEST_DIR)
        .join("tests/fixtures/spark")
        .join(rel)
}

/// Whether Spark is here (installed when it can be; else the test is skipped, saying so). Fails
/// the test when it is, yet `wf` finds no spark-submit for `local`.
fn require_spark(t: &Test) -> bool {
    if !crate::tools::need(crate::tools::Tool::Spark) {
        return false;
    }
    let r = t.wf(&["cluster", "list", "--json"]);
    r.status(0);
    let local = &r.json[0];
    assert_eq!(local["name"], "local", "{r:?}");
    assert!(
        local["spark_submit"].is_string(),
        "PySpark and Java are here, yet `wf` finds no spark-submit for `local`: {}",
        local["problem"].as_str().unwrap_or("?"),
    );
    true
}

/// A workflow of one MRS step `name`, with the output storage `out`: `algorithm` and the step's
/// other keywords (`inputs: …, outputs: …, cluster_id: …`) are Rhai.
fn mrs_flow(name: &str, algorithm: &str, keywords: &str) -> String {
    format!(
        "let storage = wf.data.OutputStorage(#{{ name: \"out\" }});\n\
         let step = wf.steps.MrsJobStep(#{{\n    name: {},\n    mrs_algorithm: {algorithm},\n    {keywords}\n}});\n\
         wf.Workflow(#{{ name: \"spark-test\", desc: \"test workflow\", steps: [step], storages: [storage] }})\n",
        q(name)
    )
}

#[test]
fn a_pyspark_word_count_runs_on_the_local_cluster() {
    let t = Test::new();
    if !require_spark(&t) {
        return;
    }
    let boot = Path::new(MANIFEST_DIR).join("examples/code/wordcount.py");
    let words = fixture("words.txt");
    // The reference's own run_args (`--master,yarn-cluster`): the cluster decides the master.
    let algorithm = format!(
        "wf.steps.MrsJobAlgorithm(#{{ boot_file: {}, parameters: [\n\
         wf.AlgorithmParameters(#{{ name: \"run_args\", value: \"--master,yarn-cluster,--conf,spark.ui.enabled=false\" }}),\n\
         wf.AlgorithmParameters(#{{ name: \"app_args\", value: \"--min_count=2\" }}) ] }})",
        q(boot.to_str().unwrap())
    );
    let keywords = format!(
        "inputs: wf.steps.MrsJobInput(#{{ name: \"data_url\", data: wf.data.OBSPath(#{{ obs_path: {} }}) }}),\n\
         outputs: wf.steps.MrsJobOutput(#{{ name: \"train_url\", obs_config: wf.data.OBSOutputConfig(#{{ obs_path: storage.join(\"counts\"), metric_file: \"metrics.json\" }}) }}),",
        q(words.to_str().unwrap())
    );
    let script = t
        .write("flow.rhai", &mrs_flow("wordcount", &algorithm, &keywords))
        .at("flow.rhai");

    let r = t.run_flow(&script, &[]);
    r.status(0);
    assert_eq!(r.step_status("wordcount"), "executed", "{r:?}");
    let s = r.step("wordcount");
    assert_eq!(s["type"], "mrs_job", "{r:?}");
    assert_eq!(s["cluster"], "local", "{r:?}");
    assert_eq!(s["master"], "local[*]", "{r:?}");
    assert_eq!(s["metrics"]["words"], 15.0, "{r:?}");
    assert_eq!(s["metrics"]["distinct"], 10.0, "{r:?}");

    let out = r.output_path("wordcount", "train_url");
    assert!(
        out.starts_with(&t.at("root")) && out.ends_with("/counts"),
        "{out}"
    );
    let counts = std::fs::read_to_string(Path::new(&out).join("counts.tsv")).unwrap_or_default();
    assert_eq!(counts, "the\t4\ndog\t2\nfox\t2\n", "{r:?}");

    let log = t.wf(&["logs", &r.id(), "wordcount"]);
    log.status(0)
        .stdout_contains("on cluster `local` (local[*])")
        .stdout_contains("run_args' `--master yarn-cluster` gives way")
        .stdout_contains("--master 'local[*]'")
        .stdout_contains("--min_count=2 --data_url=")
        .stdout_contains("wordcount: 15 words, 10 distinct; most frequent: the 4, dog 2, fox 2");
}

#[test]
fn an_unknown_cluster_fails_the_step_before_it_runs_naming_it() {
    // The reference's port names a cluster this home does not have.
    let t = Test::new();
    let script =
        Path::new(MANIFEST_DIR).join("scripts/reference/s4_10_2_mrs_boot_script_and_cluster.rhai");
    let r = t.wf(&["run", script.to_str().unwrap(), "--json"]);
    r.status(1);
    assert_eq!(r.exec_status(), "failed", "{r:?}");
    let s = r.step("mrs_test");
    assert_eq!(s["status"], "failed", "{r:?}");
    // Nothing started: no driver was recorded, and the step has no log.
    assert!(
        s.get("groups").is_none() && s.get("cluster").is_none(),
        "{r:?}"
    );
    assert!(!t
        .home()
        .join("logs")
        .join(r.id())
        .join("mrs_test.log")
        .exists());
    let error = s["error"].as_str().unwrap_or("");
    assert!(
        error.contains("unknown cluster `cluster_id_xxx`") && error.contains("local (local[*])"),
        "{r:?}"
    );
    assert!(
        error.contains("wf cluster add cluster_id_xxx --master"),
        "{r:?}"
    );
}

#[test]
fn clusters_are_added_listed_and_removed() {
    let t = Test::new();
    let r = t.wf(&["cluster", "list", "--json"]);
    r.status(0);
    let names = |r: &crate::test::Ran| -> Vec<String> {
        r.json
            .as_array()
            .unwrap_or_else(|| panic!("not a JSON array: {r:?}"))
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(names(&r), ["local"]);
    assert_eq!(r.json[0]["master"], "local[*]");
    assert_eq!(r.json[0]["builtin"], true);

    let spark_home = fixture("fake-spark");
    let home_arg = spark_home.to_str().unwrap();
    let added = t.wf(&[
        "cluster",
        "add",
        "standalone",
        "--master",
        "spark://10.0.0.5:7077",
        "--spark-home",
        home_arg,
        "--json",
    ]);
    added.status(0);
    assert_eq!(added.json["name"], "standalone", "{added:?}");
    assert_eq!(added.json["spark_home"], home_arg, "{added:?}");
    assert_eq!(
        added.json["spark_submit"],
        spark_home.join("bin/spark-submit").to_str().unwrap(),
        "{added:?}"
    );
    t.wf(&["cluster", "add", "two", "--master", "local[2]"])
        .status(0);

    let r = t.wf(&["cluster", "list", "--json"]);
    assert_eq!(names(&r), ["local", "standalone", "two"], "{r:?}");
    assert_eq!(r.json[1]["master"], "spark://10.0.0.5:7077");
    assert_eq!(r.json[1]["builtin"], false);
    assert!(r.json[1]["created_at"].is_string(), "{r:?}");
    t.wf(&["cluster", "list"])
        .status(0)
        .stdout_contains("NAME")
        .stdout_contains("standalone")
        .stdout_contains("spark://10.0.0.5:7077");

    // Refused: the built-in name, a taken one, a bad name, a bad master, a folder without Spark.
    t.wf(&["cluster", "add", "local", "--master", "local[2]"])
        .status(2)
        .stderr_contains("error: `local` is built in");
    t.wf(&["cluster", "add", "two", "--master", "local[4]"])
        .status(1)
        .stderr_contains("cluster `two` exists");
    t.wf(&["cluster", "add", "no/slash", "--master", "yarn"])
        .status(2)
        .stderr_contains("is not a cluster name");
    t.wf(&["cluster", "add", "old", "--master", "yarn-cluster"])
        .status(2)
        .stderr_contains("`yarn-cluster` is not a Spark master");
    t.wf(&[
        "cluster",
        "add",
        "empty",
        "--master",
        "yarn",
        "--spark-home",
        &t.at(""),
    ])
    .status(2)
    .stderr_contains("has no bin/spark-submit");

    t.wf(&["cluster", "remove", "two"]).status(0);
    t.wf(&["cluster", "remove", "two"])
        .status(1)
        .stderr_contains("no cluster `two`");
    t.wf(&["cluster", "remove", "local"])
        .status(2)
        .stderr_contains("built in");
    let r = t.wf(&["cluster", "list", "--json"]);
    assert_eq!(names(&r), ["local", "standalone"], "{r:?}");
}

/// A test with the stand-in spark-submit registered as cluster `fake` (master `master`) and a
/// stand-in Java: nothing here needs a JVM.
fn fake_cluster(t: &Test, master: &str) -> String {
    t.wf(&[
        "cluster",
        "add",
        "fake",
        "--master",
        master,
        "--spark-home",
        fixture("fake-spark").to_str().unwrap(),
    ])
    .status(0);
    fixture("fake-java").to_str().unwrap().to_string()
}

#[test]
fn run_args_app_args_inputs_and_outputs_reach_spark_submit() {
    let t = Test::new();
    let java_home = fake_cluster(&t, "spark://127.0.0.1:7077");
    t.write(
        "app.sh",
        "echo \"app args: $*\"\necho \"input: $WF_INPUT_DATA_URL lr: $WF_PARAM_LR\"\necho done > \"$WF_OUTPUT_TRAIN_URL/done.txt\"\n",
    );
    t.write("data/in.txt", "x\n");
    let algorithm = "wf.steps.MrsJobAlgorithm(#{ boot_file: \"app.sh\", parameters: [\n\
         wf.AlgorithmParameters(#{ name: \"run_args\", value: \"--master,yarn-cluster,--conf,spark.executor.memory=2g,--py-files,obs://deps/a.zip,b.zip\" }),\n\
         wf.AlgorithmParameters(#{ name: \"app_args\", value: \"--param_a=3, --param_b=4\" }),\n\
         wf.AlgorithmParameters(#{ name: \"lr\", value: 0.5 }) ],\n\
         environments: #{ EXTRA: \"yes\" } })";
    let keywords = "inputs: [wf.steps.MrsJobInput(#{ name: \"data_url\", data: wf.data.OBSPath(#{ obs_path: \"data\" }) })],\n\
         outputs: [wf.steps.MrsJobOutput(#{ name: \"train_url\", obs_config: wf.data.OBSOutputConfig(#{ obs_path: storage.join(\"result\") }) })],\n\
         cluster_id: \"fake\",";
    let script = t
        .write("flow.rhai", &mrs_flow("submit", algorithm, keywords))
        .at("flow.rhai");

    let r = t
        .args(&["run", &script, "--storage", &t.storage(), "--json"])
        .env("JAVA_HOME", &java_home)
        .run();
    r.status(0);
    let s = step(&r.json, "submit");
    assert_eq!(s["cluster"], "fake", "{r:?}");
    assert_eq!(s["master"], "spark://127.0.0.1:7077", "{r:?}");
    let out = r.output_path("submit", "train_url");
    assert_eq!(
        std::fs::read_to_string(Path::new(&out).join("done.txt")).unwrap_or_default(),
        "done\n"
    );

    let log = t.wf(&["logs", &r.id(), "submit"]).stdout;
    let app = t.at("app.sh");
    let data = t.at("data");
    let obs_zip = t.home().join("obs/deps/a.zip");
    let expected = format!(
        "fake spark-submit: --master spark://127.0.0.1:7077 --name submit --conf spark.executor.memory=2g \
         --py-files {},b.zip {app} --param_a=3 --param_b=4 --lr=0.5 --data_url={data} --train_url={out}",
        obs_zip.display()
    );
    assert!(
        log.contains(&expected),
        "expected\n{expected}\nin the log:\n{log}"
    );
    assert!(
        log.contains(&format!("SPARK_HOME={}", fixture("fake-spark").display())),
        "{log}"
    );
    assert!(log.contains("note: run_args' `--master yarn-cluster` gives way to cluster `fake`'s master spark://127.0.0.1:7077"), "{log}");
    assert!(log.contains(&format!("input: {data} lr: 0.5")), "{log}");
}

#[test]
fn a_failing_driver_fails_the_step_with_the_end_of_its_output() {
    let t = Test::new();
    let java_home = fake_cluster(&t, "local[2]");
    t.write(
        "app.sh",
        "echo 'Traceback (most recent call last):'\necho 'ValueError: no such column: wordz'\n\
         echo '26/11/29 23:08:56 INFO SparkContext: Successfully stopped SparkContext' >&2\nexit 3\n",
    );
    let script = t
        .write(
            "flow.rhai",
            &mrs_flow(
                "broken",
                "wf.steps.MrsJobAlgorithm(#{ boot_file: \"app.sh\" })",
                "cluster_id: \"fake\",",
            ),
        )
        .at("flow.rhai");
    let r = t
        .args(&["run", &script, "--json"])
        .env("JAVA_HOME", &java_home)
        .run();
    r.status(1);
    let error = r.step("broken")["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.starts_with("spark-submit exited with status 3"),
        "{r:?}"
    );
    assert!(error.contains("ValueError: no such column: wordz"), "{r:?}");
    assert!(
        !error.contains("Successfully stopped SparkContext"),
        "Spark's chatter in {error}"
    );

    // A boot file that is not there fails before spark-submit starts.
    let script = t
        .write(
            "missing.rhai",
            &mrs_flow(
                "missing",
                "wf.steps.MrsJobAlgorithm(#{ boot_file: \"obs://jobs/nope.py\" })",
                "cluster_id: \"fake\",",
            ),
        )
        .at("missing.rhai");
    let r = t
        .args(&["run", &script, "--json"])
        .env("JAVA_HOME", &java_home)
        .run();
    r.status(1);
    let error = r.step("missing")["error"].as_str().unwrap_or("");
    assert!(
        error.contains(&format!(
            "the boot file {} does not exist",
            t.home().join("obs/jobs/nope.py").display()
        )),
        "{r:?}"
    );
}

#[test]
fn stopping_the_run_ends_the_driver_and_what_it_started() {
    let t = Test::new();
    let java_home = fake_cluster(&t, "local[2]");
    // The driver starts a child in its own group, as PySpark's worker daemon does.
    t.write(
        "app.sh",
        &format!(
            "setsid sleep 60 & echo $! > '{}'\nsleep 60 & echo $! > '{}'\nwait\n",
            t.at("daemon.pid"),
            t.at("driver.pid")
        ),
    );
    let script = t
        .write(
            "flow.rhai",
            &mrs_flow(
                "long",
                "wf.steps.MrsJobAlgorithm(#{ boot_file: \"app.sh\" })",
                "cluster_id: \"fake\",",
            ),
        )
        .at("flow.rhai");
    let mut runner = t
        .args(&["run", &script, "--json"])
        .env("JAVA_HOME", &java_home)
        .spawn();
    let started = wait_until(Duration::from_secs(20), || {
        !t.read("driver.pid").trim().is_empty() && !t.read("daemon.pid").trim().is_empty()
    });
    assert!(started, "the driver never started: {}", runner.stderr());
    let pid = |f: &str| -> u32 { t.read(f).trim().parse().unwrap() };
    let (driver, daemon) = (pid("driver.pid"), pid("daemon.pid"));

    let ids = t.wf(&["executions", "--json"]);
    let id = ids.json[0]["execution_id"].as_str().unwrap().to_string();
    t.wf(&["stop", &id]).status(0);
    let code = runner.wait(Duration::from_secs(20));
    let gone = wait_until(Duration::from_secs(5), || !alive(driver) && !alive(daemon));
    for p in [driver, daemon] {
        if alive(p) {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(p.to_string())
                .status();
        }
    }
    assert_eq!(code, Some(1), "{}", runner.stderr());
    let record: Value = serde_json::from_str(&t.read("runner.out")).unwrap_or(Value::Null);
    assert_eq!(step(&record, "long")["status"], "stopped", "{record:#}");
    assert!(gone, "the driver's processes outlived the stop");
}
