//! The model registry and the inference services from the outside (README, "Models and services"): versions
//! that count up and never change, services that split traffic by weight, ask for an app code,
//! pass another service's address through `envs`, come back from a killed model process, move
//! to a new version under load without a failed request, and free everything when stopped
//! (also when the execution deploying them is stopped).
//!
//! Model folders: `tests/fixtures/models/echo` (copied into the test's folder with its own
//! `version.txt`, so each version answers with a letter of its own), and beside it
//! `tests/fixtures/services/`: `relay/` (posts its request to `$UPSTREAM`), `env/` (answers the
//! environment variables it is asked for) and `slow/` (loads for 60 s).
//!
//! Services outlive the `wf` that deployed them, so every test holds the names of its
//! services in a `Services` guard, declared right after its `Test`: when the test ends, also by
//! a failure, the guard runs `wf service stop` and then kills whatever of the test's home is
//! still running.
//!
//! Requests go over one keep-alive HTTP/1.1 connection (`Http`), as a client library would
//! send them, so a failure is the service's, not a new connection's.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::test::{alive, q, step, wait_until, Ran, Runner, Test, MANIFEST_DIR};

// ---------------------------------------------------------------------------------------------
// The guard

/// The services a test deployed (or may have): stopped when the guard drops, whatever the
/// outcome of the test; what still runs of the test's home after that is killed.
struct Services<'a> {
    t: &'a Test,
    names: Vec<String>,
}

impl<'a> Services<'a> {
    fn new(t: &'a Test, names: &[&str]) -> Services<'a> {
        Services {
            t,
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }
}

impl Drop for Services<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            // A panic here (wf panicking) must not abort the test binary mid-unwind.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                self.t.wf(&["service", "stop", name]);
            }));
        }
        kill_leftovers(&self.t.home());
    }
}

/// The last resort: kills, by pid, every process whose command line or working folder is in
/// `home` (a supervisor runs `wf --home HOME`, a model process runs in `HOME/models/...`).
/// Each test has a home of its own, so only this test's processes match.
fn kill_leftovers(home: &Path) {
    let home = home.to_string_lossy().to_string();
    let me = std::process::id();
    let Ok(dir) = fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || !alive(pid) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        if cmdline.contains(&home) || cwd.starts_with(&home) {
            kill_9(pid);
        }
    }
}

fn kill_9(pid: u32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One keep-alive HTTP/1.1 connection to a service's address (reopened after an error).
struct Http {
    host: String,
    headers: Vec<(String, String)>,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client of `address` (`http://127.0.0.1:PORT`).
    fn new(address: &str) -> Http {
        let host = address
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("not an http:// address: {address:?}"))
            .trim_end_matches('/')
            .to_string();
        Http {
            host,
            headers: Vec::new(),
            conn: None,
        }
    }

    fn header(mut self, key: &str, value: &str) -> Http {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// `POST /` with a JSON body: the status and the answer (JSON, or a JSON string holding
    /// the text when it is not JSON); `Err` when no answer came.
    fn post(&mut self, body: &Value) -> Result<(u16, Value), String> {
        let r = self.exchange(&body.to_string());
        if r.is_err() {
            self.conn = None;
        }
        r.map_err(|e| format!("POST http://{}/: {e}", self.host))
    }

    /// `post`, which must answer 200: the answer.
    #[track_caller]
    fn ok(&mut self, body: &Value) -> Value {
        match self.post(body) {
            Ok((200, answer)) => answer,
            other => panic!("expected 200 from http://{}/, got {other:?}", self.host),
        }
    }

    fn exchange(&mut self, body: &str) -> std::io::Result<(u16, Value)> {
        use std::io::{Error, ErrorKind};
        if self.conn.is_none() {
            let addr = self
                .host
                .parse()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().unwrap();
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in &self.headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += "\r\n";
        req += body;
        conn.get_mut().write_all(req.as_bytes())?;

        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the connection closed before an answer",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, format!("status line {line:?}")))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "headers cut short"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
                match k.as_str() {
                    "content-length" => length = v.parse::<usize>().ok(),
                    "transfer-encoding" => chunked = v.contains("chunked"),
                    "connection" => close = v == "close",
                    _ => {}
                }
            }
        }
        let mut bytes = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
                let mut chunk = vec![0; size + 2];
                conn.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(n) = length {
            bytes.resize(n, 0);
            conn.read_exact(&mut bytes)?;
        } else {
            conn.read_to_end(&mut bytes)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        let answer = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).to_string()));
        Ok((status, answer))
    }
}

// ---------------------------------------------------------------------------------------------
// Models

/// A copy of the echo model in the test's folder `rel`, answering with `version`.
fn echo_model(t: &Test, rel: &str, version: &str) -> String {
    copy_model(t, "models/echo", rel);
    t.write(&format!("{rel}/version.txt"), &format!("{version}\n"));
    t.at(rel)
}

/// A copy of the fixture folder `tests/fixtures/FIXTURE` in the test's folder `rel`.
fn copy_model(t: &Test, fixture: &str, rel: &str) -> String {
    let from = Path::new(MANIFEST_DIR).join("tests/fixtures").join(fixture);
    for entry in fs::read_dir(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let text = fs::read_to_string(entry.path()).unwrap();
            t.write(
                &format!("{rel}/{}", entry.file_name().to_string_lossy()),
                &text,
            );
        }
    }
    t.at(rel)
}

