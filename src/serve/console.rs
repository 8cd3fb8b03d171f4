//! The web console: its pages, embedded in the binary, and the read endpoints only the console
//! needs beside the API (README, "The running state") (a step's metric files, an execution's definition, the
//! flavors, the dataset service, the model registry, the services, labeling).
//!
//! The pages are checked-in files (`console/index.html`, `app.css`, and ES modules: `app.js`
//! the router, `api.js`, `dom.js`, `dag.js`, ... and `pages/*.js`): no build step, no bundler,
//! nothing fetched from elsewhere at run time. Each is served with an `ETag` of its bytes, so a reload
//! costs one round trip of `304`s.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::app::{with_store, ApiError, ApiResult, App, JsonBody};
use crate::datasets::{self, DataError};
use crate::present::dag::{Geometry, Graph, Layout};
use crate::store::Store;

const INDEX: &str = include_str!("console/index.html");
const JS: &str = "text/javascript; charset=utf-8";

/// The files under `/console/`: the page's ES modules (`app.js` the router, the others what it
/// imports), its style and its icon, with their types.
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", include_str!("console/app.js"), JS),
    ("api.js", include_str!("console/api.js"), JS),
    ("charts.js", include_str!("console/charts.js"), JS),
    ("dag.js", include_str!("console/dag.js"), JS),
    ("definition.js", include_str!("console/definition.js"), JS),
    ("dom.js", include_str!("console/dom.js"), JS),
    ("live.js", include_str!("console/live.js"), JS),
    (
        "pages/compare.js",
        include_str!("console/pages/compare.js"),
        JS,
    ),
    (
        "pages/executions.js",
        include_str!("console/pages/executions.js"),
        JS,
    ),
    ("pages/label.js", include_str!("console/pages/label.js"), JS),
    (
        "pages/registry.js",
        include_str!("console/pages/registry.js"),
        JS,
    ),
    (
        "pages/workflows.js",
        include_str!("console/pages/workflows.js"),
        JS,
    ),
    (
        "app.css",
        include_str!("console/app.css"),
        "text/css; charset=utf-8",
    ),
    (
        "icon.svg",
        include_str!("console/icon.svg"),
        "image/svg+xml",
    ),
];

/// A sample larger than this is not sent to the labeling page (it shows its name instead).
const SAMPLE_LIMIT: u64 = 16 << 20;

fn etag(bytes: &str) -> String {
    // FNV-1a over the bytes: enough to tell two builds' files apart.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

fn asset(headers: &HeaderMap, body: &'static str, mime: &'static str) -> Response {
    let tag = etag(body);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`: the console. `?token=T` (given once, and checked like a bearer token before this
/// runs) keeps the token in a cookie for the pages' requests, then drops it from the address.
pub async fn index(headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let token = match super::auth::query_token(uri.query()) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if let Some(t) = token.filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric())) {
        let mut r = (StatusCode::SEE_OTHER, "").into_response();
        let h = r.headers_mut();
        h.insert(header::LOCATION, HeaderValue::from_static("/"));
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}={t}; Path=/; HttpOnly; SameSite=Strict",
            super::auth::COOKIE
        )) {
            h.insert(header::SET_COOKIE, v);
        }
        return r;
    }
    asset(&headers, INDEX, "text/html; charset=utf-8")
}

/// `GET /console/FILE`: the console's scripts, style and icon.
pub async fn file(headers: HeaderMap, Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, body, mime)) => asset(&headers, body, mime),
        None => ApiError::not_found(format!("the console has no file `{name}`")).into_response(),
    }
}

/// `GET /api/flavors`: this machine's flavors and each pool's as `POOL:FLAVOR`, as `wf
/// flavors --json` lists them; a pool that cannot be read is named under `errors`.
pub async fn flavors(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let m = crate::pools::flavors::Machine::detect();
        let mut all: Vec<Value> = m
            .flavors()
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(Value::Null))
            .collect();
        let mut errors = Vec::new();
        for pool in crate::pools::list(s).map_err(ApiError::internal)? {
            match pool.flavors() {
                Ok(fs) => all.extend(fs.iter().map(|f| {
                    json!({
                        "id": format!("{}:{}", pool.name, f.id),
                        "pool": pool.name,
                        "flavor_id": f.id,
                        "cpu": f.cpu,
                        "memory_mib": f.memory_mib,
                        "gpu": f.gpu,
                        "description": f.description,
                    })
                })),
                Err(e) => errors.push(json!(e)),
            }
        }
        Ok(Json(json!({
            "machine": { "cpus": m.cpus, "memory_mib": m.memory_mib, "gpus": m.gpus },
            "flavors": all,
            "errors": errors,
        })))
    })
    .await
}

