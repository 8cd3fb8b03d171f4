//! Notifications: a webhook receiver gets a workflow's `awaiting_input` and `executed`,
//! signed with the secret; a dead receiver is retried, then recorded failed, while the
//! execution still ends executed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::test::Test;

/// Each POST's body and signature header, as received.
type Received = Arc<Mutex<Vec<(Value, Option<String>)>>>;

/// A webhook receiver on 127.0.0.1 keeping each POST's body and signature header.
struct Receiver {
    port: u16,
    got: Received,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::answering("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    /// A receiver answering each POST with `response` (a whole HTTP response).
    fn answering(response: &str) -> Receiver {
        let response = response.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Received = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream);
                let (mut len, mut sig) = (0usize, None);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("x-wf-signature:") {
                        sig = Some(line.split_once(':').unwrap().1.trim().to_string());
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                keep.lock().unwrap().push((v, sig));
                let mut s = r.into_inner();
                let _ = s.write_all(response.as_bytes());
            }
        });
        Receiver { port, got }
    }

    fn events(&self) -> Vec<(String, Option<String>)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(v, _)| {
                (
                    v["event"].as_str().unwrap_or("").to_string(),
                    v["step"].as_str().map(String::from),
                )
            })
            .collect()
    }
}

const FLOW: &str = r#"
let d = wf.Placeholder(#{ name: "d", placeholder_type: wf.PlaceholderType.STR, delay: true });
let j = wf.steps.JobStep(#{ name: "j",
    algorithm: wf.BaseAlgorithm(#{ command: "true", parameters: [wf.AlgorithmParameters("d", d)] }),
    spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }),
    inputs: [], outputs: [] });
wf.Workflow(#{ name: "notified", desc: "a job that waits for a value", steps: [j] })
"#;

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_receiver_gets_awaiting_input_and_executed_signed_with_the_secret() {
    let t = Test::new();
    let recv = Receiver::start();
    let url = format!("http://127.0.0.1:{}/hook", recv.port);
    t.wf(&[
        "notify", "add", "notified", "--url", &url, "--secret", "s3cret",
    ])
    .status(0);
    let script = t.write("flow.rhai", FLOW).at("flow.rhai");
    let r = t.wf(&["run", &script, "--json"]);
    r.status(3);
    let exec = r.id();
    wait_for("awaiting_input", || {
        recv.events()
            .iter()
            .any(|(e, s)| e == "awaiting_input" && s.is_none())
    });
    t.wf(&["proceed", &exec, "j", "-p", "d=x"]).status(0);
    wait_for("executed", || {
        recv.events().iter().any(|(e, _)| e == "executed")
    });
    let got = recv.got.lock().unwrap().clone();
    for (body, sig) in &got {
        assert_eq!(body["workflow"], "notified");
        assert_eq!(body["execution_id"], exec.as_str());
        assert!(body["id"].as_str().is_some_and(|i| !i.is_empty()));
        assert!(body["console_url"]
            .as_str()
            .is_some_and(|u| u.contains(&exec)));
        // The signature is the HMAC-SHA256 of the body as sent.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body.to_string().as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sig.as_deref(),
            Some(format!("sha256={hex}").as_str()),
            "{body}"
        );
    }
    // One each: at least once, and here exactly once.
    let ids: std::collections::HashSet<&str> =
        got.iter().filter_map(|(b, _)| b["id"].as_str()).collect();
    assert_eq!(ids.len(), got.len(), "{got:?}");
    let log = t.wf(&["notify", "log", "--json"]);
    assert!(
        log.json
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "delivered"),
        "{log:?}"
    );
}

#[test]
fn a_dead_receiver_is_retried_then_recorded_failed_and_the_run_still_executes() {
    let t = Test::new();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    t.wf(&[
        "notify", "add", "notified", "--url", &url, "--events", "executed",
    ])
    .status(0);
    let script = t.write("flow.rhai", FLOW).at("flow.rhai");
    let r = t.wf(&["run", &script, "-p", "d=x", "--json"]);
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    let log = t.wf(&["notify", "log", "--json"]);
    let d = &log.json[0];
    assert_eq!(d["status"], "failed", "{log:?}");
    assert_eq!(d["attempts"], 5, "{log:?}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach")),
        "{log:?}"
    );
    assert_eq!(d["body"]["event"], "executed");
}

#[test]
fn notify_refuses_a_bad_url_or_event() {
    let t = Test::new();
    t.wf(&["notify", "add", "w", "--url", "ftp://x"])
        .status(2)
        .stderr_contains("not an http:// or https:// URL");
    t.wf(&[
        "notify", "add", "w", "--url", "http://x", "--events", "done",
    ])
    .status(2)
    .stderr_contains("`done` is not an event");
    t.wf(&["notify", "remove", "7"])
        .status(1)
        .stderr_contains("no notification 7");
}

