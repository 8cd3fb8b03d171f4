//! The notebook kernel from the outside (README, "Notebooks"), driven as Jupyter drives it: the spec
//! is installed with `wf kernel install --user` into a temporary `$JUPYTER_DATA_DIR`, and
//! `tests/fixtures/kernel/drive.py` starts it with `jupyter_client` and runs a scenario of
//! cells and requests, returning every reply and IOPub message as JSON.
//!
//! `jupyter_client` and `nbconvert` come from the tests' virtual environment when the system's
//! Python lacks them; where they cannot be installed the tests are skipped, saying so
//! (`crate::tools`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::test::{alive, job, q, step_status, tick, wait_until, Test, MANIFEST_DIR, STORAGE};
use crate::tools::{need, Tool};

/// Fails the test: `need(Tool::Jupyter)` found what the drivers need, yet they cannot run.
fn broken(reason: &str) {
    panic!(
        "{reason}, though `{}` imports jupyter_client",
        crate::tools::python().display()
    );
}

/// Installs the spec into `JUPYTER_DATA_DIR=<test>/jupyter`.
fn install(t: &Test) {
    t.args(&["kernel", "install", "--user"])
        .env("JUPYTER_DATA_DIR", &t.at("jupyter"))
        .run()
        .status(0);
}

/// Runs `actions` in one kernel started in the test's folder; `None` when skipped.
fn drive(t: &Test, actions: Value) -> Option<Value> {
    if !need(Tool::Jupyter) {
        return None;
    }
    install(t);
    let scenario = json!({ "cwd": t.at(""), "actions": actions });
    let driver = Path::new(MANIFEST_DIR).join("tests/fixtures/kernel/drive.py");
    let child = Command::new(crate::tools::python())
        .arg(driver)
        .env("PATH", crate::tools::path())
        .env("JUPYTER_DATA_DIR", t.at("jupyter"))
        .env("WF_HOME", t.home())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            broken(&format!("python3 cannot be started: {e}"));
            return None;
        }
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(scenario.to_string().as_bytes())
            .expect("the driver reads its scenario");
    }
    let out = child.wait_with_output().expect("the driver runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("the driver printed no JSON ({e}):\nstdout: {stdout}\nstderr: {stderr}")
    });
    if let Some(reason) = v["skip"].as_str() {
        broken(reason);
        return None;
    }
    assert!(
        !stderr.contains("panicked"),
        "the kernel panicked:\n{stderr}"
    );
    Some(v)
}

/// The IOPub messages of one result of a given type.
fn iopub<'a>(r: &'a Value, msg_type: &str) -> Vec<&'a Value> {
    r["iopub"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|m| m["msg_type"] == msg_type)
                .map(|m| &m["content"])
                .collect()
        })
        .unwrap_or_default()
}

/// Everything a cell wrote to its streams and displays, as text.
fn said(r: &Value) -> String {
    let mut s = String::new();
    for m in r["iopub"].as_array().into_iter().flatten() {
        let c = &m["content"];
        match m["msg_type"].as_str() {
            Some("stream") => s += c["text"].as_str().unwrap_or(""),
            Some("display_data") | Some("execute_result") => {
                s += c["data"]["text/plain"].as_str().unwrap_or("");
                s += "\n";
            }
            Some("error") => {
                for l in c["traceback"].as_array().into_iter().flatten() {
                    s += l.as_str().unwrap_or("");
                    s += "\n";
                }
            }
            _ => {}
        }
    }
    s
}

fn ok(r: &Value) -> &Value {
    assert_eq!(r["reply"]["status"], "ok", "{r:#}");
    r
}

/// The development workflow of the REPL's tests: `first` (counts its runs), then `second`,
/// which needs the delayed INT parameter `epochs` and appends its arguments to `second.args`.
fn dev_script(t: &Test) -> String {
    let first = job("first", &tick(&t.at("first.count")));
    let second = job(
        "second",
        &format!("echo \"$@\" >> '{}'", t.at("second.args")),
    )
    .param("epochs", "epochs")
    .inputs(&[&crate::test::input(
        "data",
        "first.outputs[\"out\"].as_input()",
    )]);
    let mut s = String::from(STORAGE);
    s += "let epochs = wf.Placeholder(#{ name: \"epochs\", placeholder_type: wf.PlaceholderType.INT, delay: true });\n";
    s += &first.rhai();
    s += &second.rhai();
    s += "let workflow = wf.Workflow(#{ name: \"dev\", desc: \"develop <me>\", steps: [first, second], storages: [storage] });\n";
    s
}

