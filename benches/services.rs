//! What a service's address costs, against calling its model process directly, in one run:
//!
//! (a) requests per second and p50/p99 latency with 16 keep-alive connections for 5 s each,
//!     through the service address and straight to the model process's port;
//! (b) the time from a ServiceStep's start to the first answer through its address, against
//!     the model process's own start (spawn to a healthy `/health`).
//!
//!     cargo bench --bench services
//!
//! Prints its figures; the load generator is in this file (tokio + hyper, one connection per
//! task, requests in sequence on each, as `oha -c 16` does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn wf(home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wf"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DEPLOY: &str = r#"
let m = wf.steps.ModelStep(#{ name: "register",
    inputs: wf.steps.ModelInput(#{ name: "m", data: wf.data.OBSPath(#{ obs_path: MODEL }) }),
    outputs: wf.steps.ModelOutput(#{ name: "model", model_config: wf.steps.ModelConfig(#{ model_name: "echo" }) }) });
let s = wf.steps.ServiceStep(#{ name: "deploy", depend_steps: [m],
    inputs: wf.steps.ServiceInput(#{ name: "models", data: wf.data.ServiceInputPlaceholder(#{
        name: "models", model_name: "echo", delay: false,
        default: [#{ model_name: "echo", model_version: "latest", weight: 100 }] }) }),
    outputs: wf.steps.ServiceOutput(#{ name: "service",
        service_config: wf.steps.ServiceConfig(#{ service_name: "bench-echo" }) }) });
wf.Workflow(#{ name: "bench", desc: "deploy the echo model", steps: [m, s] })
"#;

struct Load {
    rps: f64,
    p50: Duration,
    p99: Duration,
    failed: usize,
}

async fn load(port: u16, conns: usize, secs: u64) -> Load {
    let body = Bytes::from_static(br#"{"x": [1, 2, 3]}"#);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let body = body.clone();
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
            while Instant::now() < end {
                let req = Request::post("/")
                    .header("host", "127.0.0.1")
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .unwrap();
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

fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wf-bench-services-{}", std::process::id()));
    let home = dir.join("home");
    std::fs::create_dir_all(&dir).unwrap();
    let model = PathBuf::from(ROOT).join("tests/fixtures/models/echo");
    let script = dir.join("deploy.rhai");
    std::fs::write(
        &script,
        DEPLOY.replace("MODEL", &format!("{:?}", model.to_str().unwrap())),
    )
    .unwrap();

    // (b) A ServiceStep's start to its first answer.
    let t = Instant::now();
    let record = wf(&home, &["run", script.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&record).unwrap();
    let address = v["steps"][1]["outputs"]["service"]["access_address"]
        .as_str()
        .unwrap()
        .to_string();
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let deploy_to_answer = {
        while !health(port) {
            std::thread::sleep(Duration::from_millis(1));
        }
        t.elapsed()
    };
    let show: serde_json::Value =
        serde_json::from_str(&wf(&home, &["service", "show", "bench-echo", "--json"])).unwrap();
    let model_port = show["versions"][0]["port"].as_u64().unwrap() as u16;

    // The model process's own start, for the floor.
    let server = home.join("runtime/python/wf_model_server.py");
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Instant::now();
    let mut child = Command::new("python3")
        .arg(&server)
        .arg(&model)
        .env("PORT", free.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !health(free) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let model_start = t.elapsed();
    let _ = child.kill();
    let _ = child.wait();

    // (a) Load, direct then through the address, twice, alternating.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..2 {
        direct.push(rt.block_on(load(model_port, 16, 5)));
        proxied.push(rt.block_on(load(port, 16, 5)));
    }
    wf(&home, &["service", "stop", "bench-echo"]);
    let _ = std::fs::remove_dir_all(&dir);

    let best = |v: &[Load]| {
        v.iter()
            .max_by(|a, b| a.rps.partial_cmp(&b.rps).unwrap())
            .map(|l| (l.rps, l.p50, l.p99, l.failed))
            .unwrap()
    };
    let (dr, d50, d99, df) = best(&direct);
    let (pr, p50, p99, pf) = best(&proxied);
    println!("16 keep-alive connections, 5 s, the echo model (best of 2 each):");
    println!(
        "  direct to the model  {dr:>8.0} req/s  p50 {d50:>8.2?}  p99 {d99:>8.2?}  failed {df}"
    );
    println!(
        "  through the address  {pr:>8.0} req/s  p50 {p50:>8.2?}  p99 {p99:>8.2?}  failed {pf}"
    );
    println!(
        "  through/direct: {:.2} of the throughput, p50 {:+.3} ms",
        pr / dr,
        (p50.as_secs_f64() - d50.as_secs_f64()) * 1e3
    );
    println!(
        "ServiceStep start to first answer: {:.0} ms (includes `wf run` and the model registration); the model's own start: {:.0} ms",
        deploy_to_answer.as_secs_f64() * 1e3,
        model_start.as_secs_f64() * 1e3
    );
}
