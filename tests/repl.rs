//! The development state from the outside (CONTRACT.md §1 "Methods", §3 `wf repl`, the
//! reference's §4.8): the REPL at a real terminal (driven through tmux), the REPL session as a
//! library, completion, `workflow.run(...)` inside a script run by `wf run`, `wf compare`, and
//! `wf resume` of a debug execution left unfinished.
//!
//! Every test works in its own temporary folder with its own home; jobs are tiny `sh -c`
//! commands that leave traces there (a counter file gets one line per run of a job, an
//! arguments file gets the `"$@"` the job saw).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wf::repl::complete::{complete, is_incomplete, Known};
use wf::repl::Session;

const WF: &str = env!("CARGO_BIN_EXE_wf");
const TMUX: &str = "/usr/bin/tmux";

// ---------------------------------------------------------------------------------------------
// Running wf

/// One test's world: a temporary folder holding the home (`home/`), the scripts, the storage
/// root (`runs/`) and the jobs' traces.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn at(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn write(&self, rel: &str, text: &str) -> String {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    fn count(&self, rel: &str) -> usize {
        self.read(rel).lines().count()
    }

    /// `out=ROOT`, the storage every workflow here declares.
    fn storage(&self) -> String {
        format!("out={}", self.at("runs"))
    }

    fn wf(&self, args: &[&str]) -> Ran {
        let out: Output = Command::new(WF)
            .args(args)
            .arg("--home")
            .arg(self.home())
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("WF_HOME")
            .stdin(Stdio::null())
            .output()
            .expect("wf runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        Ran {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr,
        }
    }

    /// A REPL session as the library offers it, in this folder, with the `out` storage.
    fn session(&self) -> Session {
        Session::new(
            self.home(),
            self.dir.path().to_path_buf(),
            vec![self.storage()],
            false,
        )
    }
}

#[derive(Debug)]
struct Ran {
    code: i32,
    json: Value,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "wf panicked: {}",
            self.stderr
        );
    }
}

fn step<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step `{name}` in the record:\n{record:#}"))
}

fn step_status<'a>(record: &'a Value, name: &str) -> &'a str {
    step(record, name)["status"].as_str().unwrap_or("?")
}

/// A Rhai string literal.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn job_step(name: &str, command: &str, params: &str, input: &str, output: &str) -> String {
    format!(
        "let {name} = wf.steps.JobStep(#{{\n    name: {qn},\n    \
         algorithm: wf.BaseAlgorithm(#{{ command: {cmd}, parameters: [{params}] }}),\n    \
         spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: \"cpu.small\" }}) }}),\n    \
         inputs: [wf.steps.JobInput(\"data\", {input})],\n    \
         outputs: [{output}],\n}});\n",
        qn = q(name),
        cmd = q(command),
    )
}

fn dir_output(dir: &str) -> String {
    format!(
        "wf.steps.JobOutput(\"out\", #{{ obs_config: wf.data.OBSOutputConfig(storage.join({})) }})",
        q(dir)
    )
}

/// The reference-style development workflow: `first` (counts its runs in `first.count`), then
/// `second`, which consumes `first`'s output and has the hyperparameter `epochs` from a delayed
/// INT placeholder (it appends the arguments it saw to `second.args`). Ends with
/// `let workflow = wf.Workflow(...)`; `epochs` is `delay: true` unless `epochs` says otherwise.
fn dev_script(env: &Env, epochs: &str) -> String {
    let mut s = String::from("let storage = wf.data.OutputStorage(#{ name: \"out\" });\n");
    s += &format!(
        "let epochs = wf.Placeholder(#{{ name: \"epochs\", placeholder_type: wf.PlaceholderType.INT, {epochs} }});\n"
    );
    s += &job_step(
        "first",
        &format!("echo run >> '{}'", env.at("first.count")),
        "",
        "wf.data.OBSPath(\".\")",
        &dir_output("first"),
    );
    s += &job_step(
        "second",
        &format!("echo \"$@\" >> '{}'", env.at("second.args")),
        "wf.AlgorithmParameters(\"epochs\", epochs)",
        "first.outputs[\"out\"].as_input()",
        &dir_output("second"),
    );
    s += "let workflow = wf.Workflow(#{ name: \"dev\", desc: \"develop me\", steps: [first, second], storages: [storage] });\n";
    s
}