#[test]
fn kernel_cells_share_one_session_with_the_repls_diagnostics_and_completion() {
    let t = Test::new();
    let Some(v) = drive(
        &t,
        json!([
            {"execute": "let x = 40;"},
            {"execute": "fn inc(v) { v + 1 }"},
            {"execute": "print(\"hello from the cell\"); inc(inc(x))"},
            {"execute": "let y = x + nowhere;"},
            {"execute": "let s = wf.steps.JobStep(#{ nme: \"a\" });"},
            {"execute": "x"},
            {"complete": "let s = wf.st"},
            {"complete": "wf.Placeholder(#{ placeholder_type: wf.PlaceholderType.INT, d"},
            {"inspect": "wf.steps.JobStep(#{ ", "pos": 12},
            {"inspect": "wf.Placeholder(#{ name: \"a\", "},
            {"is_complete": "let w = wf.Workflow(#{ name: \"a\","},
            {"is_complete": "let a = [1, 2];"},
            {"execute": ":nonsense"},
            {"batch": ["let z = 1;", "let z = nowhere;", "z = 3;", "z"]},
            {"execute": "z"},
            {"execute": "print(\"quiet\"); let q = 5; q", "silent": true},
            {"execute": "q"},
        ]),
    ) else {
        return;
    };
    let r = v["results"].as_array().unwrap();
    ok(&r[0]);
    ok(&r[1]);
    // Variables and functions persist; `print` goes to the cell's stream.
    let out = ok(&r[2]);
    let result = iopub(out, "execute_result");
    assert_eq!(result.len(), 1, "{out:#}");
    assert_eq!(result[0]["data"]["text/plain"], "42", "{out:#}");
    assert_eq!(result[0]["execution_count"], 3, "{out:#}");
    let streams = iopub(out, "stream");
    assert!(
        streams
            .iter()
            .any(|s| s["name"] == "stdout" && s["text"] == "hello from the cell\n"),
        "{out:#}"
    );
    // An error replies `error` with the REPL's rendered diagnostic.
    let err = &r[3];
    assert_eq!(err["reply"]["status"], "error", "{err:#}");
    let tb = err["reply"]["traceback"].to_string();
    assert!(
        tb.contains("<cell>:1:") && tb.contains("nowhere"),
        "no located diagnostic: {err:#}"
    );
    assert_eq!(iopub(err, "error").len(), 1, "{err:#}");
    let err = &r[4];
    assert_eq!(err["reply"]["status"], "error", "{err:#}");
    assert!(
        err["reply"]["traceback"].to_string().contains("name"),
        "no did-you-mean for `nme`: {err:#}"
    );
    // The session goes on after errors.
    assert_eq!(
        iopub(ok(&r[5]), "execute_result")[0]["data"]["text/plain"],
        "40"
    );
    // Completion from the catalog.
    let c = &ok(&r[6])["reply"];
    assert_eq!(c["matches"], json!(["wf.steps"]), "{c:#}");
    assert_eq!(c["cursor_start"], 8);
    assert_eq!(c["cursor_end"], 13);
    let c = &ok(&r[7])["reply"];
    let matches = c["matches"].to_string();
    assert!(matches.contains("default: "), "{c:#}");
    // Inspection: a constructor's keywords with types and defaults.
    let i = &ok(&r[8])["reply"];
    assert_eq!(i["found"], true, "{i:#}");
    let text = i["data"]["text/plain"].as_str().unwrap();
    assert!(
        text.starts_with("wf.steps.JobStep") && text.contains("algorithm"),
        "{text}"
    );
    let i = &ok(&r[9])["reply"];
    let text = i["data"]["text/plain"].as_str().unwrap();
    assert!(
        text.contains("placeholder_type")
            && text.contains("PlaceholderType")
            && text.contains("default true"),
        "{text}"
    );
    assert!(i["data"]["text/html"].as_str().unwrap().contains("<table>"));
    // Multi-line input in consoles.
    assert_eq!(r[10]["reply"]["status"], "incomplete", "{:#}", r[10]);
    assert_eq!(r[11]["reply"]["status"], "complete", "{:#}", r[11]);
    // A `:` command that does not exist is an error too.
    assert_eq!(r[12]["reply"]["status"], "error", "{:#}", r[12]);
    // Cells queued behind a failed one are aborted ("Run All" stops at the error); the next
    // cell runs again.
    let statuses: Vec<&Value> = r[13]["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("ok"),
            &json!("error"),
            &json!("aborted"),
            &json!("aborted")
        ],
        "{:#}",
        r[13]
    );
    assert_eq!(
        iopub(ok(&r[14]), "execute_result")[0]["data"]["text/plain"],
        "1"
    );
    // A silent cell publishes nothing, and still counts in the session.
    let quiet = ok(&r[15]);
    let published: Vec<&str> = quiet["iopub"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["msg_type"].as_str())
        .filter(|t| *t != "status")
        .collect();
    assert!(published.is_empty(), "{quiet:#}");
    assert_eq!(
        iopub(ok(&r[16]), "execute_result")[0]["data"]["text/plain"],
        "5"
    );
}

