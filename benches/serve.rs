//! What `wf serve` answers and carries, in one run:
//!
//! (a) with 1,000 executions in the records, `GET /api/executions/ID` (cycling over all of
//!     them) with 16 keep-alive connections for 5 s: requests per second, p50 and p99; and
//!     the listing of all 1,000 (`GET /api/executions`);
//! (b) 100 executions of a 1 → 200 → 1 fan-out of `true` jobs started over HTTP at once
//!     (`max_concurrent` 100 in its configuration): how long until all are recorded and all
//!     have ended, and that every record is whole (every step executed once, the events
//!     table and the server-sent events holding every status change).
//!
//!     cargo bench --bench serve
//!
//! Prints its figures; the load generator is in this file (tokio + hyper, one connection per
//! task, requests in sequence on each, as `oha -c 16` does).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use wf::exec::engine::Engine;
use wf::exec::prepare::Request as RunRequest;
use wf::loader::LoadOptions;

const ONE_CONDITION: &str = r#"
let c = wf.steps.ConditionStep(#{ name: "c", conditions: wf.steps.Condition(wf.steps.ConditionTypeEnum.EQ, 1, 1) });
wf.Workflow(#{ name: "one", desc: "one condition step", steps: [c] })
"#;

const FAN: &str = r#"
let storage = wf.data.OutputStorage(#{ name: "out" });
fn j(name, deps, storage) {
    wf.steps.JobStep(#{
        name: name,
        algorithm: wf.BaseAlgorithm(#{ command: "true" }),
        spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),
        inputs: [wf.steps.JobInput("data", wf.data.OBSPath("."))],
        outputs: [wf.steps.JobOutput("out", #{ obs_config: wf.data.OBSOutputConfig(storage.join(name)) })],
        depend_steps: deps,
    })
}
let first = j("first", [], storage);
let mids = [];
for i in 0..200 { mids.push(j("m" + i, [first], storage)); }
let last = j("last", mids, storage);
let steps = [first];
steps += mids;
steps.push(last);
wf.Workflow(#{ name: "fan", desc: "1 -> 200 -> 1", steps: steps, storages: [storage] })
"#;

const FAN_STEPS: usize = 202;
const FAN_RUNS: usize = 100;

fn wf_cmd(home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` executions of the one-condition workflow, driven in this process by the engine.
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
            let o = engine.run(p).unwrap();
            o.exec_id
        })
        .collect()
}

struct Server {
    child: Child,
    port: u16,
}

/// The home's API token, which every request carries.
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn bearer() -> String {
    format!("Bearer {}", TOKEN.get().map(String::as_str).unwrap_or(""))
}

impl Server {
    fn start(home: &Path, log: &Path) -> Server {
        let shown = Command::new(env!("CARGO_BIN_EXE_wf"))
            .arg("--home")
            .arg(home)
            .args(["serve", "--show-token"])
            .output()
            .unwrap();
        let _ = TOKEN.set(String::from_utf8_lossy(&shown.stdout).trim().to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_wf"))
            .arg("--home")
            .arg(home)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let s = Server { child, port };
        let t = Instant::now();
        while get(port, "/api/workflows").is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// One request on a fresh connection (std only), for the few requests outside the load.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        bearer(),
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut r = String::new();
    s.read_to_string(&mut r).map_err(|e| e.to_string())?;
    let code: u16 = r
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    let text = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // `Connection: close` answers are not chunked by hyper when the length is known.
    Ok((code, serde_json::from_str(text).unwrap_or(Value::Null)))
}

fn get(port: u16, path: &str) -> Result<Value, String> {
    match call(port, "GET", path, None)? {
        (200, v) => Ok(v),
        (c, v) => Err(format!("{c}: {v}")),
    }
}

struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
    failed: usize,
}

async fn load(port: u16, paths: Arc<Vec<String>>, conns: usize, secs: u64) -> Load {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        let paths = paths.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut lat = Vec::new();
            let mut failed = 0;
            let mut i = c;
            while Instant::now() < end {
                let req = Request::get(paths[i % paths.len()].as_str())
                    .header("host", "127.0.0.1")
                    .header("authorization", bearer())
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                i += conns;
                let t = Instant::now();
                match send.send_request(req).await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.into_body().collect().await;
                        if ok {
                            lat.push(t.elapsed());
                        } else {
                            failed += 1;
                        }
                    }
                    Err(_) => {
                        failed += 1;
                        break;
                    }
                }
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failed += f;
    }
    all.sort();
    let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Load {
        rps: all.len() as f64 / secs as f64,
        p50: q(0.50),
        p99: q(0.99),
        failed,
    }
}

/// POSTs `n` starts at once, each on its own connection: (status, execution id) of each.
async fn start_many(port: u16, path: &str, n: usize) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let req = Request::post(path.as_str())
                .header("host", "127.0.0.1")
                .header("authorization", bearer())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            let r = send.send_request(req).await.unwrap();
            let code = r.status().as_u16();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (
                code,
                v["execution_id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Counts server-sent events per execution, on a thread of its own.
fn count_events(port: u16) -> Arc<Mutex<HashMap<String, usize>>> {
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let into = counts.clone();
    let ready = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let ready2 = ready.clone();
    wf::net::install_tls();
    std::thread::spawn(move || {
        let resp = reqwest::blocking::Client::builder()
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/api/events"))
            .header("authorization", bearer())
            .send()
            .unwrap();
        {
            *ready2.0.lock().unwrap() = true;
            ready2.1.notify_all();
        }
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(d) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(d).unwrap();
                let id = v["execution_id"].as_str().unwrap().to_string();
                *into.lock().unwrap().entry(id).or_insert(0) += 1;
            }
        }
    });
    let mut r = ready.0.lock().unwrap();
    while !*r {
        r = ready.1.wait(r).unwrap();
    }
    counts
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wf-bench-serve-{}", std::process::id()));
    let home = dir.join("home");
    std::fs::create_dir_all(&dir).unwrap();
    let one = dir.join("one.rhai");
    std::fs::write(&one, ONE_CONDITION).unwrap();
    let fan = dir.join("fan.rhai");
    std::fs::write(&fan, FAN).unwrap();
    wf_cmd(&home, &["release", one.to_str().unwrap()]);
    wf_cmd(&home, &["release", fan.to_str().unwrap()]);

    // (a) Reading records.
    let t = Instant::now();
    let ids = make_executions(&home, &one, 1000);
    let made = t.elapsed();
    let server = Server::start(&home, &dir.join("serve.log"));
    let port = server.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let paths: Arc<Vec<String>> = Arc::new(
        ids.iter()
            .map(|id| format!("/api/executions/{id}"))
            .collect(),
    );
    // A short warm-up, then the measure.
    rt.block_on(load(port, paths.clone(), 16, 1));
    let l = rt.block_on(load(port, paths.clone(), 16, 5));
    // One connection: the latency of a request alone, without queueing behind others.
    let one = rt.block_on(load(port, paths, 1, 5));
    let mut listing = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let v = get(port, "/api/executions").unwrap();
        listing.push(t.elapsed());
        assert_eq!(v.as_array().map(Vec::len), Some(1000));
    }
    listing.sort();

    // (b) 100 fan-outs at once.
    let root = dir.join("root");
    let (code, v) = call(
        port,
        "PUT",
        "/api/workflows/fan/config",
        Some(&json!({ "max_concurrent": FAN_RUNS, "storages": { "out": root.to_str().unwrap() } })),
    )
    .unwrap();
    assert_eq!(code, 200, "{v}");
    let sse = count_events(port);
    let t = Instant::now();
    let started = rt.block_on(start_many(port, "/api/workflows/fan/executions", FAN_RUNS));
    let all_recorded = t.elapsed();
    let refused: Vec<&(u16, String)> = started.iter().filter(|(c, _)| *c != 201).collect();
    assert!(refused.is_empty(), "starts refused: {refused:?}");
    let fan_ids: Vec<String> = started.into_iter().map(|(_, id)| id).collect();
    let mut left;
    loop {
        let v = get(port, "/api/executions?workflow=fan").unwrap();
        left = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] == "running")
            .count();
        if left == 0 || t.elapsed() > Duration::from_secs(900) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let all_ended = t.elapsed();
    assert_eq!(left, 0, "executions still running after 900 s");

    // Every record whole.
    let store = wf::store::Store::open(&home).unwrap();
    let want_events = 3 + 2 * FAN_STEPS;
    let mut bad = Vec::new();
    for id in &fan_ids {
        let r = get(port, &format!("/api/executions/{id}")).unwrap();
        let steps = r["steps"].as_array().unwrap();
        let executed = steps
            .iter()
            .filter(|s| s["status"] == "executed" && s["attempt"] == 1)
            .count();
        let events = store.events(id).unwrap().len();
        if r["status"] != "executed" || steps.len() != FAN_STEPS || executed != FAN_STEPS {
            bad.push(format!(
                "{id}: {} with {executed}/{} steps executed once",
                r["status"],
                steps.len()
            ));
        }
        if events != want_events {
            bad.push(format!("{id}: {events} events recorded, not {want_events}"));
        }
    }
    // The event stream catches up within its polling interval.
    let t2 = Instant::now();
    let sse_total = loop {
        let c = sse.lock().unwrap();
        let total: usize = fan_ids
            .iter()
            .map(|id| c.get(id).copied().unwrap_or(0))
            .sum();
        if total >= FAN_RUNS * want_events || t2.elapsed() > Duration::from_secs(10) {
            break total;
        }
        drop(c);
        std::thread::sleep(Duration::from_millis(100));
    };
    {
        let c = sse.lock().unwrap();
        for id in &fan_ids {
            let n = c.get(id).copied().unwrap_or(0);
            if n != want_events {
                bad.push(format!("{id}: {n} server-sent events, not {want_events}"));
            }
        }
    }
    let fan_jobs = FAN_RUNS * FAN_STEPS;
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "(a) GET /api/executions/ID over 1,000 executions ({made:.1?} to make them in process)"
    );
    println!(
        "    16 keep-alive connections, 5 s: {:>8.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}  failed {}",
        l.rps, l.p50, l.p99, l.failed
    );
    println!(
        "    1 keep-alive connection, 5 s:    {:>8.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}  failed {}",
        one.rps, one.p50, one.p99, one.failed
    );
    println!(
        "    GET /api/executions (1,000 summaries): median {:.2?}, max {:.2?} (10 requests)",
        listing[listing.len() / 2],
        listing[listing.len() - 1]
    );
    println!(
        "(b) {FAN_RUNS} executions of 1 -> 200 -> 1 `true` jobs started over HTTP at once (max_concurrent {FAN_RUNS})"
    );
    println!(
        "    all {FAN_RUNS} recorded (201) in {all_recorded:.2?}; all ended in {all_ended:.1?} ({fan_jobs} jobs, {:.0} jobs/s)",
        fan_jobs as f64 / all_ended.as_secs_f64()
    );
    println!(
        "    records: {} of {FAN_RUNS} whole (executed, {FAN_STEPS} steps executed once, {want_events} events each); server-sent events {sse_total} of {}",
        FAN_RUNS - bad.iter().map(|b| b.split(':').next().unwrap()).collect::<std::collections::HashSet<_>>().len(),
        FAN_RUNS * want_events
    );
    for b in bad.iter().take(10) {
        println!("    NOT WHOLE: {b}");
    }
    if !bad.is_empty() {
        std::process::exit(1);
    }
}
