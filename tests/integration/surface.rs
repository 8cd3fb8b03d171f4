//! The script surface (README, "A script"), through the library: keyword and positional calls,
//! reserved words, `wf` inside functions, which value is the workflow.

use std::path::Path;
use std::sync::Arc;

use wf::loader::{load_source, LoadOptions, Loaded};
use wf::model::val::Val;
use wf::model::validate::validate;

fn load(text: &str) -> Loaded {
    load_source(
        Arc::from("t.rhai"),
        text,
        Path::new("."),
        &LoadOptions::default(),
    )
}

fn errors(l: &Loaded) -> Vec<String> {
    l.diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.at, d.message))
        .collect()
}

const JOB: &str = r#"
fn job(name, deps) {
    wf.steps.JobStep(#{
        name: name,
        algorithm: wf.BaseAlgorithm(#{ command: "true" }),
        spec: wf.steps.JobSpec(wf.steps.JobResource("cpu.1")),
        inputs: wf.steps.JobInput("data", wf.data.OBSPath("in")),
        outputs: [wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig("o") })],
        depend_steps: deps,
    })
}
"#;

#[test]
fn positional_keyword_and_mixed_calls_build_the_same_object() {
    let l = load(
        r#"
        let a = wf.Placeholder(#{ name: "lr", placeholder_type: wf.PlaceholderType.FLOAT, default: 0.1 });
        let b = wf.Placeholder("lr", wf.PlaceholderType.FLOAT, 0.1);
        let c = wf.Placeholder("lr", #{ default: 0.1, placeholder_type: wf.PlaceholderType.FLOAT });
        let d = wf.Placeholder("lr", "FLOAT", 0.1);   // an enum value by its name
        if !(a.default == b.default && b.default == c.default) { throw "differ"; }
        [a, b, c, d]
        "#,
    );
    assert!(
        errors(&l).iter().all(|e| e.contains("builds no workflow")),
        "{:?}",
        errors(&l)
    );
}

#[test]
fn wf_is_visible_inside_functions_and_default_and_debug_are_words() {
    let l = load(&format!(
        "{JOB}
        let default = 5;
        let w = wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: [job(\"a\", []), job(\"b\", [])] }});
        w.debug(#{{ steps: [\"a\"] }});
        debug(\"still prints\");
        w"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let w = l.workflow.expect("a workflow");
    assert_eq!(w.arg("steps").map(|s| s.items().len()), Some(2));
    assert!(l.diags.iter().any(|d| d
        .message
        .contains("`workflow.debug(...)` is not carried out")));
}

#[test]
fn the_workflow_is_the_last_value_or_the_one_bound() {
    let bound = load(&format!(
        "{JOB} let w = wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: job(\"a\", []) }});"
    ));
    assert_eq!(
        bound.workflow.map(|w| w.name().to_string()),
        Some("w".into())
    );

    let two = load(&format!(
        "{JOB} let a = wf.Workflow(#{{ name: \"a\", desc: \"d\", steps: job(\"x\", []) }});
               let b = wf.Workflow(#{{ name: \"b\", desc: \"d\", steps: job(\"y\", []) }});"
    ));
    assert!(two.workflow.is_none());
    assert!(
        errors(&two)[0].contains("binds 2 workflows"),
        "{:?}",
        errors(&two)
    );

    let picked = load_source(
        Arc::from("t.rhai"),
        &format!(
            "{JOB} let a = wf.Workflow(#{{ name: \"a\", desc: \"d\", steps: job(\"x\", []) }});
                   let b = wf.Workflow(#{{ name: \"b\", desc: \"d\", steps: job(\"y\", []) }});"
        ),
        Path::new("."),
        &LoadOptions {
            workflow: Some("b".into()),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        picked.workflow.map(|w| w.name().to_string()),
        Some("b".into())
    );
}

#[test]
fn consuming_an_output_is_a_dependency() {
    let l = load(&format!(
        "{JOB}
        let a = job(\"a\", []);
        let b = wf.steps.ModelStep(#{{ name: \"b\",
            inputs: wf.steps.ModelInput(\"m\", a.outputs[\"out\"].as_input()),
            outputs: wf.steps.ModelOutput(\"r\", wf.steps.ModelConfig(#{{ model_version: \"1.2.3\" }})) }});
        wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: [a, b] }})"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let (w, diags) = validate(l.workflow.as_ref().unwrap());
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(w.step("b").unwrap().dep_names(), vec!["a"]);
}

#[test]
fn storage_joins_concatenate_and_chain() {
    let l = load(
        r#"
        let s = wf.data.Storage(#{ name: "s", with_execution_id: true, create_dir: true });
        let p = s.join("a/").join("/b").join("m.json", #{ create_dir: false });
        [p.directory, p.with_execution_id, p.create_dir]
        "#,
    );
    // The value is not a workflow; the objects are still inspectable.
    assert!(
        errors(&l).iter().all(|e| e.contains("builds no workflow")),
        "{:?}",
        errors(&l)
    );
    let l = load(
        r#"let s = wf.data.Storage(#{ name: "s" }); let p = s.join("a/").join("/b"); if p.directory != "a/b" { throw p.directory }"#,
    );
    assert!(
        errors(&l).iter().all(|e| e.contains("builds no workflow")),
        "{:?}",
        errors(&l)
    );
}

#[test]
fn one_mistake_does_not_cascade() {
    // An unknown enum value is reported once; the placeholder built from it adds nothing.
    let l = load(&format!(
        "{JOB}
        let p = wf.Placeholder(#{{ name: \"x\", placeholder_type: wf.PlaceholderType.INTT }});
        wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: [job(\"a\", [])] }})"
    ));
    let e = errors(&l);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("has no value `INTT`"), "{e:?}");
}

#[test]
fn list_or_single_is_accepted_where_the_manual_says_so() {
    let l = load(&format!(
        "{JOB}
        let a = job(\"a\", []);
        let b = job(\"b\", a);
        let c = job(\"c\", [a, b]);
        wf.Workflow(#{{ name: \"w\", desc: \"d\", steps: [a, b, c] }})"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let (w, _) = validate(l.workflow.as_ref().unwrap());
    assert_eq!(w.step("c").unwrap().dep_names(), vec!["a", "b"]);
    assert!(matches!(
        w.step("b").unwrap().obj.arg("depend_steps"),
        Some(Val::StepRef(..))
    ));
}
