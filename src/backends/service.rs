//! ServiceStep: deploys (or updates) a local real-time inference service (`crate::services`)
//! and ends once every version answers its health check; the service outlives the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, Work};
use crate::model::val::{Obj, Val};
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

fn objs(v: Option<&Val>) -> Vec<Arc<Obj>> {
    v.map(Val::items)
        .unwrap_or_default()
        .iter()
        .filter_map(Val::as_obj)
        .cloned()
        .collect()
}

fn text(ctx: &PlanCtx, o: &Obj, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Val::Null) => Ok(None),
        Some(v) => {
            let t = ctx.values.text(&v).map_err(|e| format!("`{key}`: {e}"))?;
            Ok((!t.is_empty()).then_some(t))
        }
    }
}

/// A map of environment variables, each value resolved (an output variable of another
/// service becomes its address).
fn envs(ctx: &PlanCtx, v: Option<&Val>, out: &mut Vec<(String, String)>) -> Result<(), String> {
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
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, String> {
        let o = &step.obj;
        let outs = objs(o.arg("outputs"));
        let cfg = outs
            .iter()
            .find_map(|x| x.arg("service_config").and_then(Val::as_obj).cloned());
        let infer_type = match &cfg {
            Some(c) => text(ctx, c, "infer_type")?.unwrap_or_else(|| "real-time".into()),
            None => "real-time".into(),
        };
        match infer_type.as_str() {
            "real-time" => {}
            "edge" => return Err("`infer_type: \"edge\"` deploys to edge devices, which need ModelArts; here a service is `real-time`".into()),
            "batch" => return Err("`infer_type: \"batch\"` is not run here yet: deploy `real-time` and post the samples to its address".into()),
            other => return Err(format!("`infer_type` is `{other}`: it takes real-time, batch or edge")),
        }
        let store = Store::open(ctx.home()).map_err(|e| e.to_string())?;
        let mut versions: Vec<VersionSpec> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut update_of: Option<String> = None;
        let mut inputs = Map::new();
        for i in objs(o.arg("inputs")) {
            let data = ctx.values.value(i.arg("data").unwrap_or(&Val::Null))?;
            match &data {
                Val::Obj(d) if d.is("ServiceData") => {
                    let id = text(ctx, d, "service_id")?.ok_or("a ServiceData without `service_id`")?;
                    inputs.insert(i.name().into(), json!({ "service": id }));
                    update_of = Some(id);
                }
                Val::List(items) => {
                    for item in items {
                        let Val::Map(m) = item else {
                            return Err(format!("input `{}`: a model entry is not an object", i.name()));
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
                        i.name().into(),
                        json!(versions
                            .iter()
                            .map(|v| json!({"model_name": v.model_name, "model_version": v.model_version, "weight": v.weight}))
                            .collect::<Vec<_>>()),
                    );
                }
                other => {
                    return Err(format!(
                        "input `{}` is {}; a service takes a ServiceInputPlaceholder's models or a ServiceData",
                        i.name(),
                        other.describe()
                    ))
                }
            }
        }
        let mut config = Map::new();
        let mut notes = Vec::new();
        let mut apps = false;
        if let Some(c) = &cfg {
            for (k, v) in &c.args {
                if *k == "envs" {
                    continue;
                }
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
            envs(ctx, c.arg("envs"), &mut env)?;
        }
        let name = match (
            &cfg.as_ref()
                .map(|c| text(ctx, c, "service_name"))
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
                },
                outputs: outs.iter().map(|o| o.name().to_string()).collect(),
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
                Ok(Err(e)) => StepEnd::Failed(e),
                Err(e) => StepEnd::Failed(format!("the service failed to deploy: {e}")),
            }
        })
    }
}

impl ServiceWork {
    fn deploy(&self, cancelled: &dyn Fn() -> bool) -> Result<StepEnd, String> {
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