/// `GET /api/executions/ID/definition`: the definition the execution runs (as `wf graph
/// --format json` prints it), so its DAG is drawn even when its workflow was never released.
pub async fn definition(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        let row = s.execution(&id)?;
        let mut r = (StatusCode::OK, row.definition).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(r)
    })
    .await
}

/// The DAG of a definition (JSON text), laid out for the console's drawing.
fn layout_of(def: &str) -> Layout {
    let def: Value = serde_json::from_str(def).unwrap_or(Value::Null);
    Graph::of_definition(&def).layout(&Geometry::CONSOLE)
}

/// `GET /api/workflows/NAME/layout`: the DAG of the released workflow's latest version, laid
/// out: each step's box, each arrow's ends, the drawing's size (`present::dag`).
pub async fn workflow_layout(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Layout>> {
    with_store(&app, move |s| {
        let (_, def, _) = crate::registry::latest(s, &name)?;
        Ok(Json(layout_of(&def)))
    })
    .await
}

/// `GET /api/executions/ID/layout`: the DAG of the definition the execution runs, laid out as
/// `GET /api/workflows/NAME/layout` lays it out.
pub async fn execution_layout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Layout>> {
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        let row = s.execution(&id)?;
        Ok(Json(layout_of(&row.definition)))
    })
    .await
}

/// `GET /api/executions/ID/steps/STEP/metrics`: every metrics file among the step's outputs,
/// read and checked as the runner reads them: `[{"output", "path", "entries"}]`, or
/// `"error"` in place of `entries` when a file is missing or malformed.
pub async fn metrics(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        let record = s.record(&id)?;
        let Some(st) = record.steps.iter().find(|x| x.name == step) else {
            return Err(ApiError::not_found(format!(
                "execution {id} has no step `{step}`"
            )));
        };
        let mut out = Vec::new();
        if let Some(outputs) = st.outputs.as_object() {
            for (name, o) in outputs {
                let Some(path) = o.get("path").and_then(Value::as_str) else {
                    continue;
                };
                let p = std::path::Path::new(path);
                // Metric files are files; folder outputs are not read.
                if !p.is_file() || !path.ends_with(".json") {
                    continue;
                }
                match crate::exec::metrics::read_metrics(p) {
                    Ok(m) => out.push(json!({"output": name, "path": path, "entries": m.entries})),
                    Err(e) => {
                        out.push(json!({"output": name, "path": path, "error": e.to_string()}))
                    }
                }
            }
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// `GET /api/datasets`: as `wf datasets --json`.
pub async fn datasets(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        Ok(Json(Value::Array(
            datasets::view::datasets_json(s).map_err(ApiError::from)?,
        )))
    })
    .await
}

/// `GET /api/models`: as `wf models --json`.
pub async fn models(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let all = crate::models::list(s, None).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(Value::Array(
            all.iter().map(|m| m.to_json()).collect(),
        )))
    })
    .await
}

/// `GET /api/services`: as `wf services --json`.
pub async fn services(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let names = crate::services::names(s).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut all = Vec::new();
        for n in names {
            all.push(
                crate::services::show_json(s, &n).map_err(|e| ApiError::internal(e.to_string()))?,
            );
        }
        Ok(Json(Value::Array(all)))
    })
    .await
}

fn task_json(s: &Store, ds: &str, task: &str) -> ApiResult<Value> {
    let (task_type, labels, sync) = datasets::label::task_info(s, ds, task)?;
    let samples = datasets::label::task_samples(s, ds, task)?;
    let labelled = samples.iter().filter(|x| !x.labels.is_empty()).count();
    Ok(json!({
        "dataset_name": ds,
        "task_name": task,
        "task_type": task_type,
        "labels": labels,
        "auto_sync_dataset": sync,
        "labelled": labelled,
        "unlabelled": samples.len() - labelled,
        "samples": samples.iter().map(|x| json!({
            "id": x.hash,
            "name": x.name,
            "labels": x.labels,
            "to_confirm": x.to_confirm,
            "media": media_kind(&x.name),
        })).collect::<Vec<_>>(),
    }))
}

/// How the labeling page shows a sample, from its file name.
fn media_kind(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "bmp" | "gif" | "webp" | "svg" => "image",
        "txt" | "csv" | "tsv" | "json" | "md" => "text",
        "wav" | "mp3" | "ogg" | "flac" => "audio",
        _ => "other",
    }
}

fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "txt" | "csv" | "tsv" | "md" => "text/plain; charset=utf-8",
        "json" => "application/json",
        // An SVG sample could carry script: it is sent as bytes, shown by the page as an image.
        _ => "application/octet-stream",
    }
}

