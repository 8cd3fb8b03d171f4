//! What `wf check` costs: compile + evaluate + validate of generated workflows (chain and
//! wide fan-out of 100, 1,000 and 10,000 job steps) in process, and whole `wf check`
//! processes (start included) on 1,000 steps and on a reference example.
//!
//!     cargo bench --bench check

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use wf::loader::{load_source, LoadOptions};
use wf::model::validate::validate;

/// A workflow of `n` job steps; `chain` links each to the one before, otherwise one root
/// fans out to all the others. Steps are built in a loop, as real generated workflows are.
pub fn generated(n: usize, chain: bool) -> String {
    format!(
        r#"
let algo = wf.BaseAlgorithm(#{{ command: "true" }});
let spec = wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.1" }}) }});
let out = wf.data.OutputStorage(#{{ name: "out" }});
let data = wf.data.OBSPath(#{{ obs_path: "data" }});
let steps = [];
for i in 0..{n} {{
    let input = if i == 0 {{ data }} else {{ steps[{parent}].outputs["o"].as_input() }};
    steps.push(wf.steps.JobStep(#{{
        name: "s" + i,
        algorithm: algo,
        spec: spec,
        inputs: wf.steps.JobInput(#{{ name: "i", data: input }}),
        outputs: wf.steps.JobOutput(#{{ name: "o", obs_config: wf.data.OBSOutputConfig(#{{ obs_path: out.join("s" + i) }}) }}),
    }}));
}}
wf.Workflow(#{{ name: "generated", desc: "generated", steps: steps, storages: out }})
"#,
        parent = if chain { "i - 1" } else { "0" }
    )
}

fn check_in_process(text: &str) -> usize {
    let loaded = load_source(
        Arc::from("gen.rhai"),
        text,
        Path::new("."),
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "generated script is invalid");
    let (w, diags) = validate(loaded.workflow.as_ref().expect("a workflow"));
    assert!(diags.is_empty());
    w.steps.len()
}

fn bench_in_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("check_in_process");
    g.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        for (shape, chain) in [("chain", true), ("fan_out", false)] {
            let text = generated(n, chain);
            g.bench_with_input(BenchmarkId::new(shape, n), &text, |b, t| {
                b.iter(|| check_in_process(t))
            });
        }
    }
    g.finish();
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_process(c: &mut Criterion) {
    let dir = std::env::temp_dir().join("wf-bench-check");
    std::fs::create_dir_all(&dir).unwrap();
    let gen = dir.join("gen1000.rhai");
    std::fs::write(&gen, generated(1_000, true)).unwrap();
    let reference = root().join("scripts/reference/s4_4_8_3_condition_metric.rhai");
    let mut g = c.benchmark_group("wf_check_process");
    g.sample_size(20);
    for (name, path) in [
        ("chain_1000", gen.clone()),
        ("reference_example", reference),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let st = Command::new(env!("CARGO_BIN_EXE_wf"))
                    .arg("check")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    st.status.success(),
                    "{}",
                    String::from_utf8_lossy(&st.stderr)
                );
            })
        });
    }
    // The floor: starting a process that does nothing.
    g.bench_function("floor_true", |b| {
        b.iter(|| Command::new("true").status().unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_in_process, bench_process);
criterion_main!(benches);