#[test]
fn kernel_shows_a_workflow_as_html_and_debugs_it_phase_by_phase() {
    let t = Test::new();
    let storage = format!(":storage out={}", t.at("root"));
    let Some(v) = drive(
        &t,
        json!([
            {"execute": dev_script(&t)},
            {"execute": "workflow"},
            {"execute": "first"},
            {"execute": storage},
            {"execute": "workflow.debug(#{})"},
            {"execute": "workflow.next()"},
            {"execute": "workflow.next()"},
            {"execute": "workflow.set_placeholder(\"epochs\", \"x\")"},
            {"execute": "workflow.set_placeholder(\"epochs\", 3)"},
            {"execute": "workflow.next()"},
            {"execute": "let r = workflow.run(#{ steps: [first] }); r"},
        ]),
    ) else {
        return;
    };
    let r = v["results"].as_array().unwrap();
    ok(&r[0]);
    // A workflow displays as text and as HTML: tables and the DAG as SVG.
    let shown = iopub(ok(&r[1]), "execute_result");
    assert_eq!(shown.len(), 1, "{:#}", r[1]);
    let data = &shown[0]["data"];
    assert!(
        data["text/plain"].as_str().unwrap().contains("2 steps"),
        "{data:#}"
    );
    let html = data["text/html"]
        .as_str()
        .expect("a workflow shows as HTML");
    assert!(html.contains("<svg") && html.contains("</svg>"), "{html}");
    assert!(
        html.contains("<table") && html.contains("<code>second</code>"),
        "{html}"
    );
    assert!(html.contains("develop &lt;me&gt;"), "not escaped: {html}");
    assert!(html.contains("epochs"), "no parameters table: {html}");
    // A step too.
    let step = iopub(ok(&r[2]), "execute_result");
    assert!(
        step[0]["data"]["text/html"]
            .as_str()
            .unwrap()
            .contains("wf.steps.JobStep"),
        "{:#}",
        r[2]
    );
    ok(&r[3]);
    // debug -> next -> next (says what is missing) -> set_placeholder -> next.
    let said_debug = said(ok(&r[4]));
    assert!(said_debug.contains("debug execution "), "{said_debug}");
    let id: String = said_debug
        .split("debug execution ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let s = said(ok(&r[5]));
    assert!(
        s.contains("first: executed") && s.contains("next: second"),
        "{s}"
    );
    let shown = iopub(&r[5], "display_data");
    assert!(
        shown[0]["data"]["text/html"]
            .as_str()
            .unwrap()
            .contains("<table"),
        "{:#}",
        r[5]
    );
    let s = said(ok(&r[6]));
    assert!(s.contains("second cannot run yet"), "{s}");
    assert!(
        s.contains("workflow.set_placeholder(\"epochs\", 10)"),
        "the line to type is not shown: {s}"
    );
    let e = &r[7];
    assert_eq!(e["reply"]["status"], "error", "{e:#}");
    let tb = e["reply"]["traceback"].to_string();
    assert!(tb.contains("`epochs`") && tb.contains("INT"), "{e:#}");
    ok(&r[8]);
    let s = said(ok(&r[9]));
    assert!(
        s.contains("second: executed") && s.contains("has ended: executed"),
        "{s}"
    );
    // `second` ran once, after its value was given.
    let args = t.read("second.args");
    assert_eq!(args.lines().count(), 1, "{args}");
    assert!(args.contains("--epochs=3"), "{args}");
    // `first` ran once in the debug execution, once in the run below.
    assert_eq!(t.count("first.count"), 2);
    // A run's steps are said in the cell's stream as they change; workflow.run returns the
    // execution record, shown as a table.
    let progress = said(ok(&r[10]));
    assert!(
        progress.contains("first: running") && progress.contains("first: executed"),
        "{progress}"
    );
    let rec = iopub(&r[10], "execute_result");
    let html = rec[0]["data"]["text/html"].as_str().unwrap();
    assert!(
        html.contains("wf-execution") && html.contains("<code>first</code>"),
        "{html}"
    );
    // Executions started from a notebook are ordinary records.
    let shown = t.wf(&["show", &id, "--json"]);
    shown.status(0);
    assert_eq!(shown.json["status"], "executed", "{:#}", shown.json);
    assert_eq!(step_status(&shown.json, "second"), "executed");
    assert_eq!(shown.json["parameters"]["epochs"], 3);
}

/// A loop that runs until the sandbox's time limit (10 s) stops it: each turn is slow, so the
/// operation limit is far.
const LOOP: &str = "let a = []; loop { a.pad(20000, 0); a.clear(); }";

/// Two cells: a workflow of one job `slow` (it writes its pid to `slow.pid`, then sleeps a
/// minute), and the `:storage` line its runs need.
fn slow_workflow_cells(t: &Test) -> (String, String) {
    let mut s = String::from(STORAGE);
    s += &job(
        "slow",
        &format!("echo $$ > {}; exec sleep 60", q(&t.at("slow.pid"))),
    )
    .rhai();
    s += "let workflow = wf.Workflow(#{ name: \"slow\", desc: \"d\", steps: [slow], storages: [storage] });\n";
    (s, format!(":storage out={}", t.at("root")))
}

/// The `slow` job's process is gone within 5 s (it did not outlive `what`).
#[track_caller]
fn slow_job_ends(t: &Test, what: &str) {
    let pid: u32 = t
        .read("slow.pid")
        .trim()
        .parse()
        .expect("the job wrote its pid");
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pid)),
        "the job's process {pid} outlived {what}"
    );
}

