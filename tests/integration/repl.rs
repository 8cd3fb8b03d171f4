//! The development state from the outside (README, "A script"; `wf repl --help`; the
//! reference's §4.8): the REPL at a real terminal (driven through tmux), the REPL session as a
//! library, completion, `workflow.run(...)` inside a script run by `wf run`, `wf compare`, and
//! `wf resume` of a debug execution left unfinished.
//!
//! Every test works in its own temporary folder with its own home; jobs are tiny `sh -c`
//! commands that leave traces there (a counter file gets one line per run of a job, an
//! arguments file gets the `"$@"` the job saw).

use std::time::Duration;

use wf::repl::complete::{complete, is_incomplete, Known};
use wf::repl::Session;

use crate::test::{
    after_last, alive, flow, input, job, metrics_output, q, step, step_status, tick, wait_until,
    Test, Tmux, STORAGE,
};

/// A REPL session as the library offers it, in the test's folder, with the `out` storage.
fn session(t: &Test) -> Session {
    Session::new(t.home(), t.dir().to_path_buf(), vec![t.storage()], false)
}

/// The reference-style development workflow: `first` (counts its runs in `first.count`), then
/// `second`, which consumes `first`'s output and has the hyperparameter `epochs` from a delayed
/// INT placeholder (it appends the arguments it saw to `second.args`). Ends with
/// `let workflow = wf.Workflow(...)`; `epochs` is `delay: true` unless `epochs` says otherwise.
fn dev_script(t: &Test, epochs: &str) -> String {
    let first = job("first", &tick(&t.at("first.count")));
    let second = job(
        "second",
        &format!("echo \"$@\" >> '{}'", t.at("second.args")),
    )
    .param("epochs", "epochs")
    .inputs(&[&input("data", "first.outputs[\"out\"].as_input()")]);
    let mut s = String::from(STORAGE);
    s += &format!(
        "let epochs = wf.Placeholder(#{{ name: \"epochs\", placeholder_type: wf.PlaceholderType.INT, {epochs} }});\n"
    );
    s += &first.rhai();
    s += &second.rhai();
    s += "let workflow = wf.Workflow(#{ name: \"dev\", desc: \"develop me\", steps: [first, second], storages: [storage] });\n";
    s
}

// ---------------------------------------------------------------------------------------------
// 1. The REPL at a terminal

