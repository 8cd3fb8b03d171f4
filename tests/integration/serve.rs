//! `wf serve`: the REST API and its server-sent events (CONTRACT §8), driven over HTTP
//! against a real server started through the harness.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::test::{flow, job, step_status, tick, wait_until, Runner, Test};

/// A port free at this moment.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A `wf serve` of the test's home, killed when dropped.
pub(crate) struct Server {
    runner: Runner,
    base: String,
    http: Client,
    token: Option<String>,
}

impl Server {
    pub(crate) fn start(t: &Test) -> Server {
        Server::start_at(t, "127.0.0.1", None)
    }

    /// Bound to `host:PORT`, asked at 127.0.0.1 (with `token`, if given).
    #[track_caller]
    pub(crate) fn start_at(t: &Test, host: &str, token: Option<String>) -> Server {
        let port = free_port();
        let bind = format!("{host}:{port}");
        let runner = t.args(&["serve", "--bind", &bind]).spawn();
        let s = Server {
            runner,
            base: format!("http://127.0.0.1:{port}"),
            http: client(),
            token,
        };
        let up = wait_until(Duration::from_secs(20), || {
            s.http
                .get(format!("{}/", s.base))
                .send()
                .is_ok_and(|r| r.status() != StatusCode::NOT_FOUND)
        });
        assert!(up, "the server did not answer: {}", s.runner.stderr());
        assert!(
            s.runner
                .stderr()
                .contains(&format!("serving the API at http://{bind} (Ctrl-C stops)")),
            "no start-up line: {}",
            s.runner.stderr()
        );
        s
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self, r: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.token {
            Some(t) => r.header("Authorization", format!("Bearer {t}")),
            None => r,
        }
    }

    pub(crate) fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.auth(self.http.get(self.url(path))).send().unwrap())
    }

    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.auth(self.http.request(m, self.url(path)));
        if let Some(b) = body {
            r = r.json(&b);
        }
        answer(r.send().unwrap())
    }

    pub(crate) fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send("POST", path, Some(body))
    }

    pub(crate) fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send("PUT", path, Some(body))
    }

    pub(crate) fn record(&self, id: &str) -> Value {
        let (code, v) = self.get(&format!("/api/executions/{id}"));
        assert_eq!(code, StatusCode::OK, "{v}");
        v
    }

    /// Waits until the execution's record satisfies `done`; the record then.
    #[track_caller]
    pub(crate) fn wait_record(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_until(Duration::from_secs(30), || {
            last = self.record(id);
            done(&last)
        });
        assert!(ok, "execution {id} never got {what}:\n{last:#}");
        last
    }

    #[track_caller]
    pub(crate) fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_record(id, &format!("status {status}"), |r| r["status"] == status)
    }

    /// Server-sent events from now on, collected on a thread.
    fn events(&self, query: &str) -> Events {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let http = Client::builder().build().unwrap();
        let resp = self
            .auth(http.get(self.url(&format!("/api/events{query}"))))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let into = seen.clone();
        std::thread::spawn(move || {
            let mut id = None;
            for line in BufReader::new(resp).lines() {
                let Ok(line) = line else { return };
                if let Some(i) = line.strip_prefix("id: ") {
                    id = i.parse::<i64>().ok();
                }
                if let Some(d) = line.strip_prefix("data: ") {
                    let mut v: Value = serde_json::from_str(d).unwrap();
                    v["sse_id"] = json!(id);
                    into.lock().unwrap().push(v);
                }
            }
        });
        Events(seen)
    }
}