#[test]
fn kernel_interrupt_stops_a_running_phase_and_a_long_loop() {
    let t = Test::new();
    let (s, storage) = slow_workflow_cells(&t);
    let start = std::time::Instant::now();
    let Some(v) = drive(
        &t,
        json!([
            {"execute": s},
            {"execute": storage},
            {"execute": "workflow.debug(#{})"},
            {"execute": "workflow.next()", "interrupt_after": 2.0, "timeout": 30},
            {"execute": LOOP, "interrupt_after": 1.0, "timeout": 30},
            {"execute": "1 + 1"},
        ]),
    ) else {
        return;
    };
    assert!(
        start.elapsed() < Duration::from_secs(40),
        "the interrupts took {:?}",
        start.elapsed()
    );
    let r = v["results"].as_array().unwrap();
    let s = said(&r[3]);
    assert!(
        s.contains("slow: stopped"),
        "the phase was not stopped: {:#}",
        r[3]
    );
    slow_job_ends(&t, "the interrupt");
    assert_eq!(r[4]["reply"]["status"], "error", "{:#}", r[4]);
    assert!(
        r[4]["reply"]["traceback"]
            .to_string()
            .contains("interrupted"),
        "{:#}",
        r[4]
    );
    assert_eq!(
        iopub(ok(&r[5]), "execute_result")[0]["data"]["text/plain"],
        "2"
    );
}

#[test]
fn kernel_shutdown_leaves_no_process_behind() {
    let t = Test::new();
    let (s, storage) = slow_workflow_cells(&t);
    let Some(v) = drive(
        &t,
        json!([
            {"execute": s},
            {"execute": storage},
            {"execute": "workflow.debug(#{})"},
            {"execute": "workflow.next()", "nowait": true},
            {"sleep": 2.0},
            {"shutdown": true},
        ]),
    ) else {
        return;
    };
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[5]["exit"], 0, "the kernel did not exit by itself: {v:#}");
    let kernel = v["pid"].as_u64().unwrap() as u32;
    assert!(!alive(kernel), "the kernel {kernel} is still alive");
    slow_job_ends(&t, "the kernel");
}