// ---------------------------------------------------------------------------------------------
// A terminal through tmux

/// A private tmux server; killed when dropped, also when the test fails.
struct Tmux {
    socket: String,
    /// The socket file, removed with the server.
    path: Option<PathBuf>,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let mut t = Tmux {
            socket: format!("wf-repl-test-{}-{nanos}", std::process::id()),
            path: None,
        };
        let started = t.cmd(&["new-session", "-d", "-x", "120", "-y", "60", command]);
        assert!(
            started.status.success(),
            "tmux new-session failed: {started:?}"
        );
        let path = t.cmd(&["display-message", "-p", "#{socket_path}"]).stdout;
        let path = String::from_utf8_lossy(&path).trim().to_string();
        t.path = (!path.is_empty()).then(|| PathBuf::from(path));
        t
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(TMUX)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-S", "-200"]).stdout).to_string()
    }

    /// Types `text` and Enter. Returns the screen as it was before, for `expect_new`.
    fn type_line(&self, text: &str) -> String {
        let before = self.screen();
        assert!(self.cmd(&["send-keys", "-l", text]).status.success());
        assert!(self.cmd(&["send-keys", "Enter"]).status.success());
        before
    }

    /// Waits until every text of `wanted` appears more often than on the screen `before`.
    fn expect_new(&self, before: &str, wanted: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let now = self.screen();
            if wanted
                .iter()
                .all(|w| now.matches(w).count() > before.matches(w).count())
            {
                return now;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("timed out waiting for {wanted:?}; the screen:\n{now}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types a line and waits for the texts, then for the next prompt. Returns what the
    /// input printed: the screen from the last `wf> TEXT` on.
    fn step(&self, text: &str, wanted: &[&str]) -> String {
        let before = self.type_line(text);
        let mut all = wanted.to_vec();
        all.push("wf>");
        let screen = self.expect_new(&before, &all);
        let said = after_last(&screen, &format!("wf> {text}"));
        assert!(
            !said.is_empty(),
            "the input `{text}` is not on the screen:\n{screen}"
        );
        said.to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        if let Some(p) = &self.path {
            let _ = fs::remove_file(p);
        }
    }
}

/// The part of the screen after the last occurrence of `marker` (what one input printed).
fn after_last<'a>(screen: &'a str, marker: &str) -> &'a str {
    screen.rfind(marker).map(|i| &screen[i..]).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// 1. The REPL at a terminal

#[test]
fn repl_at_a_terminal_debugs_a_workflow_phase_by_phase() {
    let env = Env::new();
    let script = env.write("flow.rhai", &dev_script(&env, "delay: true"));
    let shell = format!(
        "NO_COLOR=1 {WF} --home '{}' repl '{script}' --storage '{}'",
        env.at("home"),
        env.storage()
    );
    let t = Tmux::start(&shell);
    t.expect_new("", &["wf>"]);
    let screen = t.screen();
    assert!(screen.contains("the workflow is bound"), "{screen}");

    let s = t.step("workflow.debug(#{})", &["debug execution "]);
    let shown = after_last(&s, "debug execution ");
    let id: String = shown["debug execution ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert!(!id.is_empty(), "no execution id on the screen:\n{s}");

    let s = t.step("workflow.next()", &["first: executed", "next: second"]);
    assert_eq!(env.count("first.count"), 1, "{s}");

    let s = t.step("workflow.next()", &["second cannot run yet"]);
    let said = &s;
    assert!(
        said.contains("workflow.set_placeholder(\"epochs\", 10)"),
        "the line to type is not shown:\n{s}"
    );
    assert_eq!(env.read("second.args"), "", "second ran without its value");

    let s = t.step("workflow.set_placeholder(\"epochs\", \"x\")", &["error"]);
    let said = &s;
    assert!(
        said.contains("error") && said.contains("`epochs`") && said.contains("INT"),
        "the error does not name `epochs` and INT:\n{s}"
    );

    t.step("workflow.set_placeholder(\"epochs\", 3)", &[]);
    let s = t.step(
        "workflow.next()",
        &["second: executed", "has ended: executed"],
    );
    assert!(s.contains(&id), "{s}");

    // next() after the end says so (and does not run anything again).
    let s = t.step("workflow.next()", &["has ended"]);
    assert!(
        !s.contains(": executed in"),
        "a step ran again after the end:\n{s}"
    );
    assert_eq!(env.count("first.count"), 1, "first ran again:\n{s}");
    assert_eq!(
        env.read("second.args").lines().count(),
        1,
        "second ran again:\n{s}"
    );

    let s = t.step(":status", &["executed"]);
    let status = &s;
    let line_of = |name: &str| {
        status
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for `{name}` in :status:\n{status}"))
            .to_string()
    };
    assert!(line_of("first").contains("executed"), "{status}");
    assert!(line_of("second").contains("executed"), "{status}");

    // Open brackets continue the input on the next line.
    t.type_line("let sizes = [1,");
    t.type_line("  2, 3];");
    let s = t.step("sizes.len() * 7", &["21"]);
    assert!(!s.contains("error"), "{s}");

    t.type_line(":quit");
    drop(t);

    let r = env.wf(&["show", &id, "--json"]);
    r.no_panic();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json["status"], "executed", "{:#}", r.json);
    assert_eq!(step_status(&r.json, "first"), "executed");
    assert_eq!(step_status(&r.json, "second"), "executed");
    assert_eq!(r.json["parameters"]["epochs"], 3, "{:#}", r.json);
    let args = env.read("second.args");
    assert!(args.contains("--epochs=3"), "second saw: {args}");
}

// ---------------------------------------------------------------------------------------------
// 2. The session as a library

#[test]
fn session_keeps_variables_and_functions_between_inputs() {
    let env = Env::new();
    let mut s = env.session();
    let o = s.input("let x = 41;");
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input("fn inc(v) { v + 1 }");
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input("inc(x)");
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(o.out.contains("42"), "{o:?}");
    // The function is still there after another input.
    s.input("let y = 1;");
    let o = s.input("inc(inc(y))");
    assert!(o.out.contains('3'), "{o:?}");
}

#[test]
fn multi_line_input_continues_until_the_brackets_close() {
    assert!(is_incomplete("let workflow = wf.Workflow(#{"));
    assert!(is_incomplete(
        "let workflow = wf.Workflow(#{\n    name: \"a\","
    ));
    assert!(!is_incomplete(
        "let workflow = wf.Workflow(#{ name: \"a\" });"
    ));
    assert!(!is_incomplete("let s = \"#{ (\";"));

    let env = Env::new();
    let mut s = env.session();
    // The whole development workflow as one input of many lines.
    let o = s.input(&dev_script(&env, "delay: true"));
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(s.workflow().is_some(), "no workflow bound");
    let o = s.input("workflow");
    assert!(o.out.contains("dev") && o.out.contains("2 steps"), "{o:?}");
    let o = s.input("let n = [\n  1,\n  2,\n  3\n];\nn.len()");
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(o.out.contains('3'), "{o:?}");
}

#[test]
fn an_error_is_reported_and_the_session_goes_on() {
    let env = Env::new();
    let mut s = env.session();
    s.input("let x = 41;");
    let o = s.input("let y = x + nowhere;");
    assert!(o.err.contains("<repl>:1:"), "no located diagnostic: {o:?}");
    assert!(o.err.contains("error"), "{o:?}");
    assert!(!o.quit);
    let o = s.input("let z = wf.steps.JobStep(#{ nme: \"a\" });");
    assert!(o.err.contains("<repl>:1:"), "{o:?}");
    assert!(o.err.contains("name"), "no did-you-mean for `nme`: {o:?}");
    let o = s.input("x + 1");
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(o.out.contains("42"), "{o:?}");
    let o = s.input("let broken = (;");
    assert!(o.err.contains("<repl>:1:"), "{o:?}");
    let o = s.input("x");
    assert!(o.out.contains("41"), "{o:?}");
}

#[test]
fn colon_commands_help_graph_params_clear_quit() {
    let env = Env::new();
    let mut s = env.session();

    let o = s.input(":help");
    for c in [":graph", ":params", ":clear", ":quit", ":status"] {
        assert!(o.out.contains(c), "`:help` does not list {c}: {o:?}");
    }
    assert!(!o.quit);

    let o = s.input(":graph");
    assert!(
        !o.err.is_empty(),
        "`:graph` with no workflow says nothing: {o:?}"
    );

    let o = s.input(&dev_script(&env, "delay: true"));
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input(":graph");
    assert!(
        o.out.contains("first") && o.out.contains("second"),
        "`:graph` does not list the steps: {o:?}"
    );

    let o = s.input(":params");
    let line = o
        .out
        .lines()
        .find(|l| l.contains("epochs"))
        .unwrap_or_else(|| panic!("`:params` does not list epochs: {o:?}"));
    assert!(line.contains("INT"), "{o:?}");
    assert!(!line.contains('3'), "{o:?}");
    let o = s.input("workflow.set_placeholder(\"epochs\", 3)");
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input(":params");
    let line = o.out.lines().find(|l| l.contains("epochs")).unwrap_or("");
    assert!(
        line.contains('3'),
        "`:params` does not show the value set: {o:?}"
    );

    let o = s.input(":nope");
    assert!(o.err.contains(":nope"), "{o:?}");

    let o = s.input(":clear");
    assert!(!o.quit, "{o:?}");
    assert!(s.workflow().is_none(), "the workflow survived :clear");
    let o = s.input("workflow");
    assert!(!o.err.is_empty(), "the variable survived :clear: {o:?}");
    assert!(o.err.contains("workflow"), "{o:?}");
    let o = s.input(":graph");
    assert!(o.out.is_empty() && !o.err.is_empty(), "{o:?}");

    let o = s.input(":quit");
    assert!(o.quit, "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Completion

/// The line after accepting `candidate` for the completion at its end.
fn accept(line: &str, start: usize, candidate: &str) -> String {
    format!("{}{candidate}", &line[..start])
}

#[test]
fn completion_of_namespaces_keywords_and_methods() {
    let env = Env::new();
    let mut s = env.session();
    let o = s.input(&dev_script(&env, "delay: true"));
    assert!(!o.err.contains("error"), "{o:?}");
    let (vars, functions) = s.known();
    let known = Known {
        vars: vars.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
        functions,
    };

    let line = "let steps = wf.st";
    let (start, c) = complete(line, line.len(), &known);
    assert!(c.iter().any(|c| c == "wf.steps"), "{c:?}");
    assert_eq!(accept(line, start, "wf.steps"), "let steps = wf.steps");

    let line = "let a = wf.steps.JobStep(#{ name: \"a\", al";
    let (start, c) = complete(line, line.len(), &known);
    assert!(c.iter().any(|c| c == "algorithm: "), "{c:?}");
    assert_eq!(
        accept(line, start, "algorithm: "),
        "let a = wf.steps.JobStep(#{ name: \"a\", algorithm: "
    );

    let line = "workflow.ne";
    let (start, c) = complete(line, line.len(), &known);
    assert_eq!(c, vec!["workflow.next("], "{c:?}");
    assert_eq!(accept(line, start, &c[0]), "workflow.next(");

    // Variables the inputs defined complete too.
    let line = "sec";
    let (_, c) = complete(line, line.len(), &known);
    assert!(c.iter().any(|c| c == "second"), "{c:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. set_placeholder / set_data are checked

#[test]
fn set_placeholder_and_set_data_refuse_the_wrong_kind_naming_it() {
    let env = Env::new();
    let mut s = env.session();
    let mut script = dev_script(&env, "delay: true");
    // A data placeholder beside: `src`, an OBS directory the first step reads.
    script = script.replace(
        "let storage",
        "let src = wf.data.OBSPlaceholder(#{ name: \"src\", object_type: \"directory\" });\nlet storage",
    );
    script = script.replacen("wf.data.OBSPath(\".\")", "src", 1);
    let o = s.input(&script);
    assert!(!o.err.contains("error"), "{o:?}");

    let o = s.input("workflow.set_placeholder(\"epochs\", \"x\")");
    assert!(o.err.contains("epochs") && o.err.contains("INT"), "{o:?}");
    let o = s.input("workflow.set_placeholder(\"epochs\", 2.5)");
    assert!(o.err.contains("epochs") && o.err.contains("INT"), "{o:?}");
    let o = s.input("workflow.set_placeholder(\"nothing\", 1)");
    assert!(o.err.contains("nothing"), "{o:?}");
    let o = s.input("workflow.set_placeholder(\"epochs\", 4)");
    assert!(!o.err.contains("error"), "{o:?}");

    let o = s.input(
        "workflow.set_data(\"src\", wf.data.Dataset(#{ dataset_name: \"d\", version_name: \"V001\" }))",
    );
    assert!(
        o.err.contains("src"),
        "the refusal does not name `src`: {o:?}"
    );
    assert!(o.err.contains("OBSPlaceholder"), "{o:?}");
    assert!(
        o.err.contains("Dataset"),
        "the refusal does not name what was given: {o:?}"
    );
    let o = s.input("workflow.set_placeholder(\"src\", \"/tmp\")");
    assert!(o.err.contains("set_data"), "{o:?}");
    let o = s.input(&format!(
        "workflow.set_data(\"src\", wf.data.OBSPath(#{{ obs_path: {} }}))",
        q(&env.at("."))
    ));
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input(":params");
    assert!(o.out.contains("src") && o.out.contains("epochs"), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. workflow.run inside a script run by `wf run`

#[test]
fn workflow_run_in_a_script_runs_once_and_its_record_is_printed() {
    let env = Env::new();
    let mut script = dev_script(&env, "default: 2");
    script += "let r = workflow.run(#{});\nprint(r.status);\n";
    let script = env.write("flow.rhai", &script);
    let storage = env.storage();
    let r = env.wf(&["run", &script, "--storage", &storage, "--json"]);
    r.no_panic();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json["status"], "executed",
        "stdout is not the record: {r:?}"
    );
    assert_eq!(step_status(&r.json, "first"), "executed");
    assert_eq!(step_status(&r.json, "second"), "executed");
    let id = r.json["execution_id"]
        .as_str()
        .expect("an execution id")
        .to_string();

    let list = env.wf(&["executions", "--json"]);
    let list = list.json.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "the script's run ran twice: {list:#?}");
    assert_eq!(list[0]["execution_id"], id.as_str());
    assert_eq!(env.count("first.count"), 1);
    assert!(
        env.read("second.args").contains("--epochs=2"),
        "{}",
        env.read("second.args")
    );
}

#[test]
fn a_failing_workflow_run_in_a_script_makes_wf_run_exit_1() {
    let env = Env::new();
    let mut script = dev_script(&env, "default: 2");
    script = script.replace(
        &format!("echo run >> '{}'", env.at("first.count")),
        "exit 1",
    );
    assert!(script.contains("exit 1"));
    script += "let r = workflow.run(#{});\nprint(r.status);\n";
    let script = env.write("flow.rhai", &script);
    let storage = env.storage();
    let r = env.wf(&["run", &script, "--storage", &storage, "--json"]);
    r.no_panic();
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json["status"], "failed", "{r:?}");
    assert_eq!(step_status(&r.json, "first"), "failed");
    assert_eq!(env.read("second.args"), "", "second ran after first failed");
    let list = env.wf(&["executions", "--json"]);
    assert_eq!(list.json.as_array().map(Vec::len), Some(1), "{list:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. wf compare

#[test]
fn compare_shows_three_executions_side_by_side() {
    let env = Env::new();
    let metrics = r#"printf '[{"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": %s}}]' "$WF_PARAM_ACC" > "$WF_OUTPUT_METRICS""#;
    let mut s = String::from("let storage = wf.data.OutputStorage(#{ name: \"out\" });\n");
    s += "let acc = wf.Placeholder(#{ name: \"acc\", placeholder_type: wf.PlaceholderType.FLOAT });\n";
    s += &job_step(
        "train",
        metrics,
        "wf.AlgorithmParameters(\"acc\", acc)",
        "wf.data.OBSPath(\".\")",
        "wf.steps.JobOutput(\"metrics\", #{ metrics_config: wf.data.MetricsConfig(storage.join(\"train/metrics.json\", #{ create_dir: false })) })",
    );
    s += "wf.Workflow(#{ name: \"metrics\", desc: \"d\", steps: [train], storages: [storage] })\n";
    let script = env.write("flow.rhai", &s);
    let storage = env.storage();

    let mut ids = Vec::new();
    for acc in ["0.1", "0.5", "0.9"] {
        let p = format!("acc={acc}");
        let r = env.wf(&[
            "run",
            &script,
            "--storage",
            &storage,
            "-p",
            &p,
            "--experiment",
            "e1",
            "--json",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            step(&r.json, "train")["metrics"]["accuracy"].as_f64(),
            acc.parse().ok()
        );
        ids.push(r.json["execution_id"].as_str().unwrap().to_string());
    }
    // One more outside the experiment.
    let r = env.wf(&[
        "run",
        &script,
        "--storage",
        &storage,
        "-p",
        "acc=0.3",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");

    let r = env.wf(&["compare", &ids[0], &ids[1], &ids[2]]);
    r.no_panic();
    assert_eq!(r.code, 0, "{r:?}");
    let table = &r.stdout;
    for id in &ids {
        assert!(table.contains(id.as_str()), "no {id} in:\n{table}");
    }
    for line in table.lines() {
        assert!(
            line.chars().count() <= 80,
            "a line wider than 80 columns ({}):\n{line}\n{table}",
            line.chars().count()
        );
    }
    let row = |start: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` row in:\n{table}"))
            .to_string()
    };
    let numbers = |l: &str| -> Vec<f64> {
        l.split_whitespace()
            .filter_map(|w| w.parse::<f64>().ok())
            .collect()
    };
    // The columns follow the ids given.
    let header = table.lines().find(|l| l.contains(ids[0].as_str())).unwrap();
    let cols: Vec<usize> = ids
        .iter()
        .map(|id| header.find(id.as_str()).unwrap())
        .collect();
    assert!(cols[0] < cols[1] && cols[1] < cols[2], "{table}");

    let accuracy = row("train.accuracy");
    assert_eq!(numbers(&accuracy), vec![0.1, 0.5, 0.9], "{table}");
    assert!(
        accuracy.trim_end().ends_with('*'),
        "the differing metric is not marked:\n{table}"
    );
    let param = table
        .lines()
        .find(|l| l.contains("acc") && !l.contains("accuracy"))
        .unwrap_or_else(|| panic!("no row for the parameter acc:\n{table}"));
    assert_eq!(numbers(param), vec![0.1, 0.5, 0.9], "{table}");
    assert!(
        param.trim_end().ends_with('*'),
        "the differing param is not marked:\n{table}"
    );
    let workflow = row("workflow");
    assert!(!workflow.contains('*'), "an equal row is marked:\n{table}");
    let status = row("status");
    assert!(!status.contains('*'), "an equal row is marked:\n{table}");

    let r = env.wf(&["executions", "--experiment", "e1", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut listed: Vec<String> = r
        .json
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"))
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap_or("?").to_string())
        .collect();
    listed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(listed, want, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// 7. A debug execution left unfinished, finished by `wf resume`

#[test]
fn debug_execution_left_unfinished_is_finished_by_resume() {
    let env = Env::new();
    let id = {
        let mut s = env.session();
        let o = s.input(&dev_script(&env, "delay: true"));
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("workflow.set_placeholder(\"epochs\", 5)");
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("let id = workflow.debug(#{}); id");
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("workflow.next()");
        assert!(!o.err.contains("error"), "{o:?}");
        assert_eq!(env.count("first.count"), 1);
        let id = s.dev.debug_execution().expect("a debug execution");
        let o = s.input("id");
        assert!(o.out.contains(&id), "debug() did not return the id: {o:?}");
        // While the session holds it, another process may not carry it on.
        let r = env.wf(&["resume", &id, "--json"]);
        r.no_panic();
        assert_ne!(r.code, 0, "resumed while the REPL holds it: {r:?}");
        assert!(r.stderr.contains(&id), "{r:?}");
        assert_eq!(
            env.read("second.args"),
            "",
            "second ran under the REPL's feet"
        );
        id
    };

    let shown = env.wf(&["show", &id, "--json"]);
    assert_eq!(step_status(&shown.json, "first"), "executed", "{shown:?}");
    assert_ne!(shown.json["status"], "executed", "{shown:?}");

    let r = env.wf(&["resume", &id, "--json"]);
    r.no_panic();
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json["status"], "executed", "{r:?}");
    let shown = env.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "executed", "{shown:?}");
    for name in ["first", "second"] {
        assert_eq!(
            step_status(&shown.json, name),
            "executed",
            "{:#}",
            shown.json
        );
    }
    assert_eq!(
        env.count("first.count"),
        1,
        "resume ran the executed step again"
    );
    assert!(
        env.read("second.args").contains("--epochs=5"),
        "{}",
        env.read("second.args")
    );
}

#[test]
fn a_workflow_given_as_a_value_is_bound_for_debugging() {
    let env = Env::new();
    let mut s = env.session();
    let script = dev_script(&env, "default: 1")
        .replace("let workflow = wf.Workflow(", "wf.Workflow(")
        .replace("] });\n", "] })\n");
    assert!(!script.contains("let workflow"));
    let o = s.input(&script);
    assert!(o.err.contains("`workflow`"), "{o:?}");
    assert!(s.workflow().is_some(), "{o:?}");
    let o = s.input("workflow.run(#{}).status");
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(o.out.contains("executed"), "{o:?}");
}

/// `Output` is "what evaluating one input printed": what `debug`, `next` and `set_placeholder`
/// report belongs in it, so a program using the session (the REPL benchmark does) sees it.
#[test]
fn session_output_carries_what_debug_and_next_report() {
    let env = Env::new();
    let mut s = env.session();
    let o = s.input(&dev_script(&env, "delay: true"));
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input("workflow.debug(#{})");
    let id = s.dev.debug_execution().expect("a debug execution");
    assert!(
        o.err.contains(&format!("debug execution {id}")),
        "debug()'s report is not in the input's output: {o:?}"
    );
    let o = s.input("workflow.next()");
    assert!(
        o.err.contains("first: executed") && o.err.contains("next: second"),
        "next()'s report is not in the input's output: {o:?}"
    );
    let o = s.input("workflow.next()");
    assert!(
        o.err.contains("second cannot run yet")
            && o.err.contains("workflow.set_placeholder(\"epochs\""),
        "next()'s report is not in the input's output: {o:?}"
    );
}

#[test]
fn ctrl_c_stops_the_running_phase_and_not_the_repl() {
    let env = Env::new();
    let mut s = String::from("let storage = wf.data.OutputStorage(#{ name: \"out\" });\n");
    s += &job_step(
        "nap",
        &format!("echo $$ > '{}'; sleep 30", env.at("nap.pid")),
        "",
        "wf.data.OBSPath(\".\")",
        &dir_output("nap"),
    );
    s += "let workflow = wf.Workflow(#{ name: \"sleepy\", desc: \"d\", steps: [nap], storages: [storage] });\n";
    let script = env.write("sleepy.rhai", &s);
    let command = format!(
        "NO_COLOR=1 {} --home {} repl {} --storage {}",
        env!("CARGO_BIN_EXE_wf"),
        env.home().display(),
        script,
        env.storage()
    );
    let t = Tmux::start(&command);
    t.expect_new("", &["wf>"]);
    t.step("workflow.debug(#{})", &["debug execution"]);
    let before = t.type_line("workflow.next()");
    // Wait until the job runs, then interrupt it.
    let start = Instant::now();
    while env.read("nap.pid").trim().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the job never started:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.cmd(&["send-keys", "C-c"]).status.success());
    t.expect_new(&before, &["nap: stopped", "wf>"]);
    // The session goes on.
    let said = t.step("40 + 2", &["42"]);
    assert!(said.contains("42"), "{said}");
    let pid = env.read("nap.pid").trim().to_string();
    let start = Instant::now();
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the stopped job is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
