//! ServiceStep: deploys (or updates) a local real-time inference service (`crate::services`)
//! and ends once every version answers its health check; the service outlives the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::args::{self, text};
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, StepError, Work};
use crate::model::spec::{DataObj, ServiceSpec as ServiceStepSpec, StepSpec};
use crate::model::val::Val;
use crate::model::workflow::Step;
use crate::services::{self, ServiceSpec, VersionSpec};
use crate::store::Store;

pub struct ServiceBackend;

/// Fields of `ServiceConfig` that only mean something on the cloud.
const CLOUD_ONLY: &[&str] = &[
    "vpc_id",
    "subnet_network_id",
    "security_group_id",
    "cluster_id",
    "additional_properties",
];

/// A map of environment variables, each value resolved (an output variable of another
/// service becomes its address).
fn envs(ctx: &PlanCtx, v: Option<&Val>, out: &mut Vec<(String, String)>) -> Result<(), StepError> {
    if let Some(Val::Map(m)) = v {
        for (k, x) in m {
            let t = ctx.values.text(x).map_err(|e| format!("env `{k}`: {e}"))?;
            out.retain(|(n, _)| n != k);
            out.push((k.clone(), t));
        }
    }
    Ok(())
}

struct ServiceWork {
    home: PathBuf,
    spec: ServiceSpec,
    outputs: Vec<String>,
    notes: Vec<String>,
}

impl Backend for ServiceBackend {
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let spec = match args::spec(step)? {
            StepSpec::Service(s) => s,
            other => return Err(args::wrong_kind(step, other).into()),
        };
        let cfg = spec.config.as_ref();
        let infer_type = match cfg {
            Some(c) => text(ctx, &c.infer_type)?.unwrap_or_else(|| "real-time".into()),
            None => "real-time".into(),
        };
        match infer_type.as_str() {
            "real-time" => {}
            "edge" => return Err("`infer_type: \"edge\"` deploys to edge devices, which need ModelArts; here a service is `real-time`".into()),
            "batch" => return plan_batch(step, spec, ctx),
            other => return Err(format!("`infer_type` is `{other}`: it takes real-time, batch or edge").into()),
        }
        let store = Store::open(ctx.home()).map_err(|e| e.to_string())?;
        let mut versions: Vec<VersionSpec> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut update_of: Option<String> = None;
        let mut inputs = Map::new();
        for i in &spec.inputs {
            let data = ctx.values.value(&i.data)?;
            let service_data = match &data {
                Val::Obj(d) => match DataObj::from(&**d) {
                    DataObj::ServiceData { service_id } => Some(service_id),
                    _ => None,
                },
                _ => None,
            };
            match (&data, service_data) {
                (_, Some(service_id)) => {
                    let id = text(ctx, &service_id)?.ok_or("a ServiceData without `service_id`")?;
                    inputs.insert(i.name.clone(), json!({ "service": id }));
                    update_of = Some(id);
                }
                (Val::List(items), None) => {
                    for item in items {
                        let Val::Map(m) = item else {
                            return Err(format!("input `{}`: a model entry is not an object", i.name).into());
                        };
                        let get = |k: &str| m.get(k).and_then(Val::as_str).map(String::from);
                        let name = get("model_name").ok_or("a model entry without `model_name`")?;
                        let asked = get("model_version");
                        // `latest` (or none): the newest version registered when it deploys.
                        let version = match asked.as_deref() {
                            None | Some("latest") => None,
                            Some(v) => Some(v),
                        };
                        let m2 = crate::models::get(&store, &name, version).map_err(|e| e.to_string())?;
                        let weight = match m.get("weight") {
                            Some(Val::Int(w)) => *w as u32,
                            _ => 100,
                        };
                        envs(ctx, m.get("envs"), &mut env)?;
                        versions.push(VersionSpec {
                            model_name: m2.name,
                            model_version: m2.version,
                            weight,
                        });
                    }
                    inputs.insert(
                        i.name.clone(),
                        json!(versions
                            .iter()
                            .map(|v| json!({"model_name": v.model_name, "model_version": v.model_version, "weight": v.weight}))
                            .collect::<Vec<_>>()),
                    );
                }
                (other, None) => {
                    return Err(format!(
                        "input `{}` is {}; a service takes a ServiceInputPlaceholder's models or a ServiceData",
                        i.name,
                        other.describe()
                    ).into())
                }
            }
        }
        let mut config = Map::new();
        let mut notes = Vec::new();
        let mut apps = false;
        if let Some(c) = cfg {
            for (k, v) in &c.fields {
                let j = ctx.values.json(v)?;
                if CLOUD_ONLY.contains(k) && !j.is_null() {
                    notes.push((*k).to_string());
                }
                if *k == "apps" {
                    apps = match &j {
                        Value::Null => false,
                        Value::String(s) => !s.is_empty(),
                        Value::Array(a) => !a.is_empty(),
                        _ => true,
                    };
                }
                config.insert(k.to_string(), j);
            }
            envs(ctx, c.envs.as_ref(), &mut env)?;
        }
        // Health checks follow the step's poll interval.
        if let Some(poll) = &spec.poll_interval {
            if let Some(t) = text(ctx, poll)? {
                let secs: f64 = t
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or_else(|| {
                        format!("`poll_interval_seconds` is `{t}`, not a number of seconds above 0")
                    })?;
                config.insert("poll_interval_seconds".into(), json!(secs));
            }
        }
        let name = match (
            &cfg.map(|c| text(ctx, &c.service_name))
                .transpose()?
                .flatten(),
            &update_of,
        ) {
            (_, Some(id)) => id.clone(),
            (Some(n), None) => n.clone(),
            (None, None) => {
                let n = format!("{}-{}", ctx.workflow.name, step.name);
                n.chars().take(64).collect()
            }
        };
        services::check_name(&name)?;
        if versions.is_empty() {
            match &update_of {
                // An update that names no models keeps the service's versions.
                Some(id) => {
                    services::require(&store, id).map_err(|e| e.to_string())?;
                    versions = services::versions(&store, id)
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .filter(|v| v.weight > 0)
                        .map(|v| VersionSpec {
                            model_name: v.model_name,
                            model_version: v.model_version,
                            weight: v.weight,
                        })
                        .collect();
                }
                None => return Err("the service has no models: give a ServiceInputPlaceholder's value (`-p NAME='[{\"model_name\": ..., \"model_version\": ...}]'`)".into()),
            }
        } else if let Some(id) = &update_of {
            services::require(&store, id).map_err(|e| e.to_string())?;
        }
        Ok(Plan {
            inputs,
            flavor: None,
            work: Arc::new(ServiceWork {
                home: ctx.home().to_path_buf(),
                spec: ServiceSpec {
                    name,
                    versions,
                    envs: env,
                    apps,
                    config: Value::Object(config),
                    made_by: Some(format!("{}/{}", ctx.exec_id(), step.name)),
                    keep_config: update_of.is_some() && cfg.is_none(),
                },
                outputs: spec.outputs.clone(),
                notes,
            }),
        })
    }
}

