//! `wf serve`: the REST API and its server-sent events (README, "The running state"), driven over HTTP
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
    /// The home's API token, which every request needs.
    pub(crate) token: String,
    pub(crate) port: u16,
}

/// The home's API token (made on first use), as `wf serve --show-token` prints it.
pub(crate) fn token_of(t: &Test) -> String {
    let shown = t.wf(&["serve", "--show-token"]);
    shown.status(0);
    shown.stdout.trim().to_string()
}

impl Server {
    pub(crate) fn start(t: &Test) -> Server {
        Server::start_at(t, "127.0.0.1", &[])
    }

    /// Bound to `host:PORT` with `more` arguments, asked at 127.0.0.1.
    #[track_caller]
    pub(crate) fn start_at(t: &Test, host: &str, more: &[&str]) -> Server {
        let token = token_of(t);
        let port = free_port();
        let bind = format!("{host}:{port}");
        let mut args = vec!["serve", "--bind", &bind];
        args.extend_from_slice(more);
        let runner = t.args(&args).spawn();
        let s = Server {
            runner,
            base: format!("http://127.0.0.1:{port}"),
            http: client(),
            token,
            port,
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

    pub(crate) fn runner_stderr(&self) -> String {
        self.runner.stderr()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The address a browser opens once to be let in: `/?token=TOKEN`, then `path`'s fragment
    /// (`/#/executions/ID`), which the redirect to `/` keeps.
    pub(crate) fn login(&self, path: &str) -> String {
        let fragment = path.trim_start_matches('/');
        self.url(&format!("/?token={}{fragment}", self.token))
    }

    fn auth(&self, r: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        r.header("Authorization", format!("Bearer {}", self.token))
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
        .auth(s.http.put(s.url("/api/workflows/orig_copy/config")))
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = s
        .auth(s.http.put(s.url("/api/workflows/orig_copy/config")))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("\"error\""));
    // No CORS: nothing lets a page elsewhere read or act.
    let r = s
        .auth(s.http.post(s.url("/api/workflows/orig_copy/copy")))
        .header("Origin", "http://example.com")
        .send()
        .unwrap();
    assert_ne!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn bound_beyond_loopback_every_request_needs_the_token() {
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

    let s = Server::start_at(&t, "0.0.0.0", &[]);
    assert_eq!(s.token, token);
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
    // Its job outlived the server: the new one re-attaches to it, never starting it again.
    assert_eq!(
        t.count("sleepy.count"),
        1,
        "the running step was started twice"
    );
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

#[test]
fn on_loopback_too_every_request_needs_the_token() {
    let t = Test::new();
    release_one(&t, "guarded", "echo hi");
    let s = Server::start(&t);
    let token = s.token.clone();
    // The start-up lines give the console's address with the token, to open once.
    let console = format!("the console: http://127.0.0.1:{}/?token={token}", s.port);
    assert!(
        s.runner.stderr().contains(&console),
        "no `{console}` in: {}",
        s.runner.stderr()
    );
    let bare = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/api/workflows",
        "/api/executions",
        "/api/events",
        "/",
        "/console/app.js",
    ] {
        let r = bare.get(s.url(path)).send().unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without the token"
        );
        let (_, v) = answer(r);
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("token")),
            "{path}: {v}"
        );
    }
    let (code, v) = s.get("/api/workflows");
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v[0]["name"], "guarded");
    // Nothing is started without it either.
    let r = bare
        .post(s.url("/api/workflows/guarded/executions"))
        .json(&json!({ "parameters": { "who": "x" } }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, runs) = s.get("/api/executions");
    assert_eq!(runs, json!([]), "started without the token");
    // The CLI acts on the records directly and needs no token.
    t.wf(&["workflows"]).status(0).stdout_contains("guarded");

    // The token in the address is given once: twice, whichever comes first, it is refused.
    for query in [
        format!("token={token}&token=evil"),
        format!("token=evil&token={token}"),
        format!("token={token}&token={token}"),
    ] {
        let r = bare.get(s.url(&format!("/?{query}"))).send().unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "/?{query}");
        assert!(r.headers().get("set-cookie").is_none(), "/?{query}");
    }
    let r = bare.get(s.url(&format!("/?token={token}"))).send().unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with(&format!("wf_token={token};")),
        "{cookie}"
    );
    let pair = format!("wf_token={token}");
    // A wrong token in the address is refused even beside the right cookie (it would replace it).
    let r = bare
        .get(s.url("/?token=evil"))
        .header("Cookie", &pair)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());

    // A browser's Origin must be this server's own, scheme included.
    let own = format!("http://127.0.0.1:{}", s.port);
    for origin in [
        format!("https://127.0.0.1:{}", s.port),
        format!("http://127.0.0.1:{}", s.port + 1),
        "http://example.com".to_string(),
        "null".to_string(),
    ] {
        let r = bare
            .get(s.url("/api/workflows"))
            .header("Cookie", &pair)
            .header("Origin", &origin)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "Origin: {origin}");
    }
    let r = bare
        .get(s.url("/api/workflows"))
        .header("Cookie", &pair)
        .header("Origin", &own)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "Origin: {own}");
}

