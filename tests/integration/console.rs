//! The web console (README, "The web console"), driven in headless Chromium through chromedriver (WebDriver,
//! with fantoccini) against a real `wf serve` on 127.0.0.1.
//!
//! Each test saves screenshots of the pages it visits under
//! `target/tmp/console-screenshots/` (Cargo's test output folder), named after the test.
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`: the tests install
//! them as root, else they are skipped, saying so (`crate::tools`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::serve::{id_of, release_delayed, release_one, Server};
use crate::test::{flow, job, metrics_output, step_status, Test};

/// The folder the screenshots go to.
fn shots_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn find(cmd: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&crate::tools::path())
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// chromedriver and a headless Chromium session, both ended when dropped.
struct Browser {
    driver: Child,
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    name: &'static str,
    _profile: tempfile::TempDir,
    shots: usize,
}

impl Browser {
    /// `None` when the browser is missing and cannot be installed: the test is skipped.
    fn start(name: &'static str) -> Option<Browser> {
        if !crate::tools::need(crate::tools::Tool::Browser) {
            return None;
        }
        let driver_bin = find("chromedriver", "CHROMEDRIVER").expect("chromedriver");
        let chrome_bin = find("chromium", "CHROMIUM").expect("chromium");
        let port = crate::serve::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chrome_bin,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps: serde_json::Map<String, Value> = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let client = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let attempt = ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await;
                match attempt {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => {
                        panic!("cannot start a Chromium session: {e}")
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
                }
            }
        });
        Some(Browser {
            driver,
            client: Some(client),
            rt,
            name,
            _profile: profile,
            shots: 0,
        })
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).unwrap();
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.c().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns a truthy value; that value.
    #[track_caller]
    fn wait_js(&mut self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script, vec![]);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                self.shot("timeout");
                let text = self.js("return document.querySelector('main').innerText", vec![]);
                panic!(
                    "the page never showed {what}; it shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[track_caller]
    fn wait_for(&mut self, what: &str, css: &str) {
        let script = format!("return !!document.querySelector({})", json!(css));
        self.wait_js(what, &script);
    }

    fn click(&self, css: &str) {
        self.rt
            .block_on(async {
                let e = self.c().find(Locator::Css(css)).await?;
                e.click().await
            })
            .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    fn fill(&self, css: &str, text: &str) {
        self.rt
            .block_on(async {
                let e = self.c().find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Types `keys` into whatever has the focus (the page's keyboard shortcuts).
    fn keys(&self, keys: &str) {
        self.rt
            .block_on(async {
                let body = self.c().find(Locator::Css("body")).await?;
                body.send_keys(keys).await
            })
            .unwrap_or_else(|e| panic!("cannot type `{keys}`: {e}"));
    }

    /// A screenshot of the page, saved as `NAME-N-WHAT.png` in the test output folder.
    fn shot(&mut self, what: &str) -> PathBuf {
        self.shots += 1;
        let png = self.rt.block_on(self.c().screenshot()).unwrap();
        let p = shots_dir().join(format!("{}-{}-{what}.png", self.name, self.shots));
        std::fs::write(&p, png).unwrap();
        eprintln!("screenshot: {}", p.display());
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const ALL_EXECUTED: &str = "const n = document.querySelectorAll('#dag .node'); \
     return n.length > 0 && [...n].every(g => g.dataset.status === 'executed') && n.length";

#[test]
fn the_list_shows_a_released_workflow_and_its_dag_turns_green_live_when_started() {
    let Some(mut b) = Browser::start("start") else {
        return;
    };
    let t = Test::new();
    let body = "let who = wf.Placeholder(#{ name: \"who\", placeholder_type: wf.PlaceholderType.STR, default: \"world\", description: \"who says hello\" });\n";
    let a = job("a", "sleep 0.6; echo \"hello $WF_PARAM_WHO\"").param("who", "who");
    let c = job("c", "sleep 0.6; echo c").after(&["a"]);
    let script = t
        .write("hello.rhai", &flow("hello", body, &[a, c], &["a", "c"]))
        .at("hello.rhai");
    t.wf(&["release", &script]).status(0);
    let s = Server::start(&t);

    b.goto(&s.login("/"));
    b.wait_for("the released workflow", "tr[data-workflow=hello] a");
    let row = b.js(
        "return document.querySelector('tr[data-workflow=hello]').innerText",
        vec![],
    );
    assert!(row.as_str().unwrap().contains("never run"), "{row}");
    b.shot("workflows");

    b.click("tr[data-workflow=hello] a");
    b.wait_for("the DAG", "#dag .node[data-step=c]");
    b.wait_for("the form", "#start-form input[name='param:who']");
    // A mark in the page: it is gone if the page reloads.
    b.js("window.wfMark = 'still here'; return true", vec![]);
    b.fill("#start-form input[name='param:who']", "console");
    b.fill("#start-form input[name='storage:out']", &t.at("root"));
    b.click("#start");
    // Running first, then green, without a reload.
    b.wait_js(
        "a step running",
        "return !!document.querySelector('#dag .node[data-status=running]')",
    );
    b.shot("dag-running");
    let n = b.wait_js("every step executed", ALL_EXECUTED);
    assert_eq!(n, json!(2));
    assert_eq!(b.js("return window.wfMark", vec![]), json!("still here"));
    b.shot("dag-executed");

    // The execution is an ordinary record, with the value typed in the form.
    let (_, list) = s.get("/api/executions?workflow=hello");
    let id = list[0]["execution_id"].as_str().unwrap().to_string();
    let r = s.wait_status(&id, "executed");
    assert_eq!(r["parameters"]["who"], "console", "{r:#}");
    let log = std::fs::read_to_string(t.home().join("logs").join(&id).join("a.log")).unwrap();
    assert!(log.contains("hello console"), "{log}");

    // A step of the DAG is reached with the keyboard: Enter opens it in its execution.
    b.js(
        "document.querySelector('#dag .node[data-step=c]').focus(); return true",
        vec![],
    );
    b.rt.block_on(async {
        let active = b.c().active_element().await?;
        active.send_keys("\u{E007}").await
    })
    .unwrap();
    b.wait_js(
        "step c's details",
        "const d = document.querySelector('#step-detail h2'); return d && d.innerText.startsWith('c')",
    );
    b.shot("step");

    // Back on the list, the last execution shows.
    b.goto(&s.url("/"));
    b.wait_js(
        "the last execution",
        "const r = document.querySelector('tr[data-workflow=hello] .status'); return r && r.innerText.includes('executed')",
    );
}

#[test]
fn a_failed_step_is_retried_from_the_execution_page() {
    let Some(mut b) = Browser::start("retry") else {
        return;
    };
    let t = Test::new();
    let flag = t.at("second-time");
    // Fails the first time, succeeds after.
    let cmd = format!(
        "if [ -e '{flag}' ]; then echo fine; else touch '{flag}'; echo broken >&2; exit 1; fi"
    );
    let script = t
        .write(
            "flaky.rhai",
            &flow("flaky", "", &[job("flaky", &cmd)], &["flaky"]),
        )
        .at("flaky.rhai");
    let ran = t.wf(&[
        "run",
        &script,
        "--storage",
        &format!("out={}", t.at("root")),
        "--json",
    ]);
    ran.status(1);
    let id = ran.id();
    let s = Server::start(&t);

    b.goto(&s.login(&format!("/#/executions/{id}")));
    b.wait_for(
        "the failed step",
        "#dag .node[data-step=flaky][data-status=failed]",
    );
    b.wait_js(
        "the failed step's log",
        "const l = document.querySelector('#step-log'); return l && l.textContent.includes('broken')",
    );
    b.shot("failed");
    b.click("button[data-action=retry-step]");
    b.wait_for(
        "the step executed",
        "#dag .node[data-step=flaky][data-status=executed]",
    );
    b.wait_js(
        "the execution executed",
        "const h = document.querySelector('h1 .badge'); return h && h.dataset.status === 'executed'",
    );
    b.shot("retried");
    let r = s.wait_status(&id, "executed");
    assert_eq!(step_status(&r, "flaky"), "executed");
    assert_eq!(r["steps"][0]["attempt"], 2, "{r:#}");
}

#[test]
fn a_step_awaiting_a_value_is_proceeded_from_its_form() {
    let Some(mut b) = Browser::start("proceed") else {
        return;
    };
    let t = Test::new();
    release_delayed(&t);
    let s = Server::start(&t);
    let (code, started) = s.post(
        "/api/workflows/delayed/executions",
        json!({ "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code.as_u16(), 201, "{started}");
    let id = id_of(&started);
    s.wait_status(&id, "awaiting_input");

    b.goto(&s.login(&format!("/#/executions/{id}")));
    b.wait_for(
        "the proceed form",
        "#proceed-form input[name='param:answer']",
    );
    let kind = b.js(
        "return document.querySelector(\"#proceed-form input[name='param:answer']\").type",
        vec![],
    );
    assert_eq!(kind, json!("number"), "an INT is asked for as a number");
    b.shot("awaiting");
    // A wrong value is refused with the server's reason, and nothing proceeds.
    b.fill("#proceed-form input[name='param:answer']", "4.5");
    b.click("#proceed");
    b.wait_js(
        "the refusal",
        "const e = document.querySelector('#proceed-form .error-box'); return e && e.innerText",
    );
    assert_eq!(step_status(&s.record(&id), "ask"), "awaiting_input");
    b.fill("#proceed-form input[name='param:answer']", "42");
    b.click("#proceed");
    b.wait_for(
        "the step executed",
        "#dag .node[data-step=ask][data-status=executed]",
    );
    b.shot("proceeded");
    let r = s.wait_status(&id, "executed");
    assert_eq!(r["parameters"]["answer"], 42, "{r:#}");
    assert_eq!(t.read("answer.txt"), "42");
}

/// A job writing all five metric formats, its accuracy from the parameter `acc`.
fn metrics_job() -> String {
    let m = r#"[
 {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": ACC}},
 {"key": "loss", "title": "loss", "type": "line chart", "data": {"x_axis": [{"title": "epoch", "value": [1, 2, 3, 4]}], "y_axis": [{"title": "loss", "value": [0.9, 0.5, 0.3, 0.2]}]}},
 {"key": "scores", "title": "scores", "type": "histogram", "data": {"x_axis": [{"title": "bin", "value": [0.25, 0.75]}], "y_axis": [{"title": "count", "value": [3, 7]}]}},
 {"key": "confusion_matrix", "title": "confusion_matrix", "type": "table", "data": {"cell_value": [[5, 1], [2, 7]], "col_labels": {"title": "labels", "value": ["daisy", "rose"]}, "row_labels": {"title": "predictions", "value": ["daisy", "rose"]}}},
 {"key": "latency", "title": "latency", "type": "one-dimensional-table", "data": {"cell_value": [[10, 2, 0.5]], "labels": ["samples", "max", "p99"]}}
]"#;
    format!(
        "printf '%s' '{}' | sed \"s/ACC/$WF_PARAM_ACC/\" > \"$WF_OUTPUT_METRICS\"",
        m.replace('\n', " ")
    )
}

#[test]
fn metrics_render_in_their_five_formats_and_the_comparison_charts_them() {
    let Some(mut b) = Browser::start("compare") else {
        return;
    };
    let t = Test::new();
    let body = "let acc = wf.Placeholder(#{ name: \"acc\", placeholder_type: wf.PlaceholderType.FLOAT });\n";
    let train = job("train", &metrics_job())
        .param("acc", "acc")
        .outputs(&[&metrics_output("train/metrics.json")]);
    let script = t
        .write("m.rhai", &flow("metrics", body, &[train], &["train"]))
        .at("m.rhai");
    let storage = format!("out={}", t.at("root"));
    let one = t.wf(&[
        "run",
        &script,
        "--storage",
        &storage,
        "--json",
        "-p",
        "acc=0.5",
    ]);
    one.status(0);
    let two = t.wf(&[
        "run",
        &script,
        "--storage",
        &storage,
        "--json",
        "-p",
        "acc=0.75",
    ]);
    two.status(0);
    let s = Server::start(&t);

    b.goto(&s.login(&format!("/#/executions/{}?step=train", one.id())));
    b.wait_for("the line chart", "figure[data-type='line chart'] polyline");
    for css in [
        "figure[data-type=float] table",
        "figure[data-type=histogram] rect.bar",
        "figure[data-type=table] table.heat",
        "figure[data-type=one-dimensional-table] table",
    ] {
        b.wait_for(css, css);
    }
    let cells = b.js(
        "return [...document.querySelectorAll('figure[data-type=table] td.cell')].map(c => c.innerText)",
        vec![],
    );
    assert_eq!(cells, json!(["5", "1", "2", "7"]));
    b.shot("metrics");

    b.goto(&s.url(&format!("/#/compare?ids={},{}", one.id(), two.id())));
    b.wait_for(
        "the accuracy chart",
        "figure.metric-chart[data-metric='train.accuracy'] svg rect.bar",
    );
    let bars = b.js(
        "return document.querySelectorAll(\"figure.metric-chart[data-metric='train.accuracy'] rect.bar\").length",
        vec![],
    );
    assert_eq!(bars, json!(2));
    let differs = b.js(
        "return [...document.querySelectorAll('tr.diff')].map(r => r.dataset.key)",
        vec![],
    );
    assert_eq!(differs, json!(["parameters.acc", "metrics.train.accuracy"]));
    b.shot("compare");

    // The comparison is also reached by picking executions from the list.
    b.goto(&s.url("/#/executions"));
    b.wait_for(
        "the executions",
        &format!("input.pick[value='{}']", one.id()),
    );
    b.click(&format!("input.pick[value='{}']", one.id()));
    b.click(&format!("input.pick[value='{}']", two.id()));
    b.shot("executions");
    b.click("#compare");
    b.wait_for(
        "the chart",
        "figure.metric-chart[data-metric='train.accuracy']",
    );
}

#[test]
fn a_labeling_task_is_labelled_with_the_keyboard_and_proceeds() {
    let Some(mut b) = Browser::start("labeling") else {
        return;
    };
    let t = Test::new();
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let ran = t
        .args(&[
            "run",
            "flowers_dataset.rhai",
            "--storage",
            &format!("output={}", t.at("root")),
            "--json",
        ])
        .current_dir(&examples)
        .run();
    ran.status(3);
    let id = ran.id();
    let s = Server::start(&t);

    b.goto(&s.login(&format!("/#/executions/{id}")));
    b.wait_for("the labeling link", "#open-labeling");
    b.shot("awaiting-labels");
    b.click("#open-labeling");
    b.wait_for("a sample", "#sample img");
    b.wait_js(
        "the picture loaded",
        "const i = document.querySelector('#sample img'); return i && i.complete && i.naturalWidth > 0",
    );
    b.shot("labeling");
    let left = b.js(
        "return document.querySelector('#progress').innerText",
        vec![],
    );
    assert!(left.as_str().unwrap().contains("8 to go"), "{left}");
    // The first label's key, once per unlabelled sample.
    for n in (0..8).rev() {
        b.keys("1");
        b.wait_js(
            &format!("{n} to go"),
            &format!("return document.querySelector('#progress').innerText.includes('{n} to go')"),
        );
    }
    b.wait_for("the proceed button", "#proceed");
    b.shot("labelled");
    b.keys("\u{E007}"); // Enter
    b.wait_js(
        "the execution page again",
        "return location.hash.startsWith('#/executions/')",
    );
    let r = s.wait_status(&id, "executed");
    assert_eq!(step_status(&r, "release"), "executed", "{r:#}");
    let l = t.wf(&["label", "flowers/round1", "show", "--json"]);
    let v: Value = serde_json::from_str(&l.stdout).unwrap();
    assert_eq!(v["unlabelled"], 0, "{v:#}");
}

#[test]
fn a_thousand_executions_are_listed_page_by_page_filtered_and_kept_live() {
    let Some(mut b) = Browser::start("many") else {
        return;
    };
    let t = Test::new();
    let script = release_one(&t, "hello", "true");
    seed_executions(&t, 1000);
    let s = Server::start(&t);
    b.goto(&s.login("/#/executions"));
    b.wait_js(
        "1,000 executions",
        "const c = document.querySelector('main p[role=status]'); return c && c.innerText.startsWith('1000 ')",
    );
    let rows = b.js(
        "return document.querySelectorAll('#executions tbody tr').length",
        vec![],
    );
    assert_eq!(rows, json!(50), "one page of 50");
    b.click(".pager button:last-child");
    b.wait_js(
        "page 2",
        "return document.querySelector('.pager span').innerText === 'page 2 of 20'",
    );
    // A run started from the terminal shows without a reload.
    b.js("window.wfMark = 'still here'; return true", vec![]);
    t.wf(&[
        "run",
        &script,
        "--storage",
        &format!("out={}", t.at("root")),
        "-p",
        "who=terminal",
    ])
    .status(0);
    b.wait_js(
        "the terminal's run",
        "const c = document.querySelector('main p[role=status]'); return c && c.innerText.startsWith('1001 ')",
    );
    assert_eq!(b.js("return window.wfMark", vec![]), json!("still here"));
    // Filtering by status leaves none here.
    b.js(
        "const s = document.querySelector('#filter-status'); s.value = 'failed'; s.dispatchEvent(new Event('change')); return true",
        vec![],
    );
    b.wait_js(
        "no failed executions",
        "const c = document.querySelector('main p[role=status]'); return c && c.innerText.startsWith('0 ')",
    );
    b.shot("executions");
}

/// Inserts `n` executed executions of `hello` straight into the records, as `n` quick runs
/// would leave them (running them would take minutes).
fn seed_executions(t: &Test, n: usize) {
    let conn = rusqlite::Connection::open(t.home().join("wf.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let def: String = conn
        .query_row(
            "SELECT definition FROM workflow_versions LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..n {
        let id = format!("{:012x}", 0xa000_0000_0000u64 + i as u64);
        let at = format!(
            "2026-11-{:02}T{:02}:{:02}:00.000Z",
            1 + i % 28,
            i % 24,
            i % 60
        );
        tx.execute(
            "INSERT INTO executions(id, workflow, status, definition, base_dir, parameters, storages, reused, max_parallel, created_at, ended_at)
             VALUES (?1, 'hello', 'executed', ?2, '.', '{}', '{}', '{}', 1, ?3, ?3)",
            rusqlite::params![id, def, at],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO steps(execution_id, name, position, type, status, attempt) VALUES (?1, 'a', 0, 'job', 'executed', 1)",
            [&id],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}