#[test]
fn repl_at_a_terminal_debugs_a_workflow_phase_by_phase() {
    let t = Test::new();
    let script = t
        .write("flow.rhai", &dev_script(&t, "delay: true"))
        .at("flow.rhai");
    let storage = t.storage();
    let Some(term) = Tmux::start(t.args(&["repl", &script, "--storage", &storage])) else {
        return;
    };
    term.expect_new("", &["wf>"]);
    let screen = term.screen();
    assert!(screen.contains("the workflow is bound"), "{screen}");

    let s = term.step("workflow.debug(#{})", &["debug execution "]);
    let shown = after_last(&s, "debug execution ");
    let id: String = shown["debug execution ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert!(!id.is_empty(), "no execution id on the screen:\n{s}");

    let s = term.step("workflow.next()", &["first: executed", "next: second"]);
    assert_eq!(t.count("first.count"), 1, "{s}");

    let s = term.step("workflow.next()", &["second cannot run yet"]);
    let said = &s;
    assert!(
        said.contains("workflow.set_placeholder(\"epochs\", 10)"),
        "the line to type is not shown:\n{s}"
    );
    assert_eq!(t.read("second.args"), "", "second ran without its value");

    let s = term.step("workflow.set_placeholder(\"epochs\", \"x\")", &["error"]);
    let said = &s;
    assert!(
        said.contains("error") && said.contains("`epochs`") && said.contains("INT"),
        "the error does not name `epochs` and INT:\n{s}"
    );

    term.step("workflow.set_placeholder(\"epochs\", 3)", &[]);
    let s = term.step(
        "workflow.next()",
        &["second: executed", "has ended: executed"],
    );
    assert!(s.contains(&id), "{s}");

    // next() after the end says so (and does not run anything again).
    let s = term.step("workflow.next()", &["has ended"]);
    assert!(
        !s.contains(": executed in"),
        "a step ran again after the end:\n{s}"
    );
    assert_eq!(t.count("first.count"), 1, "first ran again:\n{s}");
    assert_eq!(
        t.read("second.args").lines().count(),
        1,
        "second ran again:\n{s}"
    );

    let s = term.step(":status", &["executed"]);
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
    term.type_line("let sizes = [1,");
    term.type_line("  2, 3];");
    let s = term.step("sizes.len() * 7", &["21"]);
    assert!(!s.contains("error"), "{s}");

    term.type_line(":quit");
    drop(term);

    let r = t.wf(&["show", &id, "--json"]);
    r.status(0);
    assert_eq!(r.json["status"], "executed", "{:#}", r.json);
    assert_eq!(step_status(&r.json, "first"), "executed");
    assert_eq!(step_status(&r.json, "second"), "executed");
    assert_eq!(r.json["parameters"]["epochs"], 3, "{:#}", r.json);
    let args = t.read("second.args");
    assert!(args.contains("--epochs=3"), "second saw: {args}");
}

/// Without a terminal the REPL reads its input line by line and prints only the values on
/// stdout, so it can be driven from a pipe.
#[test]
fn repl_reads_piped_input_line_by_line() {
    Test::new()
        .args(&["repl"])
        .stdin("let x = 40;\nx + 2\n")
        .run()
        .status(0)
        .stdout_is("42\n");
}

// ---------------------------------------------------------------------------------------------
// 2. The session as a library

#[test]
fn session_keeps_variables_and_functions_between_inputs() {
    let t = Test::new();
    let mut s = session(&t);
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

    let t = Test::new();
    let mut s = session(&t);
    // The whole development workflow as one input of many lines.
    let o = s.input(&dev_script(&t, "delay: true"));
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
    let t = Test::new();
    let mut s = session(&t);
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
    let t = Test::new();
    let mut s = session(&t);

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

    let o = s.input(&dev_script(&t, "delay: true"));
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
    let t = Test::new();
    let mut s = session(&t);
    let o = s.input(&dev_script(&t, "delay: true"));
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
    let t = Test::new();
    let mut s = session(&t);
    let mut script = dev_script(&t, "delay: true");
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
        q(&t.at("."))
    ));
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input(":params");
    assert!(o.out.contains("src") && o.out.contains("epochs"), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. workflow.run inside a script run by `wf run`

#[test]
fn workflow_run_in_a_script_runs_once_and_its_record_is_printed() {
    let t = Test::new();
    let mut script = dev_script(&t, "default: 2");
    script += "let r = workflow.run(#{});\nprint(r.status);\n";
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();
    let r = t.wf(&["run", &script, "--storage", &storage, "--json"]);
    r.status(0);
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

    let list = t.wf(&["executions", "--json"]);
    let list = list.json.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "the script's run ran twice: {list:#?}");
    assert_eq!(list[0]["execution_id"], id.as_str());
    assert_eq!(t.count("first.count"), 1);
    assert!(
        t.read("second.args").contains("--epochs=2"),
        "{}",
        t.read("second.args")
    );
}