#[test]
fn kernel_answers_heartbeats_signs_replies_and_drops_bad_signatures() {
    if !need(Tool::Jupyter) {
        return;
    }
    let t = Test::new();
    let script = Path::new(MANIFEST_DIR).join("tests/fixtures/kernel/wire.py");
    let out = match Command::new(crate::tools::python())
        .arg(script)
        .env("PATH", crate::tools::path())
        .arg(env!("CARGO_BIN_EXE_wf"))
        .arg(t.dir())
        .env("WF_HOME", t.home())
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            broken(&format!("python3 cannot be started: {e}"));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if let Some(reason) = v["skip"].as_str() {
        broken(reason);
        return;
    }
    assert_eq!(v["heartbeat"], "ping", "{v:#}");
    assert_eq!(v["bad_signature"], "dropped", "{v:#}");
    assert_eq!(v["reply_signed"], true, "{v:#}");
    let info = &v["kernel_info"];
    assert_eq!(info["protocol_version"], "5.3", "{v:#}");
    assert_eq!(info["language_info"]["name"], "rhai");
    assert_eq!(info["language_info"]["file_extension"], ".rhai");
    assert_eq!(v["unknown"]["msg_type"], "frobnicate_reply", "{v:#}");
    assert_eq!(v["unknown"]["content"]["status"], "error", "{v:#}");
    assert_eq!(v["exit_after_sigterm"], 0, "{v:#}");
    let stderr = v["stderr"].as_str().unwrap();
    assert!(stderr.contains("a bad signature"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn kernel_install_writes_the_spec_and_bad_connection_files_are_refused() {
    let t = Test::new();
    t.wf(&["kernel", "install", "--prefix", &t.at("prefix")])
        .status(0)
        .stderr_contains("installed the kernel spec `wf`");
    let dir = t.path("prefix/share/jupyter/kernels/wf");
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap()).unwrap();
    let exe = spec["argv"][0].as_str().unwrap();
    assert!(Path::new(exe).is_absolute(), "{spec:#}");
    assert_eq!(
        spec["argv"],
        json!([exe, "kernel", "--connection-file", "{connection_file}"])
    );
    assert_eq!(spec["language"], "rhai");
    for logo in ["logo-32x32.png", "logo-64x64.png"] {
        let bytes = std::fs::read(dir.join(logo)).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG", "{logo}");
    }
    // --user honours $JUPYTER_DATA_DIR.
    install(&t);
    assert!(t.path("jupyter/kernels/wf/kernel.json").is_file());

    t.wf(&["kernel"])
        .status(2)
        .stderr_contains("--connection-file");
    t.wf(&["kernel", "--connection-file", &t.at("nowhere.json")])
        .status(2)
        .stderr_contains("cannot read the connection file");
    t.write("garbled.json", "{ \"ip\": ");
    t.wf(&["kernel", "--connection-file", &t.at("garbled.json")])
        .status(2)
        .stderr_contains("is not a Jupyter connection file");
}

#[test]
fn the_example_notebook_runs_under_nbconvert() {
    if !need(Tool::Jupyter) {
        return;
    }
    let t = Test::new();
    install(&t);
    let repo = Path::new(MANIFEST_DIR);
    let out = Command::new(crate::tools::which("jupyter"))
        .args(["nbconvert", "--to", "notebook", "--execute", "--output"])
        .env("PATH", crate::tools::path())
        .arg(t.path("executed.ipynb"))
        .arg(repo.join("examples/notebook.ipynb"))
        .current_dir(repo.join("examples"))
        .env("JUPYTER_DATA_DIR", t.at("jupyter"))
        .env("WF_HOME", t.home())
        .output()
        .expect("nbconvert runs");
    assert!(
        out.status.success(),
        "nbconvert failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nb: Value =
        serde_json::from_str(&std::fs::read_to_string(t.path("executed.ipynb")).unwrap()).unwrap();
    let text = nb.to_string();
    assert!(
        text.contains("has ended: executed"),
        "the walkthrough did not finish"
    );
}
