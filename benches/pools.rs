//! Job steps on a Ray pool, against a running Ray cluster (`ray start --head`; the address
//! from `WF_BENCH_RAY_ADDRESS`, default http://127.0.0.1:8265):
//!
//! (a) a trivial job (`python3 -c pass`): `wf run` of a one-step workflow on the pool
//!     against `ray job submit` of the same entrypoint, each run in turn, medians and the
//!     ratio of each pair;
//! (b) 100 independent one-second steps on the pool at `--max-parallel 50`: wall time
//!     against the ideal (100 × 1 s spread over 50 slots, or over the cluster's CPUs when
//!     it has fewer).
//!
//!     cargo bench --bench pools
//!
//! Without a cluster it prints why and ends.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WF: &str = env!("CARGO_BIN_EXE_wf");

const TRIVIAL: &str = r#"
let storage = wf.data.OutputStorage(#{ name: "out" });
let train = wf.steps.JobStep(#{
    name: "train",
    algorithm: wf.BaseAlgorithm(#{ code_dir: "code", command: "python3 -c pass" }),
    spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "ray:cpu-1" }) }),
    inputs: [wf.steps.JobInput("data", wf.data.OBSPath("code"))],
    outputs: [wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) })],
});
wf.Workflow(#{ name: "trivial", desc: "one trivial job on the pool", steps: [train], storages: [storage] })
"#;

const HUNDRED: &str = r#"
let storage = wf.data.OutputStorage(#{ name: "out" });
let steps = [];
for i in 0..100 {
    steps.push(wf.steps.JobStep(#{
        name: "s" + i,
        algorithm: wf.BaseAlgorithm(#{ code_dir: "code", command: "sleep 1" }),
        spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "ray:cpu-1" }) }),
        inputs: [wf.steps.JobInput("data", wf.data.OBSPath("code"))],
        outputs: [wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join("s" + i)) })],
    }));
}
wf.Workflow(#{ name: "hundred", desc: "100 independent one-second steps", steps: steps, storages: [storage] })
"#;

fn timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("the command starts");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn wf(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(WF);
    c.args(args).arg("--home").arg(home).env("NO_COLOR", "1");
    if args.first() == Some(&"run") {
        let root = home.with_file_name("root");
        c.arg("--storage").arg(format!("out={}", root.display()));
    }
    c
}

fn cluster_cpus(addr: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-sf", &format!("{addr}/nodes?view=summary")])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        v["data"]["summary"]
            .as_array()?
            .iter()
            .filter_map(|n| n["raylet"]["resourcesTotal"]["CPU"].as_f64())
            .sum(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let addr = std::env::var("WF_BENCH_RAY_ADDRESS")
        .unwrap_or_else(|_| "http://127.0.0.1:8265".to_string());
    let Some(cpus) = cluster_cpus(&addr) else {
        println!("pools: skipped: no Ray cluster answers at {addr} (`ray start --head`)");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let home = dir.path().join("home");
    std::fs::create_dir_all(dir.path().join("code")).unwrap();
    std::fs::write(dir.path().join("code/README"), "a trivial job\n").unwrap();
    std::fs::write(dir.path().join("trivial.rhai"), TRIVIAL).unwrap();
    std::fs::write(dir.path().join("hundred.rhai"), HUNDRED).unwrap();
    timed(&mut wf(&home, &["pool", "add", "ray", "--ray", &addr]));

    // (a) a trivial job, wf against ray job submit, in turn.
    let runs = 7;
    let trivial = dir.path().join("trivial.rhai");
    let trivial = trivial.to_str().unwrap();
    timed(&mut wf(&home, &["run", trivial])); // warm-up: the package is uploaded once
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let a = timed(&mut wf(&home, &["run", trivial])).as_secs_f64();
        let b = timed(
            Command::new("ray")
                .args([
                    "job",
                    "submit",
                    "--address",
                    &addr,
                    "--",
                    "python3",
                    "-c",
                    "pass",
                ])
                .stdout(Stdio::null()),
        )
        .as_secs_f64();
        ours.push(a);
        theirs.push(b);
        ratios.push(a / b);
    }
    println!(
        "pools (a) trivial job, median of {runs}: wf run {:.2} s, ray job submit {:.2} s, ratio {:.2}x (pairwise median)",
        median(ours),
        median(theirs),
        median(ratios)
    );

    // (b) 100 independent one-second steps at --max-parallel 50.
    let hundred = dir.path().join("hundred.rhai");
    let took = timed(&mut wf(
        &home,
        &["run", hundred.to_str().unwrap(), "--max-parallel", "50"],
    ))
    .as_secs_f64();
    let slots = 50f64.min(cpus.max(1.0));
    println!(
        "pools (b) 100 one-second steps, --max-parallel 50, cluster of {cpus} CPUs: {took:.1} s; ideal {:.1} s over 50 slots, {:.1} s over {slots} concurrent cpu-1 jobs",
        100.0 / 50.0,
        (100.0 / slots).ceil()
    );
}