#[test]
fn a_receiver_that_never_answers_holds_a_run_up_at_most_ten_seconds() {
    let t = Test::new();
    // Connections are taken (the listen queue) and never answered.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        mute.local_addr().unwrap().port()
    );
    for _ in 0..6 {
        t.wf(&[
            "notify", "add", "notified", "--url", &url, "--events", "executed",
        ])
        .status(0);
    }
    let script = t.write("flow.rhai", FLOW).at("flow.rhai");
    let began = Instant::now();
    let r = t.wf(&["run", &script, "-p", "d=x", "--json"]);
    let took = began.elapsed();
    r.status(0);
    assert_eq!(r.exec_status(), "executed");
    // The README's promise: 10 s at the end of a run, whatever the number of notifications.
    assert!(
        took < Duration::from_secs(14),
        "the run took {took:?} with six notifications to a receiver that never answers"
    );
    r.stderr_contains("delivering 6 notifications");
    // What was not delivered stays for the next `wf` that runs.
    let log = t.wf(&["notify", "log", "--json"]);
    let all = log.json.as_array().unwrap();
    assert_eq!(all.len(), 6, "{log:?}");
    for d in all {
        assert_eq!(d["status"], "pending", "{log:?}");
        assert!(
            d["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("did not answer within")),
            "{log:?}"
        );
    }
    drop(mute);
}

#[test]
fn a_redirect_is_not_followed_and_the_attempt_is_recorded_failed_with_its_location() {
    let t = Test::new();
    let elsewhere = Receiver::start();
    let target = format!("http://127.0.0.1:{}/elsewhere", elsewhere.port);
    let mut urls = Vec::new();
    for code in ["302 Found", "307 Temporary Redirect"] {
        let r = Receiver::answering(&format!(
            "HTTP/1.1 {code}\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        let url = format!("http://127.0.0.1:{}/hook", r.port);
        t.wf(&[
            "notify", "add", "notified", "--url", &url, "--events", "executed", "--secret", "s",
        ])
        .status(0);
        urls.push((code, url, r));
    }
    let script = t.write("flow.rhai", FLOW).at("flow.rhai");
    let r = t.wf(&["run", &script, "-p", "d=x", "--json"]);
    r.status(0);
    let log = t.wf(&["notify", "log", "--json"]);
    for (code, url, receiver) in &urls {
        assert!(
            !receiver.got.lock().unwrap().is_empty(),
            "{url} got nothing"
        );
        let d = log
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["url"] == url.as_str())
            .unwrap_or_else(|| panic!("no delivery to {url}: {log:?}"));
        assert_ne!(d["status"], "delivered", "{code}: {d}");
        let e = d["last_error"].as_str().unwrap_or("");
        assert!(e.contains(&code[..3]) && e.contains(&target), "{code}: {d}");
    }
    assert!(
        elsewhere.got.lock().unwrap().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.got.lock().unwrap()
    );
}

#[test]
fn notifications_link_to_an_address_that_reaches_the_server() {
    use crate::serve::Server;
    let t = Test::new();
    let recv = Receiver::start();
    let url = format!("http://127.0.0.1:{}/hook", recv.port);
    t.wf(&[
        "notify", "add", "notified", "--url", &url, "--events", "executed",
    ])
    .status(0);
    let script = t.write("flow.rhai", FLOW).at("flow.rhai");
    let link_of = |exec: &str| {
        wait_for("the notification", || {
            recv.got
                .lock()
                .unwrap()
                .iter()
                .any(|(b, _)| b["execution_id"] == exec)
        });
        let got = recv.got.lock().unwrap();
        let (body, _) = got.iter().find(|(b, _)| b["execution_id"] == exec).unwrap();
        body["console_url"].as_str().unwrap_or("").to_string()
    };

    // Bound to every address: the link names an address others reach, not 0.0.0.0.
    let s = Server::start_at(&t, "0.0.0.0", &[]);
    let r = t.wf(&["run", &script, "-p", "d=x", "--json"]);
    r.status(0);
    let exec = r.id();
    let link = link_of(&exec);
    assert!(!link.contains("0.0.0.0"), "{link}");
    assert!(
        link.starts_with("http://") && link.ends_with(&format!(":{}/#/executions/{exec}", s.port)),
        "{link}"
    );
    let host = link["http://".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(!host.is_empty() && host != "127.0.0.1", "{link}");
    let console = s.runner_stderr();
    assert!(
        console.contains(&format!("the console: http://{host}:{}/?token=", s.port)),
        "{console}"
    );
    drop(s);

    // Said with --public-url: every process's notifications link there.
    let s = Server::start_at(
        &t,
        "127.0.0.1",
        &["--public-url", "https://wf.example.org/"],
    );
    let r = t.wf(&["run", &script, "-p", "d=x", "--json"]);
    r.status(0);
    let exec = r.id();
    assert_eq!(
        link_of(&exec),
        format!("https://wf.example.org/#/executions/{exec}")
    );
    drop(s);
    t.wf(&["serve", "--public-url", "file:///x"])
        .status(2)
        .stderr_contains("--public-url");
}