impl Work for ServiceWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let cancel = attempt.cancel.clone();
            let work = self.clone();
            let deployed =
                tokio::task::spawn_blocking(move || work.deploy(&|| cancel.is_cancelled())).await;
            match deployed {
                Ok(Ok(end)) => end,
                Ok(Err(e)) if attempt.cancel.is_cancelled() => {
                    // Stopping the execution while the step runs stops the service.
                    let home = self.home.clone();
                    let name = self.spec.name.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        Store::open(&home).map(|s| services::stop(&s, &name))
                    })
                    .await;
                    let _ = e;
                    StepEnd::Stopped
                }
                Ok(Err(e)) => e.into(),
                Err(e) => StepEnd::Failed(format!("the service failed to deploy: {e}")),
            }
        })
    }
}

impl ServiceWork {
    fn deploy(&self, cancelled: &dyn Fn() -> bool) -> Result<StepEnd, StepError> {
        let store = Store::open(&self.home).map_err(|e| e.to_string())?;
        services::deploy(&store, &self.spec).map_err(|e| e.to_string())?;
        services::ensure_supervisor(&store, &self.spec.name).map_err(|e| e.to_string())?;
        drop(store);
        let row = services::wait_running(
            &self.home,
            &self.spec.name,
            Duration::from_secs(120),
            cancelled,
        )
        .map_err(|e| e.to_string())?;
        let address = row.address().unwrap_or_default();
        let outputs: IndexMap<String, Value> = self
            .outputs
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    json!({
                        "access_address": address,
                        "cluster_inner_access_address": address,
                        "service_name": self.spec.name,
                    }),
                )
            })
            .collect();
        let mut note = format!(
            "service `{}` at {address} ({})",
            self.spec.name,
            self.spec
                .versions
                .iter()
                .map(|v| format!("{}@{} {}%", v.model_name, v.model_version, v.weight))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !self.notes.is_empty() {
            note.push_str(&format!(
                "; {} kept, no local effect",
                self.notes.join(", ")
            ));
        }
        let mut detail = Map::new();
        detail.insert("service".into(), json!(self.spec.name));
        Ok(StepEnd::Executed {
            outputs,
            metrics: IndexMap::new(),
            detail,
            note: Some(note),
        })
    }
}

