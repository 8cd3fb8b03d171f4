//! The web console: its pages, embedded in the binary, and the read endpoints only the console
//! needs beside the API of CONTRACT §8 (a step's metric files, an execution's definition, the
//! flavors, the dataset service, the model registry, the services, labeling).
//!
//! The pages are three checked-in files (`console/index.html`, `app.js`, `app.css`): no build
//! step, nothing fetched at run time. Each is served with an `ETag` of its bytes, so a reload
//! costs one round trip of `304`s.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::app::{with_store, ApiError, ApiResult, App, JsonBody};
use crate::datasets::{self, DataError};
use crate::store::Store;

const INDEX: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");
const ICON: &str = include_str!("console/icon.svg");

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

/// `GET /console/FILE`: the console's script, style and icon.
pub async fn file(headers: HeaderMap, Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset(&headers, APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => asset(&headers, APP_CSS, "text/css; charset=utf-8"),
        "icon.svg" => asset(&headers, ICON, "image/svg+xml"),
        _ => ApiError::not_found(format!("the console has no file `{name}`")).into_response(),
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> ApiError {
        match e {
            DataError::NotFound(m) => ApiError::not_found(m),
            DataError::Store(e) => e.into(),
            e => ApiError::bad(e.to_string()),
        }
    }
}

/// `GET /api/flavors`: this machine's flavors and each pool's as `POOL:FLAVOR`, as `wf
/// flavors --json` lists them; a pool that cannot be read is named under `errors`.
pub async fn flavors(State(app): State<Arc<App>>) -> ApiResult<Json<Value>> {
    with_store(&app, move |s| {
        let m = crate::exec::flavors::Machine::detect();
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
        let name: String = s
            .conn()
            .query_row(
                "SELECT name FROM samples WHERE dataset = ?1 AND hash = ?2",
                [&ds, &hash],
                |r| r.get(0),
            )
            .map_err(|e| ApiError::from(DataError::from(e)))?;
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