#[test]
fn a_home_others_could_change_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let set_mode = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let t = Test::new();
    let token = token_of(&t);
    release_one(&t, "mine", "true");
    t.wf(&["workflows"]).status(0).stdout_contains("mine");
    let home = t.home();
    let shown = home.display().to_string();

    // A home anyone may write: another user could have put their own token there.
    set_mode(&home, 0o777);
    for args in [
        &["executions"][..],
        &["serve", "--show-token"],
        &["workflows"],
    ] {
        let r = t.wf(args);
        r.status(1)
            .stderr_contains("can be written by other users (mode 0777)")
            .stderr_contains(&format!("`chmod 700 {shown}`"));
        assert!(!r.stdout.contains(&token), "{r:?}");
    }
    set_mode(&home, 0o770);
    t.wf(&["executions"]).status(1).stderr_contains("chmod 700");
    set_mode(&home, 0o700);
    t.wf(&["workflows"]).status(0).stdout_contains("mine");

    // Its token and records likewise.
    let api_token = home.join("api-token");
    set_mode(&api_token, 0o666);
    let r = t.wf(&["serve", "--show-token"]);
    r.status(1)
        .stderr_contains(&format!("`chmod 600 {}`", api_token.display()));
    assert!(!r.stdout.contains(&token), "{r:?}");
    set_mode(&api_token, 0o600);
    assert_eq!(token_of(&t), token);
    let db = home.join("wf.db");
    set_mode(&db, 0o622);
    t.wf(&["executions"])
        .status(1)
        .stderr_contains(&format!("`chmod 600 {}`", db.display()));
    set_mode(&db, 0o600);
    t.wf(&["workflows"]).status(0).stdout_contains("mine");

    // A home another user owns (this needs root to set up).
    let nobody = 65534;
    let chowned = std::process::Command::new("chown")
        .arg(nobody.to_string())
        .arg(&home)
        .status()
        .is_ok_and(|s| s.success());
    if chowned {
        t.wf(&["executions"])
            .status(1)
            .stderr_contains("belongs to another user (uid 65534)");
        t.wf(&["serve", "--show-token"])
            .status(1)
            .stderr_contains("belongs to another user");
        // SAFETY: geteuid only reads the process's credentials.
        let me = unsafe { libc::geteuid() };
        std::process::Command::new("chown")
            .arg(me.to_string())
            .arg(&home)
            .status()
            .unwrap();
    } else {
        crate::tools::skip(
            crate::tools::Tool::Root,
            "its last part needs a home another user owns, and only root can make one",
        );
    }
}

#[test]
fn a_silent_client_is_disconnected_while_an_event_stream_lives_on() {
    use std::io::{Read, Write};
    use std::time::Instant;
    let t = Test::new();
    release_one(&t, "later", "echo \"later $WF_PARAM_WHO\"");
    let s = Server::start(&t);
    let events = s.events("");
    let began = Instant::now();
    // One connects and sends nothing; one sends half a request; one is done with its request
    // and keeps the connection open without another.
    let silent = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut half = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half.write_all(b"GET /api/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        idle,
        "GET /api/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        s.token
    )
    .unwrap();
    let closed = |mut c: std::net::TcpStream, what: &'static str| {
        std::thread::spawn(move || {
            c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            let mut got = Vec::new();
            // Closed (or reset) by the server, not given up by this read.
            let end = c.read_to_end(&mut got);
            assert!(
                !end.as_ref().is_err_and(|e| matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )),
                "{what}: not closed by the server within 60 s: {end:?}"
            );
            (began.elapsed(), String::from_utf8_lossy(&got).to_string())
        })
    };
    let ends = [
        closed(silent, "a client sending nothing"),
        closed(half, "a client sending half a request"),
        closed(idle, "an idle kept-alive client"),
    ];
    let ends: Vec<(Duration, String)> = ends.into_iter().map(|h| h.join().unwrap()).collect();
    for (took, _) in &ends {
        assert!(
            *took < Duration::from_secs(30),
            "closed after {took:?}: {ends:?}"
        );
    }
    assert!(ends[2].1.starts_with("HTTP/1.1 200"), "{:?}", ends[2].1);
    // The event stream, as silent as those, still gets what happens.
    let (code, r) = s.post(
        "/api/workflows/later/executions",
        json!({ "parameters": { "who": "x" }, "storages": { "out": t.at("root") } }),
    );
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let id = id_of(&r);
    assert!(
        wait_until(Duration::from_secs(20), || events
            .of(&id)
            .contains(&("-".into(), "executed".into()))),
        "the event stream did not get the execution's end: {:?}",
        events.all()
    );
}