/// A workflow registering the folder `-p src=DIR` as the model `-p model=NAME`, at
/// `version` or, without one, at the next version.
fn register_script(version: Option<&str>) -> String {
    let version = version
        .map(|v| format!(", model_version: {}", q(v)))
        .unwrap_or_default();
    format!(
        r#"let src = wf.data.OBSPlaceholder(#{{ name: "src", object_type: "directory" }});
let model = wf.Placeholder(#{{ name: "model", placeholder_type: wf.PlaceholderType.STR }});
let register = wf.steps.ModelStep(#{{
    name: "register",
    inputs: wf.steps.ModelInput(#{{ name: "files", data: src }}),
    outputs: wf.steps.ModelOutput(#{{ name: "model",
        model_config: wf.steps.ModelConfig(#{{ model_name: model, model_type: "Custom"{version} }}) }})
}});
wf.Workflow(#{{ name: "register", desc: "register a model", steps: [register] }})
"#
    )
}

/// Registers the folder `dir` as `model` (at the next version): the run.
#[track_caller]
fn try_register(t: &Test, model: &str, dir: &str, version: Option<&str>) -> Ran {
    let rel = match version {
        Some(v) => format!("register-{v}.rhai"),
        None => "register.rhai".to_string(),
    };
    let script = t.write(&rel, &register_script(version)).at(&rel);
    t.wf(&[
        "run",
        &script,
        "-p",
        &format!("model={model}"),
        "-p",
        &format!("src={dir}"),
        "--json",
    ])
}

/// Registers the folder `dir` as `model` (at the next version), which must work: the record's
/// `outputs.model.model`.
#[track_caller]
fn register(t: &Test, model: &str, dir: &str) -> Value {
    let r = try_register(t, model, dir, None);
    r.status(0);
    let m = r.step("register")["outputs"]["model"]["model"].clone();
    assert!(m.is_object(), "no outputs.model.model: {r:?}");
    m
}

/// The versions of `model` in `wf models --json`, in its order.
#[track_caller]
fn listed_versions(t: &Test, model: &str) -> Vec<String> {
    let r = t.wf(&["models", "--json"]);
    r.status(0);
    r.json
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {r:?}"))
        .iter()
        .filter(|m| m["model_name"] == model)
        .map(|m| m["model_version"].as_str().unwrap_or("?").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Services

/// `[{"model_name": MODEL, "model_version": V, "weight": W}, ...]`, a
/// ServiceInputPlaceholder's value.
fn models_value(model: &str, versions: &[(&str, u32)]) -> String {
    let list: Vec<Value> = versions
        .iter()
        .map(|(v, w)| json!({"model_name": model, "model_version": v, "weight": w}))
        .collect();
    Value::Array(list).to_string()
}

/// A ServiceStep `step` serving the ServiceInputPlaceholder `models` (of `model`), with the
/// ServiceConfig keywords `config` (Rhai, e.g. `service_name: "s"`).
fn service_step(step: &str, model: &str, config: &str) -> String {
    format!(
        r#"let {step} = wf.steps.ServiceStep(#{{
    name: {qstep},
    inputs: wf.steps.ServiceInput(#{{ name: "models",
        data: wf.data.ServiceInputPlaceholder(#{{ name: "{step}_models", model_name: {model} }}) }}),
    outputs: wf.steps.ServiceOutput(#{{ name: "service",
        service_config: wf.steps.ServiceConfig(#{{ {config} }}) }})
}});
"#,
        qstep = q(step),
        model = q(model),
    )
}

/// A workflow `workflow` of the one step `serve` (see `service_step`); its placeholder is
/// `serve_models`.
fn deploy_script(workflow: &str, model: &str, config: &str) -> String {
    format!(
        "{}wf.Workflow(#{{ name: {}, desc: \"deploy a service\", steps: [serve] }})\n",
        service_step("serve", model, config),
        q(workflow)
    )
}

/// Deploys with the script `deploy_script(...)` the versions given: the run, which must end
/// `executed`.
#[track_caller]
fn deploy(t: &Test, workflow: &str, model: &str, config: &str, versions: &[(&str, u32)]) -> Ran {
    let rel = format!("{workflow}.rhai");
    let script = t
        .write(&rel, &deploy_script(workflow, model, config))
        .at(&rel);
    let r = t.wf(&[
        "run",
        &script,
        "-p",
        &format!("serve_models={}", models_value(model, versions)),
        "--json",
    ]);
    r.status(0);
    assert_eq!(r.step_status("serve"), "executed", "{r:?}");
    r
}

/// A workflow updating the running service `-p service=NAME` to the versions of
/// `-p models=[...]` (of `model`), as the reference's "Modifying a Real-Time Service".
fn update_script(model: &str) -> String {
    format!(
        r#"let update = wf.steps.ServiceStep(#{{
    name: "update",
    inputs: [
        wf.steps.ServiceInput(#{{ name: "models",
            data: wf.data.ServiceInputPlaceholder(#{{ name: "models", model_name: {} }}) }}),
        wf.steps.ServiceInput(#{{ name: "service",
            data: wf.data.ServiceUpdatePlaceholder(#{{ name: "service" }}) }})
    ],
    outputs: wf.steps.ServiceOutput(#{{ name: "service" }})
}});
wf.Workflow(#{{ name: "update", desc: "update a service", steps: [update] }})
"#,
        q(model)
    )
}

/// Updates `service` to `versions` of `model`: the run, which must end `executed`.
#[track_caller]
fn update(t: &Test, service: &str, model: &str, versions: &[(&str, u32)]) -> Ran {
    let script = t
        .write("update.rhai", &update_script(model))
        .at("update.rhai");
    let r = t.wf(&[
        "run",
        &script,
        "-p",
        &format!("service={service}"),
        "-p",
        &format!("models={}", models_value(model, versions)),
        "--json",
    ]);
    r.status(0);
    assert_eq!(r.step_status("update"), "executed", "{r:?}");
    r
}

/// `outputs.service.access_address` of the service step `step`.
#[track_caller]
fn address_of(r: &Ran, step: &str) -> String {
    r.step(step)["outputs"]["service"]["access_address"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_address for `{step}`: {r:?}"))
        .to_string()
}

/// `wf service show NAME --json`, which must succeed.
#[track_caller]
fn show(t: &Test, name: &str) -> Value {
    let r = t.wf(&["service", "show", name, "--json"]);
    r.status(0);
    assert!(r.json.is_object(), "not a JSON object: {r:?}");
    r.json
}

/// The entry of `model_version` in a `service show --json`.
#[track_caller]
fn version_of<'a>(shown: &'a Value, model_version: &str) -> &'a Value {
    shown["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["model_version"] == model_version))
        .unwrap_or_else(|| panic!("no version {model_version}: {shown:#}"))
}

/// The pids of a `service show --json`: the supervisor's, then each version's.
fn pids(shown: &Value) -> Vec<u32> {
    let mut all: Vec<u32> = shown["supervisor_pid"]
        .as_u64()
        .map(|p| p as u32)
        .into_iter()
        .collect();
    for v in shown["versions"].as_array().into_iter().flatten() {
        if let Some(p) = v["pid"].as_u64() {
            all.push(p as u32);
        }
    }
    all
}

/// The port of `http://127.0.0.1:PORT`.
fn port_of(address: &str) -> u16 {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {address:?}"))
}

/// `wf service stop NAME`, which must succeed.
#[track_caller]
fn stop(t: &Test, name: &str) {
    t.wf(&["service", "stop", name]).status(0);
}

// ---------------------------------------------------------------------------------------------
// 1. The registry

#[test]
fn versions_count_up_are_copies_and_a_served_version_cannot_be_deleted() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-registry"]);
    let a = echo_model(&t, "a", "A");
    let b = echo_model(&t, "b", "B");

    let first = register(&t, "m", &a);
    assert_eq!(first["model_name"], "m", "{first:#}");
    assert_eq!(first["model_version"], "0.0.1", "{first:#}");
    let second = register(&t, "m", &b);
    assert_eq!(second["model_version"], "0.0.2", "{second:#}");
    assert_eq!(listed_versions(&t, "m"), ["0.0.1", "0.0.2"]);

    // `model show m@0.0.1` names the folder the run recorded, holding copies of the files.
    let shown = t.wf(&["model", "show", "m@0.0.1", "--json"]);
    shown.status(0);
    assert_eq!(shown.json["model_version"], "0.0.1", "{shown:?}");
    let path = shown.json["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no path: {shown:?}"))
        .to_string();
    assert_eq!(Some(path.as_str()), first["path"].as_str(), "{shown:?}");
    assert!(
        Path::new(&path).starts_with(t.home()),
        "the files are not in the home: {path}"
    );
    let files = |dir: &str| {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(&path), ["customize_service.py", "version.txt"]);
    assert_eq!(
        fs::read_to_string(format!("{path}/customize_service.py")).unwrap(),
        fs::read_to_string(format!("{a}/customize_service.py")).unwrap()
    );
    // A copy: the source changing later does not change the registered version.
    t.write("a/version.txt", "changed\n");
    assert_eq!(
        fs::read_to_string(format!("{path}/version.txt")).unwrap(),
        "A\n"
    );
    // Without @VERSION, the latest.
    let latest = t.wf(&["model", "show", "m", "--json"]);
    latest.status(0);
    assert_eq!(latest.json["model_version"], "0.0.2", "{latest:?}");

    // A service serving `latest` (0.0.2) keeps that version from being deleted.
    let r = deploy(
        &t,
        "registry",
        "m",
        r#"service_name: "svc-registry""#,
        &[("latest", 100)],
    );
    let shown = show(&t, "svc-registry");
    assert_eq!(version_of(&shown, "0.0.2")["weight"], 100, "{shown:#}");
    let mut http = Http::new(&address_of(&r, "serve"));
    assert_eq!(http.ok(&json!({"q": 1}))["version"], "B");

    let refused = t.wf(&["model", "delete", "m@0.0.2"]);
    refused.status(1).stderr_contains("svc-registry");
    assert_eq!(listed_versions(&t, "m"), ["0.0.1", "0.0.2"]);
    assert!(Path::new(&second["path"].as_str().unwrap())
        .join("version.txt")
        .is_file());
    assert_eq!(http.ok(&json!({"q": 2}))["version"], "B");

    // A version nothing serves goes, files and all.
    t.wf(&["model", "delete", "m@0.0.1"]).status(0);
    assert_eq!(listed_versions(&t, "m"), ["0.0.2"]);
    assert!(!Path::new(&path).exists(), "{path} is still there");
    t.wf(&["model", "show", "m@0.0.1", "--json"]).status(1);

    // Once the service is stopped, its version may go too.
    stop(&t, "svc-registry");
    t.wf(&["model", "delete", "m@0.0.2"]).status(0);
    assert!(listed_versions(&t, "m").is_empty());
}

#[test]
fn a_given_version_is_registered_once_and_never_changes() {
    let t = Test::new();
    let a = echo_model(&t, "a", "A");
    let b = echo_model(&t, "b", "B");
    let r = try_register(&t, "m", &a, Some("1.2.3"));
    r.status(0);
    let m = &r.step("register")["outputs"]["model"]["model"];
    assert_eq!(m["model_version"], "1.2.3", "{r:?}");
    let path = m["path"].as_str().unwrap().to_string();

    // The same version again is refused; what it holds stays.
    let again = try_register(&t, "m", &b, Some("1.2.3"));
    again.status(1);
    assert_eq!(again.step_status("register"), "failed", "{again:?}");
    assert_eq!(
        fs::read_to_string(format!("{path}/version.txt")).unwrap(),
        "A\n"
    );
    assert_eq!(listed_versions(&t, "m"), ["1.2.3"]);
    // Counting up goes on from the highest version.
    assert_eq!(register(&t, "m", &b)["model_version"], "1.2.4");
}

// ---------------------------------------------------------------------------------------------
// 2. Weights

#[test]
fn two_versions_share_1000_requests_by_their_weights() {
    let t = Test::new();
    // Without `service_name`, the service is named `<workflow>-<step>`.
    let _services = Services::new(&t, &["svc-split-serve"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    register(&t, "m", &echo_model(&t, "b", "B"));
    let r = deploy(&t, "svc-split", "m", "", &[("0.0.1", 70), ("0.0.2", 30)]);
    let address = address_of(&r, "serve");
    assert_eq!(
        r.step("serve")["outputs"]["service"]["service_name"],
        "svc-split-serve",
        "{r:?}"
    );
    let shown = show(&t, "svc-split-serve");
    assert_eq!(shown["status"], "running", "{shown:#}");
    assert_eq!(shown["access_address"], address.as_str(), "{shown:#}");
    assert_eq!(version_of(&shown, "0.0.1")["weight"], 70, "{shown:#}");
    assert_eq!(version_of(&shown, "0.0.2")["weight"], 30, "{shown:#}");

    let mut http = Http::new(&address);
    let (mut a, mut b, mut failed) = (0, 0, Vec::new());
    for i in 0..1000 {
        match http.post(&json!({ "i": i })) {
            Ok((200, answer)) if answer["echo"]["i"] == i => match answer["version"].as_str() {
                Some("A") => a += 1,
                Some("B") => b += 1,
                _ => failed.push(format!("#{i}: {answer}")),
            },
            other => failed.push(format!("#{i}: {other:?}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 1000 requests failed, first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(a + b, 1000);
    assert!(
        (650..=750).contains(&a),
        "version A (weight 70) answered {a} of 1000, B {b}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. App authentication

#[test]
fn apps_make_requests_need_the_app_code() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-apps"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    let r = deploy(
        &t,
        "apps",
        "m",
        r#"service_name: "svc-apps", apps: ["my-app"]"#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let shown = show(&t, "svc-apps");
    let code = shown["app_code"]
        .as_str()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| panic!("no app_code: {shown:#}"))
        .to_string();

    let (status, answer) = Http::new(&address).post(&json!({"q": 1})).unwrap();
    assert_eq!(status, 401, "without the header: {answer}");
    assert!(
        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
        "the 401 carries no JSON error: {answer}"
    );
    let (status, answer) = Http::new(&address)
        .header("X-Apig-AppCode", "not-the-code")
        .post(&json!({"q": 1}))
        .unwrap();
    assert_eq!(status, 401, "with a wrong code: {answer}");

    let mut good = Http::new(&address).header("X-Apig-AppCode", &code);
    let answer = good.ok(&json!({"q": 2}));
    assert_eq!(answer, json!({"echo": {"q": 2}, "version": "A"}));
    // `wf service predict` sends the code itself.
    let p = t.wf(&["service", "predict", "svc-apps", "--data", r#"{"q": 3}"#]);
    p.status(0).stdout_contains(r#""version":"A""#);
}

/// An update that names only new versions keeps what the service was configured with: its
/// app authentication and the environment of its model processes.
#[test]
fn an_update_keeps_the_app_code_and_the_envs() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-keep"]);
    let one = copy_model(&t, "services/env", "one");
    t.write("one/version.txt", "1\n");
    let two = copy_model(&t, "services/env", "two");
    t.write("two/version.txt", "2\n");
    register(&t, "env", &one);
    register(&t, "env", &two);
    let r = deploy(
        &t,
        "keep",
        "env",
        r#"service_name: "svc-keep", apps: "my-app", envs: #{ GREETING: "hello" }"#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let code = show(&t, "svc-keep")["app_code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ask = json!({"names": ["GREETING"]});
    let mut http = Http::new(&address).header("X-Apig-AppCode", &code);
    assert_eq!(
        http.ok(&ask),
        json!({"env": {"GREETING": "hello"}, "version": "1"})
    );

    update(&t, "svc-keep", "env", &[("0.0.2", 100)]);
    let (status, answer) = Http::new(&address).post(&ask).unwrap();
    assert_eq!(
        status, 401,
        "after the update, a request without the app code was answered: {answer}"
    );
    assert_eq!(show(&t, "svc-keep")["app_code"], code.as_str());
    assert_eq!(
        http.ok(&ask),
        json!({"env": {"GREETING": "hello"}, "version": "2"})
    );
}

// ---------------------------------------------------------------------------------------------
// 4. One service's address in another's environment

#[test]
fn a_service_reaches_another_through_its_address_in_envs() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-up", "svc-down"]);
    register(&t, "echo", &echo_model(&t, "up", "UP"));
    register(&t, "relay", &copy_model(&t, "services/relay", "relay"));
    let script = format!(
        "{}{}wf.Workflow(#{{ name: \"chain\", desc: \"two services\", steps: [up, down] }})\n",
        service_step("up", "echo", r#"service_name: "svc-up""#),
        service_step(
            "down",
            "relay",
            r#"service_name: "svc-down",
            envs: #{ UPSTREAM: up.outputs["service"].get_output_variable("access_address") }"#
        ),
    );
    let script = t.write("chain.rhai", &script).at("chain.rhai");
    let r = t.wf(&[
        "run",
        &script,
        "-p",
        &format!("up_models={}", models_value("echo", &[("0.0.1", 100)])),
        "-p",
        &format!("down_models={}", models_value("relay", &[("latest", 100)])),
        "--json",
    ]);
    r.status(0);
    let up = address_of(&r, "up");
    let down = address_of(&r, "down");
    assert_ne!(up, down);

    let answer = Http::new(&down).ok(&json!({"hello": "world"}));
    assert_eq!(
        answer,
        json!({"relayed": {"echo": {"hello": "world"}, "version": "UP"}, "upstream": up}),
        "the relay did not reach the upstream service"
    );
    let listed = t.wf(&["services", "--json"]);
    listed.status(0);
    let running: Vec<&str> = listed
        .json
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {listed:?}"))
        .iter()
        .filter(|s| s["status"] == "running")
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(running, ["svc-down", "svc-up"], "{listed:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. A model process that dies

#[test]
fn a_killed_model_process_is_restarted_and_answers_again() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-restart"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    let r = deploy(
        &t,
        "restart",
        "m",
        r#"service_name: "svc-restart""#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let before = show(&t, "svc-restart");
    let old = version_of(&before, "0.0.1")["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid: {before:#}")) as u32;
    assert!(alive(old));
    assert_eq!(version_of(&before, "0.0.1")["restarts"], 0, "{before:#}");

    kill_9(old);
    let killed = Instant::now();
    let mut now = Value::Null;
    let restarted = wait_until(Duration::from_secs(10), || {
        now = show(&t, "svc-restart");
        let v = version_of(&now, "0.0.1");
        v["status"] == "running"
            && v["pid"].as_u64().is_some_and(|p| p as u32 != old)
            && v["restarts"].as_u64().is_some_and(|n| n >= 1)
    });
    assert!(restarted, "not restarted within 10 s: {now:#}");
    let new = version_of(&now, "0.0.1")["pid"].as_u64().unwrap() as u32;
    assert!(alive(new), "the new model process {new} is not alive");
    assert!(!alive(old));
    // The same address and supervisor, answering again.
    assert_eq!(now["access_address"], address.as_str(), "{now:#}");
    assert_eq!(now["supervisor_pid"], before["supervisor_pid"], "{now:#}");
    assert_eq!(
        Http::new(&address).ok(&json!({"after": "kill"})),
        json!({"echo": {"after": "kill"}, "version": "A"})
    );
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "answering again took {:?}",
        killed.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 6. A gray update under load

#[test]
fn an_update_under_load_fails_no_request_and_ends_on_the_new_version() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-gray"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    register(&t, "m", &echo_model(&t, "b", "B"));
    let r = deploy(
        &t,
        "gray",
        "m",
        r#"service_name: "svc-gray""#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let old_pid = version_of(&show(&t, "svc-gray"), "0.0.1")["pid"]
        .as_u64()
        .unwrap() as u32;

    // Each request: when it was sent, and the version that answered or what went wrong.
    type Log = Vec<(Instant, Result<String, String>)>;
    let log: Arc<Mutex<Log>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let (log, done, address) = (log.clone(), done.clone(), address.clone());
        std::thread::spawn(move || {
            let mut http = Http::new(&address);
            let mut i = 0u64;
            while !done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let got = match http.post(&json!({ "i": i })) {
                    Ok((200, a)) if a["echo"]["i"] == i => a["version"]
                        .as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("no version: {a}")),
                    other => Err(format!("{other:?}")),
                };
                log.lock().unwrap().push((sent, got));
                i += 1;
            }
        })
    };
    let answered = || log.lock().unwrap().len();
    assert!(
        wait_until(Duration::from_secs(10), || answered() >= 50),
        "the load got no answers"
    );

    let started = Instant::now();
    let u = update(&t, "svc-gray", "m", &[("0.0.2", 100)]);
    let updated = Instant::now();
    let seen = answered();
    assert!(
        wait_until(Duration::from_secs(10), || answered() >= seen + 50),
        "the load got no answers after the update"
    );
    done.store(true, Ordering::Relaxed);
    load.join().expect("the load thread");

    let log = log.lock().unwrap();
    let failed: Vec<&String> = log.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the update, first: {:?}",
        failed.len(),
        log.len(),
        &failed[..failed.len().min(5)]
    );
    let versions = |from: Instant, to: Instant| -> Vec<&str> {
        log.iter()
            .filter(|(sent, _)| *sent >= from && *sent < to)
            .map(|(_, r)| r.as_deref().unwrap())
            .collect()
    };
    let before = versions(log[0].0, started);
    assert!(
        before.iter().all(|v| *v == "A"),
        "before the update: {before:?}"
    );
    let after = versions(updated, Instant::now());
    assert!(
        after.len() >= 50,
        "{} requests after the update",
        after.len()
    );
    assert!(
        after.iter().all(|v| *v == "B"),
        "after the update ended, {} of {} answers came from A",
        after.iter().filter(|v| **v == "A").count(),
        after.len()
    );
    eprintln!(
        "gray update: {} requests, {} during the update ({:.1} s)",
        log.len(),
        versions(started, updated).len(),
        (updated - started).as_secs_f64()
    );

    // The address stayed; the old version's process is gone.
    assert_eq!(address_of(&u, "update"), address);
    let shown = show(&t, "svc-gray");
    let served: Vec<&str> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["model_version"].as_str())
        .collect();
    assert_eq!(served, ["0.0.2"], "{shown:#}");
    assert!(
        wait_until(Duration::from_secs(5), || !alive(old_pid)),
        "the process of 0.0.1 ({old_pid}) still runs"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Stopping and starting

#[test]
fn a_stopped_service_frees_its_port_and_processes_and_starts_again() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-stop"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    register(&t, "m", &echo_model(&t, "b", "B"));
    let r = deploy(
        &t,
        "stopping",
        "m",
        r#"service_name: "svc-stop""#,
        &[("0.0.1", 50), ("0.0.2", 50)],
    );
    let address = address_of(&r, "serve");
    let port = port_of(&address);
    let running = show(&t, "svc-stop");
    let processes = pids(&running);
    assert_eq!(
        processes.len(),
        3,
        "a supervisor and two models: {running:#}"
    );
    assert!(processes.iter().all(|p| alive(*p)), "{running:#}");
    Http::new(&address).ok(&json!({"q": 1}));

    stop(&t, "svc-stop");
    let stopped = show(&t, "svc-stop");
    assert_eq!(stopped["status"], "stopped", "{stopped:#}");
    let left: Vec<u32> = processes.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after the stop: {left:?}");
    match TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    ) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("port {port} still accepts connections after the stop"),
    }
    let bound = TcpListener::bind(("127.0.0.1", port));
    assert!(bound.is_ok(), "port {port} is not free: {bound:?}");
    drop(bound);
    t.wf(&["service", "predict", "svc-stop", "--data", "{}"])
        .status(1);

    // Started again: running, answering at its address again.
    t.wf(&["service", "start", "svc-stop"]).status(0);
    let again = show(&t, "svc-stop");
    assert_eq!(again["status"], "running", "{again:#}");
    assert_eq!(again["access_address"], address.as_str(), "{again:#}");
    let answer = Http::new(&address).ok(&json!({"q": 2}));
    assert_eq!(answer["echo"], json!({"q": 2}));
    stop(&t, "svc-stop");
    assert!(pids(&show(&t, "svc-stop")).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8. Stopping the execution while a service deploys

/// Deploys the slow model (`slow/`, loading for 60 s) as `service` in the background and
/// waits until its model process runs: the runner, and the pids of the supervisor and model.
fn deploy_slowly(t: &Test, service: &str) -> (Runner, Vec<u32>) {
    register(t, "slow", &copy_model(t, "services/slow", "slow"));
    let script = deploy_script("slow", "slow", &format!("service_name: {}", q(service)));
    let script = t.write("slow.rhai", &script).at("slow.rhai");
    let runner = t
        .args(&[
            "run",
            &script,
            "-p",
            &format!("serve_models={}", models_value("slow", &[("latest", 100)])),
        ])
        .spawn();
    let mut shown = Value::Null;
    let deploying = wait_until(Duration::from_secs(20), || {
        let r = t.wf(&["service", "show", service, "--json"]);
        shown = r.json;
        r.code == 0 && pids(&shown).len() == 2
    });
    assert!(
        deploying,
        "the model process never started: {shown:#}\n{}",
        runner.stderr()
    );
    assert_ne!(shown["status"], "running", "{shown:#}");
    (runner, pids(&shown))
}

/// What stopping the execution must leave: the run ended 1, recorded `stopped`, the service
/// stopped, its processes gone.
#[track_caller]
fn check_stopped(t: &Test, runner: &mut Runner, service: &str, processes: &[u32]) {
    let code = runner.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "the run did not end 1: {}", runner.stderr());
    let record = t.wf(&["show", "latest", "--json"]);
    record.status(0);
    assert_eq!(record.exec_status(), "stopped", "{record:?}");
    assert_eq!(
        step(&record.json, "serve")["status"],
        "stopped",
        "{record:?}"
    );
    let shown = show(t, service);
    assert_eq!(shown["status"], "stopped", "{shown:#}");
    assert!(
        wait_until(Duration::from_secs(5), || processes
            .iter()
            .all(|p| !alive(*p))),
        "still running: {:?} of {processes:?}",
        processes.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

#[test]
fn wf_stop_while_the_service_deploys_stops_the_service() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-cancel"]);
    let (mut runner, processes) = deploy_slowly(&t, "svc-cancel");
    t.wf(&["stop", "latest"]).status(0);
    check_stopped(&t, &mut runner, "svc-cancel", &processes);
}

#[test]
fn ctrl_c_while_the_service_deploys_stops_the_service() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-interrupt"]);
    let (mut runner, processes) = deploy_slowly(&t, "svc-interrupt");
    runner.signal("INT");
    check_stopped(&t, &mut runner, "svc-interrupt", &processes);
}

// ---------------------------------------------------------------------------------------------
// More of what a user meets

#[test]
fn bad_service_models_are_refused_before_anything_runs() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-refused"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    register(&t, "m", &echo_model(&t, "b", "B"));
    let script = t
        .write(
            "refused.rhai",
            &deploy_script("refused", "m", r#"service_name: "svc-refused""#),
        )
        .at("refused.rhai");
    let run = |value: &str| {
        t.wf(&[
            "run",
            &script,
            "-p",
            &format!("serve_models={value}"),
            "--json",
        ])
    };
    for (value, why) in [
        (models_value("m", &[("0.0.1", 70), ("0.0.2", 20)]), "90"),
        (models_value("other", &[("0.0.1", 100)]), "other"),
        (models_value("m", &[("0.0.1", 50), ("0.0.1", 50)]), "0.0.1"),
    ] {
        run(&value)
            .status(2)
            .stderr_contains("serve_models")
            .stderr_contains(why);
    }
    let none = t.wf(&["executions", "--workflow", "refused", "--json"]);
    none.status(0);
    assert_eq!(none.json, json!([]), "an execution was recorded: {none:?}");

    // A version the registry lacks fails the step, naming the versions there are.
    let r = run(&models_value("m", &[("0.0.9", 100)]));
    r.status(1);
    assert_eq!(r.step_status("serve"), "failed", "{r:?}");
    let error = r.step("serve")["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.contains("0.0.9") && error.contains("0.0.2"),
        "the error names neither the missing nor the existing versions: {r:?}"
    );
    let listed = t.wf(&["services", "--json"]);
    listed.status(0);
    assert!(
        listed
            .json
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["status"] != "running")),
        "{listed:?}"
    );
}

#[test]
fn a_killed_supervisor_shows_and_wf_service_start_brings_the_service_back() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-revive"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    let r = deploy(
        &t,
        "revive",
        "m",
        r#"service_name: "svc-revive""#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let before = show(&t, "svc-revive");
    let old = pids(&before);
    assert_eq!(old.len(), 2, "{before:#}");

    kill_9(old[0]);
    let mut down = Value::Null;
    let seen = wait_until(Duration::from_secs(5), || {
        down = show(&t, "svc-revive");
        down["status"] != "running"
    });
    assert!(seen, "the supervisor was killed, yet: {down:#}");

    t.wf(&["service", "start", "svc-revive"]).status(0);
    let up = show(&t, "svc-revive");
    assert_eq!(up["status"], "running", "{up:#}");
    assert_eq!(up["access_address"], address.as_str(), "{up:#}");
    assert!(
        wait_until(Duration::from_secs(5), || !alive(old[1])),
        "the old model process {} outlived its supervisor and the start",
        old[1]
    );
    assert_eq!(
        Http::new(&address).ok(&json!({"back": true})),
        json!({"echo": {"back": true}, "version": "A"})
    );
}

/// A model that cannot load: the deploy fails soon, saying why, and leaves no process behind
/// restarting it.
#[test]
fn a_model_that_cannot_load_fails_the_deploy_and_leaves_nothing_running() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-unloadable"]);
    register(
        &t,
        "unloadable",
        &copy_model(&t, "services/unloadable", "unloadable"),
    );
    let script = deploy_script(
        "unloadable",
        "unloadable",
        r#"service_name: "svc-unloadable""#,
    );
    let script = t.write("unloadable.rhai", &script).at("unloadable.rhai");
    let mut runner = t
        .args(&[
            "run",
            &script,
            "-p",
            &format!(
                "serve_models={}",
                models_value("unloadable", &[("latest", 100)])
            ),
        ])
        .spawn();
    let code = runner.wait(Duration::from_secs(30));
    let shown = show(&t, "svc-unloadable");
    assert_eq!(
        code,
        Some(1),
        "the deploy of a model that cannot load had not failed after 30 s: {shown:#}"
    );
    let record = t.wf(&["show", "latest", "--json"]);
    let error = step(&record.json, "serve")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("cannot load") || error.contains("unloadable@0.0.1"),
        "the error does not say what failed: {record:?}"
    );
    assert!(
        !matches!(shown["status"].as_str(), Some("running" | "deploying")),
        "{shown:#}"
    );
    let left: Vec<u32> = pids(&shown).into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running: {left:?} {shown:#}");
}

/// The contract's private home reaches the registry and the services: folders 0700, files
/// 0600 (a model's source files are group- and world-writable here).
#[test]
fn the_registry_and_the_services_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new();
    let _services = Services::new(&t, &["svc-private"]);
    let a = echo_model(&t, "a", "A");
    for f in ["customize_service.py", "version.txt"] {
        fs::set_permissions(format!("{a}/{f}"), fs::Permissions::from_mode(0o666)).unwrap();
    }
    register(&t, "m", &a);
    deploy(
        &t,
        "private",
        "m",
        r#"service_name: "svc-private""#,
        &[("0.0.1", 100)],
    );
    let mut open = Vec::new();
    let mut files = 0;
    let mut todo: Vec<std::path::PathBuf> = ["models", "runtime", "services"]
        .iter()
        .map(|d| t.home().join(d))
        .collect();
    while let Some(p) = todo.pop() {
        let meta = fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push(format!("{:o} {}", mode, p.display()));
        }
        if meta.is_dir() {
            todo.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files += 1;
        }
    }
    assert!(
        files >= 4,
        "{files} files under models, runtime and services"
    );
    assert!(open.is_empty(), "open to others:\n{}", open.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Faults: processes known by identity, one supervisor, bounded requests and starts

/// `deploy`, with `env` in the environment of the run (and so of the supervisor it starts).
#[track_caller]
fn deploy_env(t: &Test, service: &str, model: &str, env: &[(&str, &str)]) -> Ran {
    let rel = format!("{service}.rhai");
    let script = deploy_script(service, model, &format!("service_name: {}", q(service)));
    let script = t.write(&rel, &script).at(&rel);
    let mut wf = t.args(&[
        "run",
        &script,
        "-p",
        &format!("serve_models={}", models_value(model, &[("0.0.1", 100)])),
        "--json",
    ]);
    for (k, v) in env {
        wf = wf.env(k, v);
    }
    wf.run()
}

/// The unruly model (`services/unruly`) registered as `model`, its `config.json`'s `serve`
/// replaced by `serve` when given: the folder registered.
fn unruly(t: &Test, model: &str, serve: Option<&str>) -> String {
    let dir = copy_model(t, "services/unruly", model);
    if let Some(serve) = serve {
        t.write(
            &format!("{model}/config.json"),
            &json!({"model_type": "Custom", "serve": serve}).to_string(),
        );
    }
    register(t, model, &dir);
    dir
}

/// The live processes of process group `pgid`.
fn group(pgid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Whether nothing listens on 127.0.0.1:`port` any more.
fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The live supervisors of `service` in `home`.
fn supervisors(home: &Path, service: &str) -> Vec<u32> {
    let home = home.to_string_lossy().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let args: Vec<String> = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .map(|a| String::from_utf8_lossy(a).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let ours = args.contains(&home)
            && args
                .windows(2)
                .any(|w| w[0] == "service-supervisor" && w[1] == service);
        if ours && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// A `sleep` that stands for an unrelated process; killed when dropped.
struct Bystander(std::process::Child);

impl Bystander {
    fn new() -> Bystander {
        Bystander(Command::new("sleep").arg("600").spawn().unwrap())
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes in the records what a reboot (or a kill of everything) leaves: the service still
/// `running`, its pids now naming `supervisor` and `model`, unrelated processes.
fn record_pids(t: &Test, service: &str, supervisor: u32, model: u32) {
    let db = rusqlite::Connection::open(t.home().join("wf.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "UPDATE services SET status = 'running', supervisor_pid = ?2 WHERE name = ?1",
        rusqlite::params![service, supervisor],
    )
    .unwrap();
    db.execute(
        "UPDATE service_versions SET status = 'running', pid = ?2 WHERE service = ?1",
        rusqlite::params![service, model],
    )
    .unwrap();
}

#[test]
fn pids_reused_after_a_reboot_are_neither_trusted_nor_killed() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-reboot"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    let r = deploy(
        &t,
        "reboot",
        "m",
        r#"service_name: "svc-reboot""#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    // A reboot: every process of the service is gone; their pids now name other processes.
    for pid in pids(&show(&t, "svc-reboot")) {
        kill_9(pid);
    }
    assert!(wait_until(Duration::from_secs(5), || port_free(port_of(
        &address
    ))));
    let (sup, model) = (Bystander::new(), Bystander::new());
    record_pids(&t, "svc-reboot", sup.pid(), model.pid());

    let shown = show(&t, "svc-reboot");
    assert_ne!(shown["status"], "running", "{shown:#}");
    assert_ne!(shown["supervisor_pid"], json!(sup.pid()), "{shown:#}");

    // `start` starts a supervisor (the one recorded is not one): running, and answering.
    t.wf(&["service", "start", "svc-reboot"]).status(0);
    assert_eq!(
        Http::new(&address).ok(&json!({"after": "reboot"})),
        json!({"echo": {"after": "reboot"}, "version": "A"})
    );
    let up = show(&t, "svc-reboot");
    assert_eq!(up["status"], "running", "{up:#}");
    assert_ne!(up["supervisor_pid"], json!(sup.pid()), "{up:#}");
    assert!(
        alive(sup.pid()) && alive(model.pid()),
        "a bystander was killed"
    );
    stop(&t, "svc-reboot");

    // `stop` with the pids of unrelated processes recorded leaves them alone.
    record_pids(&t, "svc-reboot", sup.pid(), model.pid());
    stop(&t, "svc-reboot");
    assert_eq!(show(&t, "svc-reboot")["status"], "stopped");
    assert!(
        alive(sup.pid()),
        "`wf service stop` killed the process recorded as the supervisor"
    );
    assert!(
        alive(model.pid()),
        "`wf service stop` killed the process recorded as the model"
    );
}

#[test]
fn concurrent_starts_make_one_supervisor_at_one_address() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-once"]);
    register(&t, "m", &echo_model(&t, "a", "A"));
    let r = deploy(
        &t,
        "once",
        "m",
        r#"service_name: "svc-once""#,
        &[("0.0.1", 100)],
    );
    let address = address_of(&r, "serve");
    let before = show(&t, "svc-once");

    // More supervisors launched for the running service (what racing starts and deploys
    // launch) see the one that runs and end, touching nothing.
    let mut extra: Vec<Runner> = (0..4)
        .map(|i| {
            t.args(&["service-supervisor", "svc-once"])
                .spawn_as(&format!("supervisor{i}"))
        })
        .collect();
    for s in &mut extra {
        assert_eq!(s.wait(Duration::from_secs(20)), Some(0), "{}", s.stderr());
        assert!(s.stderr().contains("already runs"), "{}", s.stderr());
    }
    let running = supervisors(&t.home(), "svc-once");
    assert_eq!(running.len(), 1, "supervisors: {running:?}");
    let now = show(&t, "svc-once");
    assert_eq!(now["supervisor_pid"], before["supervisor_pid"], "{now:#}");
    assert_eq!(pids(&now), pids(&before), "{now:#}");
    assert_eq!(now["access_address"], json!(address), "{now:#}");
    assert_eq!(
        Http::new(&address).ok(&json!({"q": 0}))["echo"],
        json!({"q": 0})
    );

    // Stopped, then started four times at once: one supervisor, one address.
    stop(&t, "svc-once");
    assert!(supervisors(&t.home(), "svc-once").is_empty());
    let mut starts: Vec<Runner> = (0..4)
        .map(|i| {
            t.args(&["service", "start", "svc-once"])
                .spawn_as(&format!("start{i}"))
        })
        .collect();
    let mut said = Vec::new();
    for s in &mut starts {
        assert_eq!(s.wait(Duration::from_secs(60)), Some(0), "{}", s.stderr());
        let text = s.stderr();
        let address = text
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address said: {text}"))
            .to_string();
        said.push(address);
    }
    said.dedup();
    assert_eq!(
        said,
        [address.as_str()],
        "the starts said different addresses"
    );
    let running = supervisors(&t.home(), "svc-once");
    assert_eq!(running.len(), 1, "supervisors: {running:?}");
    let shown = show(&t, "svc-once");
    assert_eq!(shown["supervisor_pid"], json!(running[0]), "{shown:#}");
    assert_eq!(
        Http::new(&address).ok(&json!({"q": 1}))["echo"],
        json!({"q": 1})
    );
}

#[test]
fn a_model_ignoring_sigterm_is_killed_with_its_group_on_restart_and_on_stop() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-stubborn"]);
    // The shell ends on SIGTERM; the server it started in the background ignores it.
    unruly(
        &t,
        "stubborn",
        Some("(trap '' TERM; exec python3 server.py) & wait"),
    );
    let r = deploy(
        &t,
        "stubborn",
        "stubborn",
        r#"service_name: "svc-stubborn""#,
        &[("0.0.1", 100)],
    );
    let mut http = Http::new(&address_of(&r, "serve"));
    let model = |shown: &Value| {
        let v = version_of(shown, "0.0.1");
        (
            v["pid"].as_u64().unwrap_or(0) as u32,
            v["port"].as_u64().unwrap_or(0) as u16,
        )
    };
    let (first, first_port) = model(&show(&t, "svc-stubborn"));
    let first_group = group(first);
    assert!(
        first_group.len() >= 2,
        "the shell and its server: {first_group:?}"
    );

    // Its health fails: it is stopped (all of it, though it ignores SIGTERM) and started again.
    http.ok(&json!({"sick": true}));
    let mut now = Value::Null;
    let restarted = wait_until(Duration::from_secs(40), || {
        now = show(&t, "svc-stubborn");
        let v = version_of(&now, "0.0.1");
        v["status"] == "running" && v["pid"].as_u64().is_some_and(|p| p as u32 != first)
    });
    assert!(restarted, "not started again: {now:#}");
    let left: Vec<u32> = first_group.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "the old model's processes outlived its restart: {left:?}"
    );
    assert!(
        port_free(first_port),
        "the old model's port {first_port} is still taken"
    );
    assert!(http.ok(&json!({"x": [1, 2]}))["sum"] == 3);

    let (second, second_port) = model(&now);
    let second_group = group(second);
    assert!(second_group.len() >= 2, "{second_group:?}");
    stop(&t, "svc-stubborn");
    let left: Vec<u32> = second_group.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "the model's processes outlived the stop: {left:?}"
    );
    assert!(
        port_free(second_port),
        "the model's port {second_port} is still taken"
    );

    // Its supervisor killed, `wf service stop` stops what it left, all of it.
    t.wf(&["service", "start", "svc-stubborn"]).status(0);
    let shown = show(&t, "svc-stubborn");
    let (third, third_port) = model(&shown);
    let third_group = group(third);
    assert!(third_group.len() >= 2, "{third_group:?}");
    kill_9(shown["supervisor_pid"].as_u64().unwrap() as u32);
    assert!(wait_until(Duration::from_secs(5), || supervisors(
        &t.home(),
        "svc-stubborn"
    )
    .is_empty()));
    stop(&t, "svc-stubborn");
    let left: Vec<u32> = third_group.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "what the supervisor left outlived the stop: {left:?}"
    );
    assert!(
        port_free(third_port),
        "the model's port {third_port} is still taken"
    );
}

#[test]
fn a_model_that_never_gets_ready_fails_the_service_after_bounded_attempts() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-never"]);
    // It neither listens nor exits, and ignores SIGTERM.
    unruly(
        &t,
        "never",
        Some("trap '' TERM; echo waiting; exec sleep 600"),
    );
    let r = deploy_env(
        &t,
        "svc-never",
        "never",
        &[("WF_SERVICE_READY_SECONDS", "1")],
    );
    r.status(1);
    let error = r.step("serve")["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.contains("never@0.0.1") && error.contains("/health"),
        "the error does not say why: {r:?}"
    );
    let shown = show(&t, "svc-never");
    assert_eq!(shown["status"], "failed", "{shown:#}");
    let reason = shown["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("did not answer /health within 1 s")
            && reason.contains("3 times")
            && reason.contains("waiting"),
        "the reason names neither the limit, the attempts nor the log: {shown:#}"
    );
    assert_eq!(version_of(&shown, "0.0.1")["status"], "failed", "{shown:#}");
    let text = t.wf(&["service", "show", "svc-never"]);
    text.status(0)
        .stdout_contains("failed")
        .stdout_contains("did not answer /health");
    // Nothing is left running nor trying again.
    assert!(
        wait_until(Duration::from_secs(10), || supervisors(
            &t.home(),
            "svc-never"
        )
        .is_empty()),
        "its supervisor still runs"
    );
    let home = t.home().to_string_lossy().to_string();
    let sleeping: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|p| {
            alive(*p)
                && fs::read_link(format!("/proc/{p}/cwd"))
                    .is_ok_and(|c| c.to_string_lossy().starts_with(&home))
        })
        .collect();
    assert!(
        sleeping.is_empty(),
        "still running in the home: {sleeping:?}"
    );
}

/// The status and the body of one request to `address` that declares `length` bytes of body
/// and sends none: a proxy that refuses it answers without waiting for the body.
fn declare_body(address: &str, length: usize) -> (u16, Value) {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    .unwrap();
    read_answer(s)
}

/// The status and the body of one request to `address` whose body of `length` bytes is sent
/// in chunks, with no length declared.
fn send_chunked(address: &str, length: usize) -> (u16, Value) {
    let host = address.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < length {
        let n = chunk.len().min(length - sent);
        write!(s, "{n:x}\r\n").unwrap();
        s.write_all(&chunk[..n]).unwrap();
        s.write_all(b"\r\n").unwrap();
        sent += n;
    }
    s.write_all(b"0\r\n\r\n").unwrap();
    read_answer(s)
}

fn read_answer(s: TcpStream) -> (u16, Value) {
    let mut conn = BufReader::new(s);
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {line:?}"));
    let mut n = 0;
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            n = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; n];
    conn.read_exact(&mut body).unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn requests_and_answers_over_the_size_limits_are_refused_with_json() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-sizes"]);
    unruly(&t, "sizes", None);
    let r = deploy_env(
        &t,
        "svc-sizes",
        "sizes",
        &[
            ("WF_SERVICE_MAX_REQUEST_MB", "1"),
            ("WF_SERVICE_MAX_ANSWER_MB", "1"),
        ],
    );
    r.status(0);
    let address = address_of(&r, "serve");
    let mut http = Http::new(&address);

    // Declared larger than 1 MiB: refused before it is read.
    let (status, body) = declare_body(&address, 1_500 * 1024 * 1024);
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("1 MiB")),
        "{body}"
    );
    // Sent whole, over the limit: refused too; under it, answered.
    let big = json!({"x": [1], "pad": "y".repeat(1_100_000)});
    let (status, body) = http.post(&big).unwrap();
    assert_eq!(status, 413, "{body}");
    let (status, body) = send_chunked(&address, 3 * 1024 * 1024);
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("1 MiB")),
        "{body}"
    );
    let fits = json!({"x": [1, 2], "pad": "y".repeat(900_000)});
    assert_eq!(Http::new(&address).ok(&fits)["sum"], 3);

    // An answer larger than 1 MiB is not passed on: 502, saying why.
    let (status, body) = Http::new(&address)
        .post(&json!({"big": 2_000_000}))
        .unwrap();
    assert_eq!(status, 502, "{body}");
    let error = body["error"].as_str().unwrap_or("");
    assert!(
        error.contains("sizes@0.0.1") && error.contains("1 MiB"),
        "{body}"
    );
    let (status, _) = Http::new(&address).post(&json!({"big": 500_000})).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_model_that_hangs_on_a_request_gets_it_answered_504_while_others_are_served() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-hang"]);
    unruly(&t, "hang", None);
    let r = deploy_env(
        &t,
        "svc-hang",
        "hang",
        &[("WF_SERVICE_TIMEOUT_SECONDS", "2")],
    );
    r.status(0);
    let address = address_of(&r, "serve");

    let hung = {
        let address = address.clone();
        std::thread::spawn(move || {
            let asked = Instant::now();
            let answer = Http::new(&address).post(&json!({"hang": true}));
            (answer, asked.elapsed())
        })
    };
    // Meanwhile, other requests are answered.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(Http::new(&address).ok(&json!({"x": [2, 3]}))["sum"], 5);
    let (answer, took) = hung.join().unwrap();
    let (status, body) = answer.unwrap_or_else(|e| panic!("no answer to the hung request: {e}"));
    assert_eq!(status, 504, "{body}");
    let error = body["error"].as_str().unwrap_or("");
    assert!(
        error.contains("hang@0.0.1") && error.contains("2 s"),
        "{body}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "answered 504 after only {took:?}"
    );
    // The model is still healthy; the service still runs and answers.
    let shown = show(&t, "svc-hang");
    assert_eq!(shown["status"], "running", "{shown:#}");
    assert_eq!(Http::new(&address).ok(&json!({"x": [1]}))["sum"], 1);
}

#[test]
fn a_model_writing_into_its_folder_leaves_the_registered_version_unchanged() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-writes"]);
    unruly(&t, "writes", None);
    let r = deploy_env(&t, "svc-writes", "writes", &[]);
    r.status(0);
    let shown = t.wf(&["model", "show", "writes@0.0.1", "--json"]);
    shown.status(0);
    let registered = Path::new(shown.json["path"].as_str().unwrap()).join("state.txt");
    // It appended `started` to the state.txt of the folder it runs in, not the registry's.
    assert_eq!(fs::read_to_string(&registered).unwrap(), "registered\n");
    let pid = version_of(&show(&t, "svc-writes"), "0.0.1")["pid"]
        .as_u64()
        .unwrap();
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(
        fs::read_to_string(cwd.join("state.txt")).unwrap(),
        "registered\nstarted\n"
    );
    // Started again, it starts from the registered files again; stopped, its copy is gone.
    stop(&t, "svc-writes");
    assert!(!cwd.exists(), "{} outlived the stop", cwd.display());
    t.wf(&["service", "start", "svc-writes"]).status(0);
    let pid = version_of(&show(&t, "svc-writes"), "0.0.1")["pid"]
        .as_u64()
        .unwrap();
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(
        fs::read_to_string(cwd.join("state.txt")).unwrap(),
        "registered\nstarted\n"
    );
    assert_eq!(fs::read_to_string(&registered).unwrap(), "registered\n");
}

#[test]
fn a_limit_that_is_not_a_number_fails_the_deploy_naming_it() {
    let t = Test::new();
    let _services = Services::new(&t, &["svc-badlimit"]);
    unruly(&t, "badlimit", None);
    let r = deploy_env(
        &t,
        "svc-badlimit",
        "badlimit",
        &[("WF_SERVICE_TIMEOUT_SECONDS", "soon")],
    );
    r.status(1);
    let error = r.step("serve")["error"].as_str().unwrap_or("").to_string();
    assert!(
        error.contains("WF_SERVICE_TIMEOUT_SECONDS is `soon`"),
        "the error does not name the variable: {r:?}"
    );
    let shown = show(&t, "svc-badlimit");
    assert_eq!(shown["status"], "failed", "{shown:#}");
    assert!(shown["reason"]
        .as_str()
        .is_some_and(|r| r.contains("WF_SERVICE_TIMEOUT_SECONDS")));
}