fn answer(r: Response) -> (StatusCode, Value) {
    let code = r.status();
    let text = r.text().unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

struct Events(Arc<Mutex<Vec<Value>>>);

impl Events {
    /// `(step or "-", status)` of the events of `exec` so far.
    fn of(&self, exec: &str) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["execution_id"] == exec)
            .map(|e| {
                (
                    e["step"].as_str().unwrap_or("-").to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) fn id_of(record: &Value) -> String {
    record["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no execution id: {record:#}"))
        .to_string()
}

/// A released workflow of one job `a` running `command`, with the STR parameter `who`.
pub(crate) fn release_one(t: &Test, name: &str, command: &str) -> String {
    let body = "let who = wf.Placeholder(#{ name: \"who\", placeholder_type: wf.PlaceholderType.STR, description: \"who says hello\" });\n";
    let a = job("a", command).param("who", "who");
    let script = t
        .write(&format!("{name}.rhai"), &flow(name, body, &[a], &["a"]))
        .at(&format!("{name}.rhai"));
    t.wf(&["release", &script]).status(0);
    script
}

#[test]
fn a_released_workflow_configured_and_started_over_http_runs_beside_a_cli_run() {
    let t = Test::new();
    let script = release_one(&t, "hello", "sleep 0.5; echo \"hello $WF_PARAM_WHO\"");
    let s = Server::start(&t);

    let (code, list) = s.get("/api/workflows");
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list[0]["name"], "hello", "{list:#}");
    // Nothing runs without its required value, named as the CLI names it.
    let (code, err) = s.post(
        "/api/workflows/hello/executions",
        json!({ "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["error"].as_str().unwrap().contains("who"), "{err}");
    // A configuration field the registry does not know is refused.
    let (code, err) = s.put("/api/workflows/hello/config", json!({ "colour": "red" }));
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");

    let (code, cfg) = s.put(
        "/api/workflows/hello/config",
        json!({ "parameters": { "who": "api" }, "storages": { "out": t.at("root") }, "tags": ["demo"] }),
    );
    assert_eq!(code, StatusCode::OK, "{cfg}");
    let (_, shown) = s.get("/api/workflows/hello");
    assert_eq!(
        shown["configuration"]["parameters"]["who"], "api",
        "{shown:#}"
    );
    assert_eq!(shown["versions"].as_array().unwrap().len(), 1);
    assert_eq!(shown["definition"]["name"], "hello");
    let (_, tagged) = s.get("/api/workflows?tag=demo&search=hel");
    assert_eq!(tagged.as_array().unwrap().len(), 1, "{tagged:#}");

    let events = s.events("");
    let (code, started) = s.post(
        "/api/workflows/hello/executions",
        json!({ "tags": ["first"] }),
    );
    assert_eq!(code, StatusCode::CREATED, "{started}");
    assert_eq!(started["status"], "running", "{started:#}");
    assert_eq!(started["parameters"]["who"], "api");
    assert_eq!(started["tags"], json!(["first"]));
    let api_id = id_of(&started);
    // One at a time by default.
    let (code, err) = s.post("/api/workflows/hello/executions", json!({}));
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("max_concurrent"),
        "{err}"
    );

    let done = s.wait_status(&api_id, "executed");
    assert_eq!(step_status(&done, "a"), "executed");
    assert!(wait_until(Duration::from_secs(5), || events
        .of(&api_id)
        .contains(&("-".into(), "executed".into()))));
    let seen = events.of(&api_id);
    let pos = |e: (&str, &str)| {
        seen.iter()
            .position(|(s, st)| s == e.0 && st == e.1)
            .unwrap_or_else(|| panic!("no event {e:?} in {seen:?}"))
    };
    assert!(pos(("-", "running")) < pos(("a", "running")), "{seen:?}");
    assert!(pos(("a", "running")) < pos(("a", "executed")), "{seen:?}");
    assert!(pos(("a", "executed")) <= pos(("-", "executed")), "{seen:?}");
    let first = &events.all()[0];
    for k in ["execution_id", "step", "status", "at"] {
        assert!(first.get(k).is_some(), "no `{k}` in {first}");
    }

    let (code, log) = s.get(&format!("/api/executions/{api_id}/steps/a/log"));
    assert_eq!(code, StatusCode::OK);
    assert!(log.as_str().unwrap().contains("hello api"), "{log}");
    let (code, _) = s.get(&format!("/api/executions/{api_id}/steps/nope/log"));
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A CLI run of the same workflow is seen by the server, and its events too.
    let cli = t.run_flow(&script, &["-p", "who=cli"]);
    cli.status(0);
    let cli_id = cli.id();
    assert!(wait_until(Duration::from_secs(5), || events
        .of(&cli_id)
        .contains(&("a".into(), "executed".into()))));
    let (_, list) = s.get("/api/executions?workflow=hello");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [cli_id.as_str(), api_id.as_str()],
        "newest first: {list:#}"
    );
    for e in list.as_array().unwrap() {
        assert_eq!(e["status"], "executed");
        assert!(e["created_at"].is_string() && e["tags"].is_array(), "{e}");
    }
    let (_, only) = s.get("/api/executions?tag=first");
    assert_eq!(only.as_array().unwrap().len(), 1, "{only:#}");
    let (code, _) = s.get("/api/executions?status=bogus");
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let (code, tags) = s.put(
        &format!("/api/executions/{cli_id}/tags"),
        json!({ "tags": ["cli", "b"] }),
    );
    assert_eq!(code, StatusCode::OK, "{tags}");
    assert_eq!(s.record(&cli_id)["tags"], json!(["b", "cli"]));

    let (code, cmp) = s.get(&format!("/api/compare?ids={api_id},{cli_id}"));
    assert_eq!(code, StatusCode::OK, "{cmp}");
    assert_eq!(cmp["parameters"]["who"], json!(["api", "cli"]), "{cmp:#}");
    assert!(cmp["differs"]
        .as_array()
        .unwrap()
        .contains(&json!("parameters.who")));
    let (code, _) = s.get(&format!("/api/compare?ids={api_id}"));
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Replaying from an event id gives what came after it, in order.
    let replay = s.events(&format!("?since=0&execution={api_id}"));
    assert!(wait_until(Duration::from_secs(5), || replay
        .of(&api_id)
        .len()
        == seen.len()));
    assert_eq!(replay.of(&api_id), seen);
    let ids: Vec<i64> = replay
        .all()
        .iter()
        .map(|e| e["sse_id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

/// A released workflow `delayed` of one job `ask` that waits for the INT `answer` (a delayed
/// placeholder) and writes it to `answer.txt`.
pub(crate) fn release_delayed(t: &Test) {
    let body = r#"
let answer = wf.Placeholder(#{ name: "answer", placeholder_type: wf.PlaceholderType.INT, delay: true, description: "asked at the step" });
"#;
    let ask = job(
        "ask",
        &format!(
            "printf '%s' \"$WF_PARAM_ANSWER\" > '{}'",
            t.at("answer.txt")
        ),
    )
    .param("answer", "answer");
    let script = t
        .write("delayed.rhai", &flow("delayed", body, &[ask], &["ask"]))
        .at("delayed.rhai");
    t.wf(&["release", &script]).status(0);
}

#[test]
fn a_delayed_value_is_awaited_then_given_over_http() {
    let t = Test::new();
    release_delayed(&t);
    let s = Server::start(&t);
    let (code, started) = s.post(
        "/api/workflows/delayed/executions",
        json!({ "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::CREATED, "{started}");
    let id = id_of(&started);
    let r = s.wait_status(&id, "awaiting_input");
    assert_eq!(step_status(&r, "ask"), "awaiting_input", "{r:#}");
    assert_eq!(t.read("answer.txt"), "");

    let path = format!("/api/executions/{id}/steps/ask/proceed");
    let (code, err) = s.post(&path, json!({ "parameters": { "nope": 1 } }));
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    let (code, err) = s.post(&path, json!({ "parameters": { "answer": "many" } }));
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    let (code, err) = s.post(
        &format!("/api/executions/{id}/steps/ghost/proceed"),
        json!({}),
    );
    assert_eq!(code, StatusCode::NOT_FOUND, "{err}");

    let (code, went) = s.post(&path, json!({ "parameters": { "answer": 42 } }));
    assert_eq!(code, StatusCode::OK, "{went}");
    // Carried on: running, or already done with a job this quick.
    assert!(
        matches!(went["status"].as_str(), Some("running" | "executed")),
        "{went:#}"
    );
    let r = s.wait_status(&id, "executed");
    assert_eq!(r["parameters"]["answer"], 42, "{r:#}");
    assert_eq!(t.read("answer.txt"), "42");
    // Nothing awaits any more.
    let (code, _) = s.post(&path, json!({ "parameters": { "answer": 1 } }));
    assert_eq!(code, StatusCode::CONFLICT);
}

#[test]
fn phases_are_retried_and_stopped_over_http() {
    let t = Test::new();
    let mark = t.at("mark");
    // Fails until the mark exists.
    let flaky = job(
        "flaky",
        &format!("{}; test -f '{mark}' || exit 3", tick(&t.at("flaky.count"))),
    );
    let script = t
        .write("flaky.rhai", &flow("flaky", "", &[flaky], &["flaky"]))
        .at("flaky.rhai");
    t.wf(&["release", &script]).status(0);
    // Sleeps until stopped, unless the mark exists.
    let slow = job(
        "slow",
        &format!(
            "{}; test -f '{mark}' || sleep 60",
            tick(&t.at("slow.count"))
        ),
    );
    let script = t
        .write("slow.rhai", &flow("slow", "", &[slow], &["slow"]))
        .at("slow.rhai");
    t.wf(&["release", &script]).status(0);
    let s = Server::start(&t);
    let out = json!({ "storages": { "out": t.at("root") } });

    let (code, r) = s.post("/api/workflows/flaky/executions", out.clone());
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id = id_of(&r);
    let r = s.wait_status(&id, "failed");
    assert_eq!(step_status(&r, "flaky"), "failed");
    let (code, err) = s.post(&format!("/api/executions/{id}/resume"), json!({}));
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
    std::fs::write(&mark, "").unwrap();
    let (code, r) = s.post(
        &format!("/api/executions/{id}/steps/flaky/retry"),
        json!({}),
    );
    assert_eq!(code, StatusCode::OK, "{r}");
    let r = s.wait_status(&id, "executed");
    assert_eq!(step_status(&r, "flaky"), "executed");
    assert_eq!(t.count("flaky.count"), 2);
    let (code, err) = s.post(&format!("/api/executions/{id}/retry"), json!({}));
    assert_eq!(code, StatusCode::CONFLICT, "nothing failed: {err}");
    std::fs::remove_file(&mark).unwrap();

    let (code, r) = s.post("/api/workflows/slow/executions", out.clone());
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id = id_of(&r);
    s.wait_record(&id, "step slow running", |r| {
        step_status(r, "slow") == "running"
    });
    let (code, err) = s.send("DELETE", &format!("/api/executions/{id}"), None);
    assert_eq!(code, StatusCode::CONFLICT, "deleted while it runs: {err}");
    let (code, r) = s.post(&format!("/api/executions/{id}/steps/slow/stop"), json!({}));
    assert_eq!(code, StatusCode::OK, "{r}");
    let r = s.wait_status(&id, "stopped");
    assert_eq!(step_status(&r, "slow"), "stopped", "{r:#}");

    // Retried with the mark, it ends at once.
    std::fs::write(&mark, "").unwrap();
    let (code, r) = s.post(&format!("/api/executions/{id}/retry"), json!({}));
    assert_eq!(code, StatusCode::OK, "{r}");
    s.wait_status(&id, "executed");
    assert_eq!(t.count("slow.count"), 2);
    std::fs::remove_file(&mark).unwrap();

    // The whole execution stopped.
    let (code, r) = s.post("/api/workflows/slow/executions", out);
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id2 = id_of(&r);
    s.wait_record(&id2, "step slow running", |r| {
        step_status(r, "slow") == "running"
    });
    let (code, r) = s.post(&format!("/api/executions/{id2}/stop"), json!({}));
    assert_eq!(code, StatusCode::OK, "{r}");
    let r = s.wait_status(&id2, "stopped");
    assert_eq!(step_status(&r, "slow"), "stopped", "{r:#}");
    let (code, _) = s.post(&format!("/api/executions/{id2}/stop"), json!({}));
    assert_eq!(code, StatusCode::CONFLICT, "stopped twice");

    // An ended execution is deleted, records and logs.
    let (code, r) = s.send("DELETE", &format!("/api/executions/{id2}"), None);
    assert_eq!(code, StatusCode::OK, "{r}");
    let (code, _) = s.get(&format!("/api/executions/{id2}"));
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(!t.home().join("logs").join(&id2).exists());
}

#[test]
fn a_copy_runs_under_its_own_name_and_delete_needs_the_name_typed() {
    let t = Test::new();
    release_one(&t, "orig", "echo \"hi $WF_PARAM_WHO\"");
    let s = Server::start(&t);
    let (code, v) = s.put(
        "/api/workflows/orig/config",
        json!({ "parameters": { "who": "copy" }, "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::OK, "{v}");
    let (code, v) = s.post("/api/workflows/orig/copy", json!({}));
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v, json!({ "name": "orig_copy" }));
    let (code, shown) = s.get("/api/workflows/orig_copy");
    assert_eq!(code, StatusCode::OK, "{shown}");
    assert_eq!(shown["configuration"]["parameters"]["who"], "copy");
    // The copy runs under its own name, with the configuration it was copied with.
    let (code, r) = s.post("/api/workflows/orig_copy/executions", json!({}));
    assert_eq!(code, StatusCode::CREATED, "{r}");
    assert_eq!(r["workflow"], "orig_copy");
    let id = id_of(&r);
    s.wait_status(&id, "executed");
    let (_, list) = s.get("/api/executions?workflow=orig_copy");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");

    let (code, err) = s.send("DELETE", "/api/workflows/orig", None);
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    let (code, err) = s.send(
        "DELETE",
        "/api/workflows/orig",
        Some(json!({ "confirm": "orig_copy" })),
    );
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        s.get("/api/workflows/orig").0,
        StatusCode::OK,
        "deleted without its name"
    );
    let (code, v) = s.send(
        "DELETE",
        "/api/workflows/orig",
        Some(json!({ "confirm": "orig" })),
    );
    assert_eq!(code, StatusCode::OK, "{v}");
    let (code, err) = s.get("/api/workflows/orig");
    assert_eq!(code, StatusCode::NOT_FOUND, "{err}");
    assert!(err["error"].is_string(), "{err}");
    let (code, _) = s.post("/api/workflows/orig/executions", json!({}));
    assert_eq!(code, StatusCode::NOT_FOUND);
    // The copy and its execution's record stay.
    assert_eq!(s.get("/api/workflows/orig_copy").0, StatusCode::OK);
    assert_eq!(s.get(&format!("/api/executions/{id}")).0, StatusCode::OK);
    // Bodies are bounded, and must be JSON.
    let big = "x".repeat(2 << 20);
    let r = s
        .http
        .put(s.url("/api/workflows/orig_copy/config"))
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = s
        .http
        .put(s.url("/api/workflows/orig_copy/config"))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("\"error\""));
    // No CORS: nothing lets a page elsewhere read or act.
    let r = s
        .http
        .post(s.url("/api/workflows/orig_copy/copy"))
        .header("Origin", "http://example.com")
        .send()
        .unwrap();
    assert_ne!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn beyond_loopback_every_request_needs_the_token() {
    let t = Test::new();
    let shown = t.wf(&["serve", "--show-token"]);
    shown.status(0);
    let token = shown.stdout.trim().to_string();
    assert_eq!(
        shown.stdout,
        format!("{token}\n"),
        "only the token: {shown:?}"
    );
    assert!(token.len() >= 32, "{token}");
    assert_eq!(
        t.wf(&["serve", "--show-token"]).stdout,
        shown.stdout,
        "made once"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.home().join("api-token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let s = Server::start_at(&t, "0.0.0.0", Some(token.clone()));
    for path in ["/api/workflows", "/api/executions", "/api/events", "/"] {
        let r = s.http.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = s
            .http
            .get(s.url(path))
            .header("Authorization", "Bearer wrong")
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let (code, v) = answer(r);
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        assert!(v["error"].is_string(), "{v}");
    }
    let (code, v) = s.get("/api/workflows");
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v, json!([]));

    // A browser opens the console once with the token in the address; a cookie keeps it.
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(s.url("/?token=wrong")).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = no_redirects
        .get(s.url(&format!("/?token={token}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    for path in ["/", "/console/app.js", "/api/workflows"] {
        let r = s
            .http
            .get(s.url(path))
            .header("Cookie", &pair)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} with the cookie");
    }
    let r = s
        .http
        .get(s.url("/api/workflows"))
        .header("Cookie", "wf_token=wrong")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn a_server_killed_mid_execution_resumes_it_when_it_starts_again() {
    let t = Test::new();
    release_one(
        &t,
        "sleepy",
        &format!("{}; sleep 2", tick(&t.at("sleepy.count"))),
    );
    let mut s = Server::start(&t);
    let (code, r) = s.post(
        "/api/workflows/sleepy/executions",
        json!({ "parameters": { "who": "x" }, "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id = id_of(&r);
    s.wait_record(&id, "step a running", |r| step_status(r, "a") == "running");
    s.runner.kill();
    drop(s);
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "running", "{shown:?}");

    let s = Server::start(&t);
    let r = s.wait_status(&id, "executed");
    assert_eq!(step_status(&r, "a"), "executed", "{r:#}");
    assert_eq!(t.count("sleepy.count"), 2, "the running step runs again");
    assert!(
        s.runner
            .stderr()
            .contains(&format!("resuming execution {id}")),
        "{}",
        s.runner.stderr()
    );
}

#[test]
fn sigterm_stops_the_server_and_records_its_executions_stopped() {
    let t = Test::new();
    release_one(&t, "long", "sleep 60");
    let mut s = Server::start(&t);
    let (code, r) = s.post(
        "/api/workflows/long/executions",
        json!({ "parameters": { "who": "x" }, "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id = id_of(&r);
    s.wait_record(&id, "step a running", |r| step_status(r, "a") == "running");
    // An open event stream does not hold the server up.
    let _events = s.events("");
    s.runner.signal("TERM");
    assert_eq!(s.runner.wait(Duration::from_secs(15)), Some(0));
    let shown = t.wf(&["show", &id, "--json"]);
    assert_eq!(shown.json["status"], "stopped", "{shown:?}");
    assert_eq!(crate::test::step_status(&shown.json, "a"), "stopped");
}

#[test]
fn an_execution_reruns_with_its_parameters_and_executions_filter_by_time() {
    let t = Test::new();
    release_one(&t, "again", "echo \"hello $WF_PARAM_WHO\"");
    let s = Server::start(&t);
    let (code, first) = s.post(
        "/api/workflows/again/executions",
        json!({ "parameters": { "who": "first" }, "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::CREATED, "{first}");
    let first = id_of(&first);
    s.wait_status(&first, "executed");
    let (code, second) = s.post(&format!("/api/executions/{first}/rerun"), json!({}));
    assert_eq!(code, StatusCode::CREATED, "{second}");
    let second = id_of(&second);
    assert_ne!(first, second);
    let done = s.wait_status(&second, "executed");
    assert_eq!(done["parameters"]["who"], "first", "{done:#}");
    let (_, log) = s.get(&format!("/api/executions/{second}/steps/a/log"));
    let _ = log;

    // Time filters: everything is since yesterday, nothing since tomorrow.
    let day = |d: i64| {
        (chrono::Utc::now() + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let (_, all) = s.get(&format!("/api/executions?since={}", day(-1)));
    assert_eq!(all.as_array().unwrap().len(), 2, "{all:#}");
    let (_, none) = s.get(&format!("/api/executions?since={}", day(1)));
    assert_eq!(none.as_array().unwrap().len(), 0, "{none:#}");
    let (_, before) = s.get(&format!("/api/executions?until={}", day(-1)));
    assert_eq!(before.as_array().unwrap().len(), 0, "{before:#}");
    let (code, err) = s.get("/api/executions?since=yesterday");
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["error"].as_str().unwrap().contains("since"), "{err}");
}
