//! What the dataset service costs, each case against its floor in the same run:
//!
//! (a) importing a folder of 10,000 small files into a new dataset (`wf dataset create`),
//!     against `cp -r` of the same folder;
//! (b) releasing a version of a 100,000-sample dataset (the split and the manifest);
//! (c) `wf dataset show NAME` of that dataset, a whole process, against `wf --version`;
//! (d) a job given a 100,000-sample version, kept read-only for it (a private read-only
//!     mount: the default) or given a private copy (`WF_JOB_DATA=copy`, the fallback where
//!     mount namespaces are refused), against the same job given a plain folder.
//!
//!     cargo bench --bench datasets

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use wf::datasets::formats::{Annotation, Content, DataType, Found};
use wf::datasets::{self, ImportRules, ReleaseSpec};
use wf::store::Store;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("wf-bench-datasets-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wf(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn small_files(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let sub = dir.join(format!("d{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(
            sub.join(format!("img_{i:05}.jpg")),
            format!("pixels of picture {i}").repeat(8),
        )
        .unwrap();
    }
}

fn import(c: &mut Criterion) {
    let root = scratch();
    let src = root.join("src10k");
    small_files(&src, 10_000);
    let mut g = c.benchmark_group("import_10k_files");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let mut n = 0;
    g.bench_function("wf dataset create", |b| {
        b.iter_batched(
            || {
                n += 1;
                let home = root.join(format!("home{n}"));
                let _ = std::fs::remove_dir_all(&home);
                home
            },
            |home| {
                wf(
                    &home,
                    &[
                        "dataset",
                        "create",
                        "pics",
                        "--from",
                        src.to_str().unwrap(),
                        "--type",
                        "IMAGE",
                    ],
                );
                home
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cp -r", |b| {
        b.iter_batched(
            || {
                n += 1;
                let dst = root.join(format!("copy{n}"));
                let _ = std::fs::remove_dir_all(&dst);
                dst
            },
            |dst| {
                let ok = Command::new("cp")
                    .arg("-r")
                    .arg(&src)
                    .arg(&dst)
                    .status()
                    .unwrap();
                assert!(ok.success());
                dst
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&root);
}

/// A home with one IMAGE dataset of `n` labelled samples (made from bytes, not files).
fn big_dataset(home: &Path, n: usize) {
    let store = Store::open(home).unwrap();
    datasets::create(&store, "big", DataType::Image, "").unwrap();
    let found: Vec<Found> = (0..n)
        .map(|i| Found {
            content: Content::Bytes {
                bytes: format!("sample {i}").into_bytes(),
                ext: "jpg".into(),
            },
            name: format!("img_{i:06}.jpg"),
            annotations: Some(vec![Annotation {
                name: ["cat", "dog", "bird"][i % 3].into(),
                kind: "modelarts/image_classification".into(),
                annotated_by: "human".into(),
                loc: None,
                property: None,
                hard: false,
            }]),
            usage: String::new(),
        })
        .collect();
    datasets::import(&store, "big", found, &ImportRules::default()).unwrap();
}

fn release_and_show(c: &mut Criterion) {
    let root = scratch();
    let home = root.join("home100k");
    big_dataset(&home, 100_000);
    let mut g = c.benchmark_group("dataset_100k_samples");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("release a version", |b| {
        let store = Store::open(&home).unwrap();
        let spec = ReleaseSpec {
            ratio: 0.8,
            ..ReleaseSpec::default()
        };
        b.iter(|| {
            let r = datasets::release(&store, "big", None, &spec).unwrap();
            assert_eq!(r.train, 80_000);
            // Versions pile up otherwise: their manifests are 15 MB each.
            let _ = std::fs::remove_dir_all(&r.path);
        })
    });
    g.bench_function("wf dataset show", |b| {
        b.iter(|| wf(&home, &["dataset", "show", "big"]))
    });
    g.bench_function("wf --version (floor)", |b| {
        b.iter(|| wf(&home, &["--version"]))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&root);
}

/// A workflow of one job (`true`) whose input `data` is `data`.
fn job_script(dir: &Path, name: &str, data: &str) -> PathBuf {
    let path = dir.join(format!("{name}.rhai"));
    std::fs::write(
        &path,
        format!(
            r#"let storage = wf.data.OutputStorage(#{{ name: "out" }});
let j = wf.steps.JobStep(#{{ name: "j", algorithm: wf.BaseAlgorithm(#{{ command: "true" }}),
  spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: "cpu.small" }}) }}),
  inputs: wf.steps.JobInput("data", {data}),
  outputs: wf.steps.JobOutput("o", #{{ obs_config: wf.data.OBSOutputConfig(storage.join("o")) }}) }});
wf.Workflow(#{{ name: "{name}", desc: "d", steps: [j], storages: [storage] }})
"#
        ),
    )
    .unwrap();
    path
}

fn job_given_a_version(c: &mut Criterion) {
    let root = scratch();
    let home = root.join("home100k-job");
    big_dataset(&home, 100_000);
    {
        let store = Store::open(&home).unwrap();
        datasets::release(&store, "big", None, &ReleaseSpec::default()).unwrap();
    }
    let version = job_script(
        &root,
        "version",
        r#"wf.data.Dataset(#{ dataset_name: "big", version_name: "V001" })"#,
    );
    let plain = job_script(&root, "plain", r#"wf.data.OBSPath(".")"#);
    let storage = format!("out={}", root.join("runs").display());
    let run = |script: &Path, how: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_wf"))
            .arg("--home")
            .arg(&home)
            .args(["run", script.to_str().unwrap(), "--storage", &storage])
            .env("WF_JOB_DATA", how)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The version's folder is made once, on first use.
    run(&version, "mount");
    let mut g = c.benchmark_group("job_given_100k_sample_version");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("read-only mount (default)", |b| {
        b.iter(|| run(&version, "mount"))
    });
    g.bench_function("private copy (fallback)", |b| {
        b.iter(|| run(&version, "copy"))
    });
    g.bench_function("a plain folder (floor)", |b| {
        b.iter(|| run(&plain, "mount"))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, import, release_and_show, job_given_a_version);
criterion_main!(benches);