#[test]
fn a_failing_workflow_run_in_a_script_makes_wf_run_exit_1() {
    let t = Test::new();
    let mut script = dev_script(&t, "default: 2");
    script = script.replace(&format!("echo run >> '{}'", t.at("first.count")), "exit 1");
    assert!(script.contains("exit 1"));
    script += "let r = workflow.run(#{});\nprint(r.status);\n";
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();
    let r = t.wf(&["run", &script, "--storage", &storage, "--json"]);
    r.status(1);
    assert_eq!(r.json["status"], "failed", "{r:?}");
    assert_eq!(step_status(&r.json, "first"), "failed");
    assert_eq!(t.read("second.args"), "", "second ran after first failed");
    let list = t.wf(&["executions", "--json"]);
    assert_eq!(list.json.as_array().map(Vec::len), Some(1), "{list:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. wf compare

#[test]
fn compare_shows_three_executions_side_by_side() {
    let t = Test::new();
    let metrics = r#"printf '[{"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": %s}}]' "$WF_PARAM_ACC" > "$WF_OUTPUT_METRICS""#;
    let body = "let acc = wf.Placeholder(#{ name: \"acc\", placeholder_type: wf.PlaceholderType.FLOAT });\n";
    let train = job("train", metrics)
        .param("acc", "acc")
        .outputs(&[&metrics_output("train/metrics.json")]);
    let script = flow("metrics", body, &[train], &["train"]);
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();

    let mut ids = Vec::new();
    for acc in ["0.1", "0.5", "0.9"] {
        let p = format!("acc={acc}");
        let r = t.wf(&[
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
        r.status(0);
        assert_eq!(
            step(&r.json, "train")["metrics"]["accuracy"].as_f64(),
            acc.parse().ok()
        );
        ids.push(r.json["execution_id"].as_str().unwrap().to_string());
    }
    // One more outside the experiment.
    let r = t.wf(&[
        "run",
        &script,
        "--storage",
        &storage,
        "-p",
        "acc=0.3",
        "--json",
    ]);
    r.status(0);

    let r = t.wf(&["compare", &ids[0], &ids[1], &ids[2]]);
    r.status(0);
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

    let r = t.wf(&["executions", "--experiment", "e1", "--json"]);
    r.status(0);
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
    let t = Test::new();
    let id = {
        let mut s = session(&t);
        let o = s.input(&dev_script(&t, "delay: true"));
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("workflow.set_placeholder(\"epochs\", 5)");
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("let id = workflow.debug(#{}); id");
        assert!(!o.err.contains("error"), "{o:?}");
        let o = s.input("workflow.next()");
        assert!(!o.err.contains("error"), "{o:?}");
        assert_eq!(t.count("first.count"), 1);
        let id = s.dev.debug_execution().expect("a debug execution");
        let o = s.input("id");
        assert!(o.out.contains(&id), "debug() did not return the id: {o:?}");
        // While the session holds it, another process may not carry it on.
        let r = t.wf(&["resume", &id, "--json"]);
        assert_ne!(r.code, 0, "resumed while the REPL holds it: {r:?}");
        assert!(r.stderr.contains(&id), "{r:?}");
        assert_eq!(
            t.read("second.args"),
            "",
            "second ran under the REPL's feet"
        );
        id
    };

    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(step_status(&shown.json, "first"), "executed", "{shown:?}");
    assert_ne!(shown.json["status"], "executed", "{shown:?}");

    let r = t.wf(&["resume", &id, "--json"]);
    r.status(0);
    assert_eq!(r.json["status"], "executed", "{r:?}");
    let shown = t.wf(&["show", &id, "--json"]);
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
        t.count("first.count"),
        1,
        "resume ran the executed step again"
    );
    assert!(
        t.read("second.args").contains("--epochs=5"),
        "{}",
        t.read("second.args")
    );
}

#[test]
fn a_workflow_given_as_a_value_is_bound_for_debugging() {
    let t = Test::new();
    let mut s = session(&t);
    let script = dev_script(&t, "default: 1")
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
    let t = Test::new();
    let mut s = session(&t);
    let o = s.input(&dev_script(&t, "delay: true"));
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
    let t = Test::new();
    let nap = job("nap", &format!("echo $$ > '{}'; sleep 30", t.at("nap.pid")));
    let script = format!(
        "{STORAGE}{}let workflow = wf.Workflow(#{{ name: \"sleepy\", desc: \"d\", steps: [nap], storages: [storage] }});\n",
        nap.rhai()
    );
    let script = t.write("sleepy.rhai", &script).at("sleepy.rhai");
    let storage = t.storage();
    let Some(term) = Tmux::start(t.args(&["repl", &script, "--storage", &storage])) else {
        return;
    };
    term.expect_new("", &["wf>"]);
    term.step("workflow.debug(#{})", &["debug execution"]);
    let before = term.type_line("workflow.next()");
    // Wait until the job runs, then interrupt it.
    let started = wait_until(Duration::from_secs(10), || {
        !t.read("nap.pid").trim().is_empty()
    });
    assert!(started, "the job never started:\n{}", term.screen());
    term.keys("C-c");
    term.expect_new(&before, &["nap: stopped", "wf>"]);
    // The session goes on.
    let said = term.step("40 + 2", &["42"]);
    assert!(said.contains("42"), "{said}");
    let pid: u32 = t.read("nap.pid").trim().parse().expect("the job's pid");
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pid)),
        "the stopped job is still running"
    );
}

