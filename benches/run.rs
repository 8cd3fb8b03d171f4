//! What `wf run` costs, each case against its floor in the same run:
//!
//! (a) a 1,000-step chain of condition steps, every record committed (per-step overhead);
//! (b) a 50-step chain of jobs running `true`, against a plain loop spawning `true` 50 times;
//! (c) a fan-out of 200 `sleep 0.1` jobs with `--max-parallel 50`, against the ideal 0.4 s;
//! (d) peak memory of a 10,000-step execution (printed once).
//!
//!     cargo bench --bench run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("wf-bench-run-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn condition_chain(n: usize) -> String {
    format!(
        r#"
let steps = [];
for i in 0..{n} {{
    let c = wf.steps.Condition(wf.steps.ConditionTypeEnum.LT, i, {n});
    let deps = if i == 0 {{ [] }} else {{ [steps[i - 1]] }};
    steps.push(wf.steps.ConditionStep(#{{ name: "c" + i, conditions: c, depend_steps: deps }}));
}}
wf.Workflow(#{{ name: "chain", desc: "conditions", steps: steps }})
"#
    )
}

fn job_chain(n: usize, command: &str, chain: bool) -> String {
    format!(
        r#"
let algo = wf.BaseAlgorithm(#{{ command: "{command}" }});
let spec = wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small" }}) }});
let steps = [];
for i in 0..{n} {{
    let deps = if {chain} && i > 0 {{ [steps[i - 1]] }} else {{ [] }};
    steps.push(wf.steps.JobStep(#{{
        name: "j" + i, algorithm: algo, spec: spec, depend_steps: deps,
        inputs: wf.steps.JobInput("i", wf.data.OBSPath(".")),
        outputs: wf.steps.JobOutput("o", #{{ obs_config: wf.data.OBSOutputConfig("out/j" + i) }}),
    }}));
}}
wf.Workflow(#{{ name: "jobs", desc: "jobs", steps: steps }})
"#
    )
}

fn wf_run(script: &Path, home: &Path, extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(home)
        .arg("run")
        .arg(script)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bench(c: &mut Criterion) {
    let dir = scratch();
    let home = dir.join("home");
    let cond = dir.join("cond.rhai");
    std::fs::write(&cond, condition_chain(1000)).unwrap();
    let chain = dir.join("chain.rhai");
    std::fs::write(&chain, job_chain(50, "true", true)).unwrap();
    let fan = dir.join("fan.rhai");
    std::fs::write(&fan, job_chain(200, "sleep 0.1", false)).unwrap();

    let mut g = c.benchmark_group("run");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("a_condition_chain_1000", |b| {
        b.iter(|| wf_run(&cond, &home, &[]))
    });
    g.bench_function("b_job_chain_50_true", |b| {
        b.iter(|| wf_run(&chain, &home, &[]))
    });
    g.bench_function("b_floor_spawn_true_50", |b| {
        b.iter(|| {
            for _ in 0..50 {
                assert!(Command::new("sh")
                    .arg("-c")
                    .arg("true")
                    .status()
                    .unwrap()
                    .success());
            }
        })
    });
    g.bench_function("c_fan_out_200_sleep_0.1_max_parallel_50", |b| {
        b.iter(|| wf_run(&fan, &home, &["--max-parallel", "50"]))
    });
    g.finish();

    // (d) peak memory of a 10,000-step execution.
    let big = dir.join("big.rhai");
    std::fs::write(&big, condition_chain(10_000)).unwrap();
    let t = Instant::now();
    wf_run(&big, &dir.join("home-big"), &[]);
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    println!(
        "d_peak_memory_10000_steps: {} MiB max RSS of any child so far, run took {:.2}s",
        usage.ru_maxrss / 1024,
        t.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
