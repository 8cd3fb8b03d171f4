//! The development state's costs:
//!
//! - `wf repl` from start to prompt: a whole process that starts, shows its prompt, reads
//!   `:quit` and leaves (an upper bound of start-to-prompt);
//! - what `workflow.next()` adds on top of the phase itself: `next()` over a job running
//!   `true`, against spawning `sh -c true` directly.
//!
//!     cargo bench --bench repl

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use wf::repl::Session;

const STEPS: usize = 400;

fn workflow() -> String {
    format!(
        r#"
let algo = wf.BaseAlgorithm(#{{ command: "true" }});
let spec = wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small" }}) }});
let steps = [];
for i in 0..{STEPS} {{
    steps.push(wf.steps.JobStep(#{{ name: "j" + i, algorithm: algo, spec: spec,
        inputs: wf.steps.JobInput("i", wf.data.OBSPath(".")),
        outputs: wf.steps.JobOutput("o", #{{ obs_config: wf.data.OBSOutputConfig("out/j" + i) }}) }}));
}}
let workflow = wf.Workflow(#{{ name: "many", desc: "d", steps: steps }});
"#
    )
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("wf-bench-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g = c.benchmark_group("repl");
    g.sample_size(20);
    g.bench_function("start_to_prompt_and_quit", |b| {
        b.iter(|| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_wf"))
                .arg("--home")
                .arg(dir.join("home"))
                .arg("repl")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(b":quit\n").unwrap();
            assert!(child.wait().unwrap().success());
        })
    });
    g.bench_function("floor_process_true", |b| {
        b.iter(|| Command::new("true").status().unwrap())
    });

    // next() over `true` jobs, one fresh step per iteration.
    g.bench_function("next_over_true_job", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let mut s = Session::new(dir.join("home-next"), dir.clone(), Vec::new(), false);
                s.input(&workflow());
                s.input("workflow.debug(#{})");
                let n = (iters - done).min(STEPS as u64);
                let t = Instant::now();
                for _ in 0..n {
                    let o = s.input("workflow.next()");
                    assert!(o.err.contains("executed"), "{}", o.err);
                }
                total += t.elapsed();
                done += n;
            }
            total
        })
    });
    g.bench_function("floor_sh_c_true", |b| {
        b.iter(|| Command::new("sh").arg("-c").arg("true").status().unwrap())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