#[test]
fn debug_never_asks_at_a_prompt_next_names_the_missing_value() {
    let t = Test::new();
    let script = t
        .write(
            "gate.rhai",
            "let epochs = wf.Placeholder(#{ name: \"epochs\", placeholder_type: wf.PlaceholderType.INT });\n\
             let gate = wf.steps.ConditionStep(#{ name: \"gate\", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.GT, epochs, 5) });\n\
             let workflow = wf.Workflow(#{ name: \"w\", desc: \"d\", steps: [gate] });\n",
        )
        .at("gate.rhai");
    let Some(term) = Tmux::start(t.args(&["repl", &script])) else {
        return;
    };
    term.expect_new("", &["wf>"]);
    term.step("workflow.debug(#{})", &["debug execution"]);
    let said = term.step(
        "workflow.next()",
        &["gate cannot run yet", "workflow.set_placeholder(\"epochs\""],
    );
    assert!(!said.contains("epochs (int"), "it prompted:\n{said}");
    term.step("workflow.set_placeholder(\"epochs\", 7)", &["epochs = 7"]);
    term.step("workflow.next()", &["gate: executed", "result   true"]);
}

#[test]
fn ctrl_c_during_an_evaluation_comes_back_to_the_prompt() {
    let t = Test::new();
    let Some(term) = Tmux::start(t.args(&["repl"])) else {
        return;
    };
    term.expect_new("", &["wf>"]);
    let before = term.type_line("let n = 0; loop { n += 1; }");
    std::thread::sleep(Duration::from_millis(300));
    term.keys("C-c");
    term.expect_new(&before, &["interrupted (Ctrl-C)", "wf>"]);
    let said = term.step("40 + 2", &["42"]);
    assert!(said.contains("42"), "{said}");
}

#[test]
fn a_misspelt_parameter_name_gets_a_did_you_mean() {
    let t = Test::new();
    let mut s = session(&t);
    s.input(
        "let epochs = wf.Placeholder(#{ name: \"epochs\", placeholder_type: wf.PlaceholderType.INT });\n\
         let gate = wf.steps.ConditionStep(#{ name: \"gate\", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.GT, epochs, 5) });\n\
         let workflow = wf.Workflow(#{ name: \"w\", desc: \"d\", steps: [gate] });",
    );
    let o = s.input("workflow.set_placeholder(\"epoch\", 7)");
    assert!(
        o.err
            .contains("has no parameter `epoch`; did you mean `epochs`?"),
        "{o:?}"
    );
}

#[test]
fn open_brackets_continue_at_a_continuation_prompt() {
    let t = Test::new();
    let Some(term) = Tmux::start(t.args(&["repl"])) else {
        return;
    };
    term.expect_new("", &["wf>"]);
    let before = term.type_line("let n = [");
    term.expect_new(&before, &["..>"]);
    let before = term.type_line("1, 2, 3");
    term.expect_new(&before, &["..>"]);
    let before = term.type_line("];");
    term.expect_new(&before, &["wf>"]);
    let said = term.step("n.len()", &["3"]);
    assert!(said.contains('3'), "{said}");
    // Ctrl-C drops an unfinished input.
    let before = term.type_line("let m = #{");
    term.expect_new(&before, &["..>"]);
    let before = term.screen();
    term.keys("C-c");
    term.expect_new(&before, &["wf>"]);
    let said = term.step("40 + 2", &["42"]);
    assert!(!said.contains("error"), "{said}");
}

#[test]
fn a_misspelt_keyword_is_pointed_at_in_the_session_too() {
    let t = Test::new();
    let mut s = session(&t);
    let o = s.input("wf.steps.JobResource(#{ flavour: \"cpu.small\" })");
    assert!(
        o.err
            .contains("<repl>:1:25: error: `wf.steps.JobResource` has no keyword `flavour`"),
        "{o:?}"
    );
}

