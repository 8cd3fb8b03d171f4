//! How soon the web console is usable with 1,000 executions in the records, in headless
//! Chromium (Debian's `chromium` and `chromedriver`, driven over WebDriver):
//!
//!     cargo bench --bench console
//!
//! For each page, 10 fresh loads (from `about:blank`); the figure is the page's own clock
//! (`performance.now()`, from the start of navigation) when the page had drawn its content
//! from the API: the workflows list, the executions list (1,000, first page of 50), an
//! execution's page (DAG, steps, step detail) and a workflow's page (DAG, form). Prints the
//! median and the slowest load of each.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use wf::exec::engine::Engine;
use wf::exec::prepare::Request as RunRequest;
use wf::loader::LoadOptions;

const WORKFLOW: &str = r#"
let gate = wf.steps.ConditionStep(#{ name: "gate", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.EQ, 1, 1) });
let after = wf.steps.ConditionStep(#{ name: "after", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.GT, 2, 1), depend_steps: [gate] });
wf.Workflow(#{ name: "one", desc: "two condition steps", steps: [gate, after] })
"#;

const EXECUTIONS: usize = 1000;
const LOADS: usize = 10;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn make_executions(home: &Path, script: &Path, n: usize) -> Vec<String> {
    let checked = wf::loader::load_and_check(script, &LoadOptions::default());
    let w = checked.workflow.expect("a valid workflow");
    let engine = Engine::new(home, wf::backends::backend);
    let req = RunRequest {
        max_parallel: 8,
        base_dir: script.parent().unwrap().to_path_buf(),
        ..RunRequest::default()
    };
    (0..n)
        .map(|_| {
            let p = engine.prepare(w.clone(), &req).unwrap();
            engine.run(p).unwrap().exec_id
        })
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let script = dir.path().join("one.rhai");
    std::fs::write(&script, WORKFLOW).unwrap();
    let released = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(&home)
        .arg("release")
        .arg(&script)
        .output()
        .unwrap();
    assert!(released.status.success());
    let t = Instant::now();
    let ids = make_executions(&home, &script, EXECUTIONS);
    eprintln!("{EXECUTIONS} executions recorded in {:.1?}", t.elapsed());

    let shown = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(&home)
        .args(["serve", "--show-token"])
        .output()
        .unwrap();
    let token = String::from_utf8_lossy(&shown.stdout).trim().to_string();
    let port = free_port();
    let _server = Killed(
        Command::new(env!("CARGO_BIN_EXE_wf"))
            .arg("--home")
            .arg(&home)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let driver_port = free_port();
    let _driver = Killed(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver)"),
    );
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({ "goog:chromeOptions": { "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,900",
        format!("--user-data-dir={}", profile.path().display()),
    ] } });
    let caps = caps.as_object().unwrap().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        let c = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{driver_port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("no Chromium session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        // Every request needs the token: opened once, a cookie keeps it.
        c.goto(&format!("{base}/?token={token}")).await.unwrap();
        let pages = [
            ("workflows", "/".to_string()),
            ("executions (1,000)", "/#/executions".to_string()),
            (
                "an execution",
                format!("/#/executions/{}", ids[ids.len() / 2]),
            ),
            ("a workflow", "/#/workflows/one".to_string()),
        ];
        println!(
            "first usable paint, {LOADS} fresh loads each, {EXECUTIONS} executions in the records:"
        );
        for (what, path) in pages {
            let mut times = Vec::new();
            for _ in 0..LOADS + 1 {
                c.goto("about:blank").await.unwrap();
                c.goto(&format!("{base}{path}")).await.unwrap();
                let t0 = Instant::now();
                let v = loop {
                    let v: Value = c
                        .execute("return window.wfRenderedAt || null", vec![])
                        .await
                        .unwrap();
                    if let Some(ms) = v.as_f64() {
                        break ms;
                    }
                    if t0.elapsed() > Duration::from_secs(20) {
                        let text: Value = c
                            .execute("return document.querySelector('main').innerText", vec![])
                            .await
                            .unwrap();
                        panic!(
                            "{what} never drew; the page shows:\n{}",
                            text.as_str().unwrap_or("")
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                times.push(v);
            }
            times.remove(0); // the first load fills the browser's cache
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "  {what:<20} median {:>6.1} ms   slowest {:>6.1} ms",
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
        let _ = c.close().await;
    });
}