/// `infer_type: "batch"`: the model runs over the samples of a folder or dataset
/// (`additional_properties.src_path`: a folder, or `NAME[@VERSION]` of a dataset) and writes
/// one answer per sample into `additional_properties.dest_path`, then stops.
fn plan_batch(step: &Step, spec: &ServiceStepSpec, ctx: &PlanCtx) -> Result<Plan, StepError> {
    let cfg = spec.config.as_ref();
    let props = match cfg.and_then(|c| c.additional_properties.as_ref()) {
        Some(v) => ctx.values.json(v)?,
        None => Value::Null,
    };
    let field = |k: &str| props.get(k).and_then(Value::as_str).map(String::from);
    let (Some(src), Some(dest)) = (field("src_path"), field("dest_path")) else {
        return Err("a batch service needs `additional_properties: #{ src_path: FOLDER or DATASET, dest_path: FOLDER }` in its ServiceConfig".into());
    };
    let store = Store::open(ctx.home()).map_err(|e| e.to_string())?;
    let src_dir = ctx.values.local_path(&src);
    let source = if src_dir.exists() {
        src_dir
    } else {
        let r = crate::datasets::DataRef::from_text(&src)?;
        crate::datasets::job_folder(&store, &r).map_err(|e| format!("`src_path`: {e}"))?
    };
    let dest = ctx.values.local_path(&dest);
    let mut model = None;
    let mut envs_: Vec<(String, String)> = Vec::new();
    for i in &spec.inputs {
        if let Val::List(items) = ctx.values.value(&i.data)? {
            if let Some(Val::Map(m)) = items.first() {
                let name = m
                    .get("model_name")
                    .and_then(Val::as_str)
                    .unwrap_or("")
                    .to_string();
                let version = m
                    .get("model_version")
                    .and_then(Val::as_str)
                    .filter(|v| *v != "latest");
                model =
                    Some(crate::models::get(&store, &name, version).map_err(|e| e.to_string())?);
                envs(ctx, m.get("envs"), &mut envs_)?;
            }
        }
    }
    let model =
        model.ok_or("a batch service needs a model: give the ServiceInputPlaceholder's value")?;
    if let Some(c) = cfg {
        envs(ctx, c.envs.as_ref(), &mut envs_)?;
    }
    let mut inputs = Map::new();
    inputs.insert("src_path".into(), json!(source.to_string_lossy()));
    inputs.insert(
        "model".into(),
        json!(format!("{}@{}", model.name, model.version)),
    );
    Ok(Plan {
        inputs,
        flavor: None,
        work: Arc::new(BatchWork {
            home: ctx.home().to_path_buf(),
            name: format!("{}-{}", ctx.workflow.name, step.name)
                .chars()
                .take(64)
                .collect(),
            model,
            source,
            dest,
            envs: envs_,
            outputs: spec.outputs.clone(),
        }),
    })
}

struct BatchWork {
    home: PathBuf,
    name: String,
    model: crate::models::ModelVersion,
    source: PathBuf,
    dest: PathBuf,
    envs: Vec<(String, String)>,
    outputs: Vec<String>,
}

/// The samples of a batch: a dataset folder's manifest sources, else every file.
fn batch_samples(source: &std::path::Path) -> Vec<(String, PathBuf)> {
    let manifest = source.join("manifest.json");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        return text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("source").and_then(Value::as_str).map(String::from))
            .map(|s| (s.clone(), source.join(&s)))
            .collect();
    }
    let mut out: Vec<(String, PathBuf)> = walkdir::WalkDir::new(source)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(source)
                .unwrap_or(e.path())
                .to_string_lossy()
                .into_owned();
            (rel, e.path().to_path_buf())
        })
        .collect();
    out.sort();
    out
}

/// One request to the model: a `.json` sample as the body, any other file as a multipart
/// upload under `images` (ModelArts' field for files).
async fn ask(
    client: &reqwest::Client,
    port: u16,
    file: &std::path::Path,
) -> std::io::Result<(u16, Vec<u8>)> {
    let bytes = std::fs::read(file)?;
    let (ctype, body) = if file.extension().is_some_and(|e| e == "json") {
        ("application/json".to_string(), bytes)
    } else {
        let b = format!("wfbatch{}", uuid::Uuid::new_v4().simple());
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .replace('"', "_");
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={b}"), body)
    };
    crate::net::post(
        client,
        &format!("http://127.0.0.1:{port}/"),
        &ctype,
        &[],
        body,
    )
    .await
}

