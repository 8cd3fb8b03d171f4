//! `/api/workflows...`: released workflows (the registry), and starting an execution of
//! one with its configuration's values as defaults.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};

use super::app::{
    assignments, kind_of, record_json, spawn_run, with_store, ApiError, ApiResult, App, JsonBody,
    Released,
};
use crate::exec::prepare::Request;
use crate::model::status::ExecStatus;
use crate::model::val::Val;
use crate::model::validate::validate;
use crate::model::workflow::{value_key, Workflow};
use crate::registry;
use crate::store::Store;

fn param<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

/// `GET /api/workflows?search=&tag=`.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let l = registry::list(s, param(&q, "search"), param(&q, "tag"))?;
        Ok(Json(Value::Array(l)))
    })
    .await
}

/// `GET /api/workflows/NAME`: versions, definition, configuration.
pub async fn show(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| Ok(Json(registry::show(s, &name)?))).await
}

/// `PUT /api/workflows/NAME/config`: the fields given replace those of the configuration.
pub async fn set_config(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let patch = body.0;
    with_store(&app, move |s| {
        if !registry::exists(s, &name)? {
            // The registry's own message, as a 404.
            registry::config(s, &name)?;
        }
        // A scene must be one of the workflow's, or every start would be refused.
        if let Some(Value::String(scene)) = patch.get("scene") {
            let (w, _) = released(s, &name)?;
            let scenes: Vec<String> = w.scenes().into_iter().map(|(n, _, _)| n).collect();
            if !scenes.contains(scene) {
                return Err(ApiError::bad(format!(
                    "`scene`: `{scene}` is not a scene of `{name}`; its scenes are: {}",
                    if scenes.is_empty() {
                        "none".to_string()
                    } else {
                        scenes.join(", ")
                    }
                )));
            }
        }
        Ok(Json(registry::set_config(s, &name, &patch)?))
    })
    .await
}

/// `POST /api/workflows/NAME/copy` → 201 `{"name": "NAME_copy"}`.
pub async fn copy(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    with_store(&app, move |s| {
        let new = registry::copy(s, &name)?;
        Ok((StatusCode::CREATED, Json(json!({ "name": new }))))
    })
    .await
}

/// `DELETE /api/workflows/NAME` with `{"confirm": "NAME"}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let body = body.object(&["confirm"])?;
    with_store(&app, move |s| {
        if !registry::exists(s, &name)? {
            registry::config(s, &name)?;
        }
        match body.get("confirm") {
            Some(Value::String(c)) if *c == name => {}
            Some(Value::String(c)) => {
                return Err(ApiError::bad(format!(
                    "`confirm` is `{c}`, not the workflow's name `{name}`: nothing was deleted"
                )))
            }
            _ => {
                return Err(ApiError::bad(format!(
                    "deleting a workflow needs its name typed: {{\"confirm\": \"{name}\"}}"
                )))
            }
        }
        registry::delete(s, &name)?;
        Ok(Json(json!({ "deleted": name })))
    })
    .await
}

/// The released workflow `name` as it runs: its latest version read and validated. Its
/// definition is named `name` (a copy's definition may still carry the original's name).
fn released(store: &Store, name: &str) -> ApiResult<(Workflow, std::path::PathBuf)> {
    let (version, text, base) = registry::latest(store, name)?;
    let mut def: Value = serde_json::from_str(&text).map_err(|e| {
        ApiError::conflict(format!("version {version} of `{name}` cannot be read: {e}"))
    })?;
    if def.get("name").and_then(Value::as_str) != Some(name) {
        def["name"] = json!(name);
    }
    if let Some(w) = def.get_mut("workflow").and_then(Value::as_object_mut) {
        if w.get("name").is_some_and(|n| n.as_str() != Some(name)) {
            w.insert("name".into(), json!(name));
        }
    }
    // The configuration's flavors (step → flavor) replace what the job steps ask for.
    if let Some(Value::Object(flavors)) = registry::config(store, name)?.get("flavors").cloned() {
        let mut found = std::collections::HashSet::new();
        set_flavors(&mut def, &flavors, &mut found);
        if let Some(missing) = flavors.keys().find(|k| !found.contains(*k)) {
            return Err(ApiError::bad(format!(
                "the configuration's `flavors` names `{missing}`, which is not a job step of `{name}`"
            )));
        }
    }
    let file: Arc<str> = format!("<released workflow {name} version {version}>").into();
    let (obj, mut diags) = crate::loader::read_definition(&def.to_string(), &file);
    let refuse = |diags: &[crate::diag::Diagnostic]| {
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        ApiError::conflict(format!(
            "version {version} of `{name}` is not a valid workflow: {}",
            errors.join("; ")
        ))
    };
    let Some(obj) = obj else {
        return Err(refuse(&diags));
    };
    let (w, more) = validate(&obj);
    diags.extend(more);
    if diags.iter().any(|d| d.is_error()) {
        return Err(refuse(&diags));
    }
    Ok((w, base))
}