#[test]
fn copies_made_at_the_same_time_get_names_of_their_own() {
    let t = Test::new();
    release_one(&t, "orig", "echo hi");
    let s = Arc::new(Server::start(&t));
    let answers: Vec<(StatusCode, Value)> = (0..20)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.post("/api/workflows/orig/copy", json!({})))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let mut names = Vec::new();
    for (code, v) in &answers {
        assert!(
            *code == StatusCode::CREATED || *code == StatusCode::CONFLICT,
            "{code}: {v}"
        );
        if *code == StatusCode::CREATED {
            names.push(v["name"].as_str().unwrap().to_string());
        }
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(names.contains(&"orig_copy".to_string()), "{names:?}");
    let (_, list) = s.get("/api/workflows");
    assert_eq!(list.as_array().unwrap().len(), 1 + names.len(), "{list:#}");
    for n in &names {
        assert_eq!(
            s.get(&format!("/api/workflows/{n}")).0,
            StatusCode::OK,
            "{n}"
        );
    }
}

#[test]
fn a_configuration_is_checked_field_by_field_as_the_cli_checks_it() {
    let t = Test::new();
    release_one(&t, "checked", "echo \"hi $WF_PARAM_WHO\"");
    let s = Server::start(&t);
    let refused = |body: Value, field: &str| {
        let (code, err) = s.put("/api/workflows/checked/config", body.clone());
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body} was kept: {err}");
        let msg = err["error"].as_str().unwrap_or("");
        assert!(msg.contains(field), "{body}: `{field}` not named in {msg}");
    };
    refused(
        json!({ "notifications": [{ "url": "file:///etc/passwd" }] }),
        "notifications[0].url",
    );
    refused(
        json!({ "notifications": [{ "url": "http://" }] }),
        "notifications[0].url",
    );
    refused(
        json!({ "notifications": [{ "url": "http://127.0.0.1:9/h" }, { "url": "http://127.0.0.1:9/h", "events": ["done"] }] }),
        "notifications[1].events",
    );
    refused(
        json!({ "notifications": [{ "url": "http://127.0.0.1:9/h", "events": "executed,bogus" }] }),
        "`bogus` is not an event",
    );
    refused(
        json!({ "notifications": [{ "url": "http://127.0.0.1:9/h", "colour": 1 }] }),
        "notifications[0]",
    );
    refused(json!({ "tags": ["ok", "bell\u{7}"] }), "tags");
    refused(json!({ "tags": [""] }), "tags");
    refused(
        json!({ "flavors": { "ghost": "cpu.small" } }),
        "flavors.ghost",
    );
    refused(json!({ "flavors": { "a": "no-such-flavor" } }), "flavors.a");
    refused(json!({ "flavors": { "a": "nopool:cpu" } }), "flavors.a");
    refused(json!({ "scene": "nope" }), "scene");
    // Nothing refused was kept: a start still runs.
    let (_, shown) = s.get("/api/workflows/checked");
    assert_eq!(shown["configuration"], json!({}), "{shown:#}");
    let (code, cfg) = s.put(
        "/api/workflows/checked/config",
        json!({
            "parameters": { "who": "ok" },
            "storages": { "out": t.at("root") },
            "flavors": { "a": "cpu.small" },
            "tags": ["fine tag"],
            "notifications": [{ "url": "http://127.0.0.1:9/hook", "events": ["executed"], "secret": "s" }],
        }),
    );
    assert_eq!(code, StatusCode::OK, "{cfg}");
    let (code, r) = s.post("/api/workflows/checked/executions", json!({}));
    assert_eq!(code, StatusCode::CREATED, "{r}");
    s.wait_status(&id_of(&r), "executed");
}