/// A service's models placeholder is data: `next()` names `set_data` with the reference's
/// list, and `set_data` takes that list, checked as `-p` checks it.
#[test]
fn a_service_models_placeholder_is_given_with_set_data_and_a_list() {
    let t = Test::new();
    let mut s = Session::new(t.home(), t.dir().to_path_buf(), vec![], false);
    let o = s.input(
        r#"let svc = wf.steps.ServiceStep(#{ name: "svc",
            inputs: wf.steps.ServiceInput(#{ name: "models",
                data: wf.data.ServiceInputPlaceholder(#{ name: "models", model_name: "m" }) }),
            outputs: wf.steps.ServiceOutput(#{ name: "service" }) });
        let workflow = wf.Workflow(#{ name: "svc", desc: "d", steps: [svc] });"#,
    );
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input("workflow.debug(#{})");
    assert!(!o.err.contains("error"), "{o:?}");
    let o = s.input("workflow.next()");
    assert!(o.err.contains("workflow.set_data(\"models\", [#{"), "{o:?}");
    let o = s.input(r#"workflow.set_data("models", [#{ model_name: "m", model_version: "0.0.1", weight: 90 }])"#);
    assert!(o.err.contains("sum to 90"), "{o:?}");
    let o =
        s.input(r#"workflow.set_data("models", [#{ model_name: "m", model_version: "0.0.1" }])"#);
    assert!(!o.err.contains("error"), "{o:?}");
    assert!(o.err.contains("models = [{"), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. The development state in a script run by `wf run`

/// The reference's §4.8 debug flow, written as a script: `debug`, `next()` runs the first
/// phase, `next()` names the missing value, `set_placeholder` gives it, `next()` runs the
/// last phase. `wf run` carries it out as the REPL does, then reports the execution the
/// script drove instead of starting another.
#[test]
fn a_script_debugging_phase_by_phase_runs_each_phase_once_and_exits_with_its_status() {
    let t = Test::new();
    let mut script = dev_script(&t, "delay: true");
    script += "workflow.debug(#{ steps: [first, second], experiment_id: \"exp-1\" });\n\
               workflow.next();\n\
               workflow.next();\n\
               workflow.set_placeholder(\"epochs\", 3);\n\
               workflow.next();\n\
               workflow\n";
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();
    let r = t.wf(&["run", &script, "--storage", &storage]);
    r.status(0);
    for said in [
        "first: executed",
        "second cannot run yet",
        "epochs = 3",
        "second: executed",
        "has ended: executed",
    ] {
        assert!(r.stderr.contains(said), "`{said}` was not said: {r:?}");
    }
    assert_eq!(t.count("first.count"), 1, "first ran again: {r:?}");
    assert_eq!(t.read("second.args").lines().count(), 1, "{r:?}");
    assert!(t.read("second.args").contains("--epochs=3"), "{r:?}");
    let list = t.wf(&["executions", "--json"]);
    let list = list.json.as_array().cloned().unwrap_or_default();
    assert_eq!(
        list.len(),
        1,
        "wf run started a second execution: {list:#?}"
    );
    let id = list[0]["execution_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shown = t.wf(&["show", &id]);
    shown.status(0);
    assert!(!shown.stdout.contains("interrupted"), "{shown:?}");
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "executed", "{shown:?}");
}

/// A script that debugs only some phases leaves its execution paused, as the REPL does: not
/// "interrupted" (its runner did not die), not carried on by `wf serve`; `wf resume` runs the
/// rest, and `wf run` says so and exits 3 (paused).
#[test]
fn a_script_that_stops_debugging_partway_leaves_its_execution_paused_for_resume() {
    let t = Test::new();
    let mut script = dev_script(&t, "default: 4");
    script += "workflow.debug(#{});\nworkflow.next();\n";
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();
    let r = t.wf(&["run", &script, "--storage", &storage]);
    r.status(3);
    assert!(r.stderr.contains("first: executed"), "{r:?}");
    assert_eq!(t.count("first.count"), 1, "{r:?}");
    assert_eq!(t.read("second.args"), "", "second ran: {r:?}");
    let list = t.wf(&["executions", "--json"]);
    let list = list.json.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{list:#?}");
    let id = list[0]["execution_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        r.stderr.contains("paused") && r.stderr.contains(&format!("`wf resume {id}`")),
        "wf run does not say the execution is paused and how to carry it on: {r:?}"
    );

    let shown = t.wf(&["show", &id]);
    assert!(!shown.stdout.contains("interrupted"), "{shown:?}");
    assert!(shown.stdout.contains("paused"), "{shown:?}");
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "awaiting_input", "{shown:?}");
    assert_eq!(step_status(&shown.json, "first"), "executed");
    assert_eq!(step_status(&shown.json, "second"), "waiting");

    let r = t.wf(&["resume", &id, "--json"]);
    r.status(0);
    assert_eq!(r.json["status"], "executed", "{r:?}");
    assert_eq!(t.count("first.count"), 1, "resume ran first again");
    assert!(t.read("second.args").contains("--epochs=4"), "{r:?}");
}

/// The REPL, left with a debug execution unfinished, leaves it paused too.
#[test]
fn leaving_the_repl_mid_debug_leaves_the_execution_paused() {
    let t = Test::new();
    let script = t
        .write("flow.rhai", &dev_script(&t, "default: 4"))
        .at("flow.rhai");
    let storage = t.storage();
    let r = t
        .args(&["repl", &script, "--storage", &storage])
        .stdin("workflow.debug(#{});\nworkflow.next();\n")
        .run();
    r.status(0);
    assert_eq!(t.count("first.count"), 1, "{r:?}");
    let shown = t.wf(&["show", "latest"]);
    assert!(!shown.stdout.contains("interrupted"), "{shown:?}");
    assert!(shown.stdout.contains("awaiting_input"), "{shown:?}");
    let id = shown
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        r.stderr
            .contains(&format!("`wf resume {id}` runs the rest")),
        "{r:?}"
    );
}

/// `workflow.run(...)` in a script is reported as `wf run` reports its own run: each step's
/// change, and for a failed job its error and the last lines of its log.
#[test]
fn a_failing_run_in_a_script_reports_the_failed_step_and_its_log() {
    let t = Test::new();
    let broken = job(
        "first",
        "echo preparing the data; echo 'cannot open data.csv' >&2; exit 3",
    );
    let mut script = String::from(STORAGE);
    script += &broken.rhai();
    script += "let workflow = wf.Workflow(#{ name: \"broken\", desc: \"d\", steps: [first], storages: [storage] });\n\
               workflow.run(#{});\n";
    let script = t.write("flow.rhai", &script).at("flow.rhai");
    let storage = t.storage();
    let r = t.wf(&["run", &script, "--storage", &storage]);
    r.status(1);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("first") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no line says `first` failed: {r:?}"));
    assert!(line.contains("exited with status 3"), "{r:?}");
    assert!(
        r.stderr.contains("preparing the data"),
        "no log tail: {r:?}"
    );
    assert!(
        r.stderr.contains("cannot open data.csv"),
        "no log tail: {r:?}"
    );
    assert!(r.stderr.contains("wf retry"), "{r:?}");
    let list = t.wf(&["executions", "--json"]);
    assert_eq!(list.json.as_array().map(Vec::len), Some(1), "{list:?}");
}

/// A debug execution replaced by another `debug(...)`, or dropped by `:clear`, is paused in
/// the records, and the session says so.
#[test]
fn a_debug_execution_replaced_or_cleared_is_paused_and_said_so() {
    let t = Test::new();
    let mut s = session(&t);
    let o = s.input(&dev_script(&t, "default: 4"));
    assert!(!o.err.contains("error"), "{o:?}");
    s.input("workflow.debug(#{})");
    let first_id = s.dev.debug_execution().expect("a debug execution");
    s.input("workflow.next()");
    let o = s.input("workflow.debug(#{})");
    let second_id = s.dev.debug_execution().expect("a debug execution");
    assert_ne!(first_id, second_id);
    assert!(
        o.err.contains(&format!(
            "debug execution {first_id} paused in the development state after 1 of 2 phases"
        )),
        "{o:?}"
    );
    let o = s.input(":clear");
    assert!(
        o.err.contains(&format!(
            "debug execution {second_id} paused in the development state after 0 of 2 phases"
        )),
        "{o:?}"
    );
    for id in [&first_id, &second_id] {
        let shown = t.wf(&["show", id, "--json"]);
        assert_eq!(shown.json["status"], "awaiting_input", "{shown:?}");
        assert!(
            shown.json["reason"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("`wf resume {id}` runs the rest"))),
            "{shown:?}"
        );
    }
}