/// Sets `spec.resource.flavor` of each job step the map names.
fn set_flavors(
    v: &mut Value,
    flavors: &serde_json::Map<String, Value>,
    found: &mut std::collections::HashSet<String>,
) {
    match v {
        Value::Object(m) => {
            let is_job = m.get("$class").and_then(Value::as_str) == Some("wf.steps.JobStep");
            let name = m.get("name").and_then(Value::as_str).map(String::from);
            if let (true, Some(n)) = (is_job, name) {
                if let Some(f) = flavors.get(&n) {
                    if let Some(res) = m
                        .get_mut("spec")
                        .and_then(|x| x.get_mut("resource"))
                        .and_then(Value::as_object_mut)
                    {
                        res.insert("flavor".into(), f.clone());
                        found.insert(n);
                    }
                }
            }
            for x in m.values_mut() {
                set_flavors(x, flavors, found);
            }
        }
        Value::Array(a) => {
            for x in a {
                set_flavors(x, flavors, found);
            }
        }
        _ => {}
    }
}

/// `released`, read and validated once per version (and configuration of flavors).
fn released_cached(
    app: &App,
    store: &Store,
    name: &str,
) -> ApiResult<(Workflow, std::path::PathBuf)> {
    let (version, mut text, _) = registry::latest(store, name)?;
    // A change of the configured flavors changes what runs.
    if let Some(f) = registry::config(store, name)?.get("flavors") {
        text.push_str(&f.to_string());
    }
    let cached = app
        .released
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .cloned();
    if let Some(r) = cached.filter(|r| r.version == version && r.text == text) {
        return Ok((r.workflow.clone(), r.base_dir.clone()));
    }
    let (workflow, base_dir) = released(store, name)?;
    app.released
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            name.to_string(),
            Arc::new(Released {
                version,
                text,
                workflow: workflow.clone(),
                base_dir: base_dir.clone(),
            }),
        );
    Ok((workflow, base_dir))
}

/// The steps a request runs (as `prepare` picks them); every step when the request names
/// none or names a scene that does not exist (then `prepare` says so).
fn selected(w: &Workflow, steps: &[String], scene: Option<&str>) -> Vec<String> {
    if let Some(sc) = scene {
        if let Some((_, s, _)) = w.scenes().into_iter().find(|(n, _, _)| n == sc) {
            return s.into_iter().map(|(n, _)| n).collect();
        }
    }
    if !steps.is_empty() {
        return steps.to_vec();
    }
    w.steps.iter().map(|s| s.name.clone()).collect()
}

/// The placeholder keys and storage names the selected steps use: the configuration's
/// values for others are left out (they are defaults for the whole workflow).
fn used(w: &Workflow, selected: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut keys, mut storages) = (Vec::new(), Vec::new());
    for step in selected.iter().filter_map(|n| w.step(n)) {
        for (k, v) in &step.obj.args {
            if *k == "depend_steps" {
                continue;
            }
            v.walk(&mut |x| {
                if let Val::Obj(o) = x {
                    if o.is_placeholder() {
                        keys.push(value_key(o));
                    }
                    if matches!(o.class(), "Storage" | "InputStorage" | "OutputStorage") {
                        storages.push(o.name().to_string());
                    }
                }
            });
        }
    }
    (keys, storages)
}

fn strings(field: &str, v: Option<&Value>) -> ApiResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad(format!("`{field}` is a list of strings")))
            })
            .collect(),
        Some(other) => Err(ApiError::bad(format!(
            "`{field}` is a list of strings, not {}",
            kind_of(other)
        ))),
    }
}