impl Work for BatchWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let port = match crate::services::supervisor::free_port() {
                Ok(p) => p,
                Err(e) => return StepEnd::Failed(format!("no free port: {e}")),
            };
            let mut cmd = match crate::services::supervisor::model_command(
                &self.home,
                &self.name,
                &self.model,
                port,
            ) {
                Ok(c) => c,
                Err(e) => return StepEnd::Failed(e.to_string()),
            };
            let log = match crate::store::private_dir(&crate::services::service_dir(
                &self.home, &self.name,
            ))
            .and_then(|_| {
                crate::store::private_file(
                    &crate::services::service_dir(&self.home, &self.name).join("batch.log"),
                    true,
                )
            }) {
                Ok(f) => f,
                Err(e) => return StepEnd::Failed(format!("cannot open the batch log: {e}")),
            };
            let (out, err) = match (log.try_clone(), log.try_clone()) {
                (Ok(a), Ok(b)) => (a, b),
                _ => return StepEnd::Failed("cannot open the batch log".into()),
            };
            cmd.env("PORT", port.to_string())
                .env("WF_MODEL_NAME", &self.model.name)
                .env("WF_MODEL_VERSION", &self.model.version)
                .env("WF_SERVICE_NAME", &self.name)
                .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(std::process::Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .kill_on_drop(true);
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return StepEnd::Failed(format!("cannot start the model: {e}")),
            };
            let pid = child.id().unwrap_or(0);
            // Ready when /health answers.
            let started = std::time::Instant::now();
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return StepEnd::Failed(format!(
                        "the model exited before it was ready ({status}); see {}",
                        crate::services::service_dir(&self.home, &self.name)
                            .join("batch.log")
                            .display()
                    ));
                }
                let ok = tokio::task::spawn_blocking(move || {
                    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                })
                .await
                .unwrap_or(false);
                if ok {
                    break;
                }
                if started.elapsed() > Duration::from_secs(120) || attempt.cancel.is_cancelled() {
                    let _ = child.kill().await;
                    return StepEnd::Failed("the model was not ready after 120 s".into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let work = self.clone();
            let cancel = attempt.cancel.clone();
            let done = tokio::task::spawn_blocking(move || -> Result<(usize, usize), StepError> {
                // Requests one at a time, on a runtime of this thread's own.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the batch's runtime: {e}"))?;
                let client = crate::net::local_client(None).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(&work.dest)
                    .map_err(|e| format!("cannot make `{}`: {e}", work.dest.display()))?;
                let (mut ok, mut failed) = (0, 0);
                for (rel, path) in batch_samples(&work.source) {
                    if cancel.is_cancelled() {
                        break;
                    }
                    // The server may still be loading the model: answers 503 until ready.
                    let mut tries = 0;
                    let answer = loop {
                        match rt.block_on(ask(&client, port, &path)) {
                            Ok((503, _)) if tries < 600 => {
                                tries += 1;
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            other => break other,
                        }
                    };
                    let out = work
                        .dest
                        .join(format!("{}.result.json", rel.replace('/', "_")));
                    match answer {
                        Ok((200, body)) => {
                            std::fs::write(&out, body).map_err(|e| e.to_string())?;
                            ok += 1;
                        }
                        Ok((status, body)) => {
                            let _ = std::fs::write(&out, &body);
                            failed += 1;
                            let _ = status;
                        }
                        Err(_) => failed += 1,
                    }
                }
                Ok((ok, failed))
            })
            .await;
            // The model's whole group: SIGTERM, then SIGKILL after the grace period. Its
            // leader is not reaped before, so the group's id is still its own.
            crate::services::process::signal_group(pid, libc::SIGTERM);
            let deadline = std::time::Instant::now() + crate::services::process::GRACE;
            while std::time::Instant::now() < deadline
                && !crate::services::process::group_members(pid).is_empty()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            crate::services::process::signal_group(pid, libc::SIGKILL);
            let _ = child.wait().await;
            let _ = std::fs::remove_dir_all(crate::services::supervisor::run_dir(
                &self.home,
                &self.name,
                &self.model.name,
                &self.model.version,
            ));
            if attempt.cancel.is_cancelled() {
                return StepEnd::Stopped;
            }
            match done {
                Ok(Ok((ok, failed))) if failed == 0 || ok > 0 => {
                    let outputs = self
                        .outputs
                        .iter()
                        .map(|n| (n.clone(), json!({ "path": self.dest.to_string_lossy(), "samples": ok, "failed": failed })))
                        .collect();
                    StepEnd::Executed {
                        outputs,
                        metrics: IndexMap::new(),
                        detail: Map::new(),
                        note: Some(format!(
                            "batch of {}@{}: {ok} answered, {failed} failed, into {}",
                            self.model.name,
                            self.model.version,
                            self.dest.display()
                        )),
                    }
                }
                Ok(Ok((_, failed))) => StepEnd::Failed(format!(
                    "all {failed} samples failed; the answers are in {}",
                    self.dest.display()
                )),
                Ok(Err(e)) => e.into(),
                Err(e) => StepEnd::Failed(format!("the batch failed: {e}")),
            }
        })
    }
}