/// `GET /api/labels/DATASET/TASK`: the task's labels and samples, as `wf label DS/TASK show
/// --json`, each sample with how the page shows it.
pub async fn task(
    State(app): State<Arc<App>>,
    Path((ds, task)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| Ok(Json(task_json(s, &ds, &task)?))).await
}

/// `GET /api/labels/DATASET/TASK/samples/ID`: the sample's bytes.
pub async fn sample(
    State(app): State<Arc<App>>,
    Path((ds, task, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    with_store(&app, move |s| {
        datasets::label::task_info(s, &ds, &task)?;
        let hash = datasets::label::find_sample(s, &ds, &id)?;
        // One row, not the task's whole list: the page asks for each sample it shows.
        let name = s
            .sample_name(&ds, &hash)
            .map_err(|e| ApiError::from(DataError::Store(e)))?;
        let path = datasets::objects::object_path(&s.home, &hash);
        let size = std::fs::metadata(&path)
            .map_err(|e| ApiError::not_found(format!("sample `{id}` has no bytes here: {e}")))?
            .len();
        if size > SAMPLE_LIMIT {
            return Err(ApiError::bad(format!(
                "sample `{name}` is {size} bytes; the console shows samples up to {SAMPLE_LIMIT}"
            )));
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| ApiError::internal(format!("cannot read sample `{name}`: {e}")))?;
        let mut r = (StatusCode::OK, bytes).into_response();
        let h = r.headers_mut();
        let mime = if name.to_ascii_lowercase().ends_with(".svg") {
            "image/svg+xml"
        } else {
            mime_of(&name)
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        Ok(r)
    })
    .await
}

/// `PUT /api/labels/DATASET/TASK/samples/ID` with `{"labels": [...]}`: labels one sample as
/// `wf label DS/TASK set` does; answers with the task as `GET` does.
pub async fn set_sample(
    State(app): State<Arc<App>>,
    Path((ds, task, id)): Path<(String, String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let body = body.object(&["labels"])?;
    let labels: Vec<String> = match body.get("labels") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(String::from).ok_or_else(|| {
                    ApiError::bad(format!("`labels` holds {v}; each label is a string"))
                })
            })
            .collect::<ApiResult<_>>()?,
        Some(v) => {
            return Err(ApiError::bad(format!(
                "`labels` is {v}; it is a list of label names"
            )))
        }
        None => {
            return Err(ApiError::bad(
                "the body needs `labels`: a list of label names",
            ))
        }
    };
    with_store(&app, move |s| {
        datasets::label::set_labels(s, &ds, &task, &[(id, labels)]).map_err(|e| match e {
            DataError::Invalid(m) => ApiError::bad(m),
            e => e.into(),
        })?;
        Ok(Json(task_json(s, &ds, &task)?))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout carries every field `dag.js` draws from, named as it reads them.
    #[test]
    fn a_layout_has_what_the_console_draws_from() {
        let def = r#"{"steps": [{"name": "a", "type": "job"}, {"name": "b", "type": "condition"}],
                      "dependencies": {"a": [], "b": [{"step": "a", "output": "model"}]}}"#;
        let v = serde_json::to_value(layout_of(def)).unwrap();
        for k in ["width", "height", "vertical", "node_width", "node_height"] {
            assert!(!v[k].is_null(), "no `{k}` in {v}");
        }
        let n = &v["nodes"][1];
        assert_eq!(
            (&n["name"], &n["kind"], &n["layer"]),
            (&json!("b"), &json!("condition"), &json!(1))
        );
        assert!(n["x"].is_number() && n["y"].is_number(), "{n}");
        let e = &v["edges"][0];
        assert_eq!(
            (&e["from"], &e["to"], &e["kind"]),
            (&json!("a"), &json!("b"), &json!("data"))
        );
        assert_eq!(e["label"], "model");
        for k in ["x1", "y1", "x2", "y2"] {
            assert!(e[k].is_number(), "no `{k}` in {e}");
        }
        // What cannot be read is drawn as nothing, not refused.
        assert_eq!(
            serde_json::to_value(layout_of("not json")).unwrap()["nodes"],
            json!([])
        );
    }

    /// Every module a console script imports is served, under the path the browser asks for.
    #[test]
    fn every_imported_module_is_served() {
        let mut checked = 0;
        for (name, body, mime) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            assert_eq!(*mime, JS, "{name}");
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let spec = line
                    .split(" from \"")
                    .nth(1)
                    .and_then(|r| r.strip_suffix("\";"))
                    .unwrap_or_else(|| panic!("{name}: {line}"));
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for p in spec.split('/') {
                    match p {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let target = parts.join("/");
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == target),
                    "{name} imports `{spec}`, which is not served"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} imports found");
        assert!(INDEX.contains("<script type=\"module\" src=\"/console/app.js\">"));
    }
}