/// Tags as given over the API: strings of 1 to 64 characters, no control characters.
pub fn check_tags(v: Option<&Value>) -> ApiResult<Vec<String>> {
    let mut tags = strings("tags", v)?;
    for t in &tags {
        if t.trim().is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
            return Err(ApiError::bad(format!(
                "tag `{t}`: a tag is 1 to 64 characters, none of them control characters"
            )));
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// `POST /api/workflows/NAME/executions` → 201 with the execution record.
pub async fn start(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = body.object(&[
        "parameters",
        "storages",
        "steps",
        "scene",
        "max_parallel",
        "experiment",
        "tags",
    ])?;
    let app2 = app.clone();
    let record = with_store(&app, move |s| start_blocking(&app2, s, &name, &body)).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// `POST /api/executions/ID/rerun` → 201: a new execution of the same released workflow
/// (its latest version) with the parameters and storage roots the first one ran with.
pub async fn rerun(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let app2 = app.clone();
    let record = with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        let r = s.record(&id)?.to_json();
        let name = r["workflow"].as_str().unwrap_or("").to_string();
        let mut body = serde_json::Map::new();
        body.insert("parameters".into(), r["parameters"].clone());
        body.insert("storages".into(), r["storages"].clone());
        start_blocking(&app2, s, &name, &body)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

fn start_blocking(
    app: &Arc<App>,
    store: &Store,
    name: &str,
    body: &Map<String, Value>,
) -> ApiResult<Value> {
    let (w, base_dir) = released_cached(app, store, name)?;
    let config = registry::config(store, name)?;
    let steps = strings("steps", body.get("steps"))?;
    let scene = match body.get("scene") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "`scene` is a scene's name, not {}",
                kind_of(other)
            )))
        }
    };
    if !steps.is_empty() && scene.is_some() {
        return Err(ApiError::bad("give `steps` or `scene`, not both"));
    }
    // The configuration's scene applies when the request picks no steps itself.
    let scene = scene.or_else(|| {
        steps
            .is_empty()
            .then(|| {
                config
                    .get("scene")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .flatten()
    });
    let max_parallel = match body.get("max_parallel") {
        None | Some(Value::Null) => 8,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad("`max_parallel` is a whole number from 1"))?
            as usize,
    };
    let experiment = match body.get("experiment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad("`experiment` is a string")),
    };
    let tags = check_tags(body.get("tags"))?;
    let chosen = selected(&w, &steps, scene.as_deref());
    let (keys, storages_used) = used(&w, &chosen);

    // The configuration's values first, then the request's over them.
    let mut params: Vec<(String, String)> = assignments("parameters", config.get("parameters"))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| keys.contains(&w.key_of_shown(k)))
        .collect();
    for (k, v) in assignments("parameters", body.get("parameters"))? {
        params.retain(|(c, _)| w.key_of_shown(c) != w.key_of_shown(&k));
        params.push((k, v));
    }
    let mut roots: Vec<(String, String)> = assignments("storages", config.get("storages"))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| storages_used.contains(k))
        .collect();
    for (k, v) in assignments("storages", body.get("storages"))? {
        roots.retain(|(c, _)| *c != k);
        roots.push((k, v));
    }
    let req = Request {
        steps,
        scene,
        experiment,
        max_parallel,
        param_texts: params.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        params_file: None,
        typed: Vec::new(),
        storage_texts: roots.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        base_dir,
        defer_missing: false,
    };
    let max = config
        .get("max_concurrent")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;

    // Counted with the starts under way under one lock, so two requests at once cannot
    // both pass; the execution is then recorded outside it, holding its place.
    {
        let mut starting = app.starting.lock().unwrap_or_else(|p| p.into_inner());
        let active: Vec<String> = store
            .unfinished(Some(name))?
            .into_iter()
            .filter(|(id, status)| *status == ExecStatus::AwaitingInput || app.is_driven(id))
            .map(|(id, _)| id)
            .collect();
        let pending = starting.get(name).copied().unwrap_or(0);
        let under_way = active.len() + pending;
        if under_way >= max {
            let mut listed = active.join(", ");
            if pending > 0 {
                listed = format!(
                    "{listed}{}{pending} starting",
                    if listed.is_empty() { "" } else { ", " }
                );
            }
            return Err(ApiError::conflict(format!(
                "workflow `{name}` already has {under_way} execution{} under way ({listed}); its configuration allows {max} at a time (`max_concurrent`)",
                if under_way == 1 { "" } else { "s" },
            )));
        }
        *starting.entry(name.to_string()).or_insert(0) += 1;
    }
    // The place is given back however this ends: if nothing was recorded, when this
    // returns; else at the moment the run is registered, under the same lock as the count,
    // so that no count sees the execution both as starting and as run.
    fn give_back(starting: &mut HashMap<String, usize>, name: &str) {
        if let Some(n) = starting.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                starting.remove(name);
            }
        }
    }
    struct Place<'a>(&'a App, &'a str);
    impl Drop for Place<'_> {
        fn drop(&mut self) {
            give_back(
                &mut self.0.starting.lock().unwrap_or_else(|p| p.into_inner()),
                self.1,
            );
        }
    }
    let place = Place(app, name);
    let engine = app.engine();
    let prepared = engine.prepare(w, &req)?;
    let id = prepared.exec_id().to_string();
    if !tags.is_empty() {
        if let Err(e) = store.set_tags(&id, &tags) {
            let _ = app.engine().stop(&id, None);
            return Err(e.into());
        }
    }
    let spawned = {
        let mut starting = app.starting.lock().unwrap_or_else(|p| p.into_inner());
        let spawned = spawn_run(app, &id, engine, None, "run", move |e| e.run(prepared));
        give_back(&mut starting, name);
        std::mem::forget(place);
        spawned
    };
    if let Err(e) = spawned {
        // Recorded but not run: recorded stopped rather than left for a resume.
        let _ = app.engine().stop(&id, None);
        return Err(e);
    }
    record_json(app, store, &id)
}
