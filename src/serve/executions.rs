//! `/api/executions...` and `/api/compare`: execution records, and acting on executions
//! (stop, retry, resume, proceed) through the engine, as `wf stop|retry|resume|proceed` do.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::app::{
    assignments, carry_on, inside, record_json, with_store, ApiError, ApiResult, App, JsonBody,
};
use super::workflows::check_tags;
use crate::exec::engine::Stopping;
use crate::model::status::{ExecStatus, Status};
use crate::store::{StepRow, Store};

fn param<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|s| !s.is_empty())
}

/// `?since=` / `?until=`: an RFC 3339 time or a date, as the records write times (UTC).
fn time_param(q: &HashMap<String, String>, k: &str) -> ApiResult<Option<String>> {
    let Some(t) = param(q, k) else {
        return Ok(None);
    };
    let utc = if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        d.with_timezone(&chrono::Utc)
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    } else {
        return Err(ApiError::bad(format!(
            "`{k}` is `{t}`: give a date (2026-11-29) or an RFC 3339 time (2026-11-29T12:00:00Z)"
        )));
    };
    Ok(Some(
        utc.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    ))
}

/// `GET /api/executions?workflow=&status=&tag=&since=&until=`: summaries, newest first.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let status = match param(&q, "status") {
        None => None,
        Some(s) => Some(ExecStatus::parse(s).map_err(|_| {
            let all: Vec<&str> = ExecStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad(format!(
                "status `{s}`: a status is one of {}",
                all.join(", ")
            ))
        })?),
    };
    let since = time_param(&q, "since")?;
    let until = time_param(&q, "until")?;
    let app2 = app.clone();
    with_store(&app, move |s| {
        let rows = s.summaries(param(&q, "workflow"), status, param(&q, "tag"))?;
        let out: Vec<Value> = rows
            .into_iter()
            .filter(|r| since.as_deref().is_none_or(|t| r.created_at.as_str() >= t))
            .filter(|r| until.as_deref().is_none_or(|t| r.created_at.as_str() < t))
            .map(|r| {
                let interrupted =
                    r.status == ExecStatus::Running && !app2.is_driven(&r.execution_id);
                let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
                v["interrupted"] = json!(interrupted);
                v
            })
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// `GET /api/executions/ID`: the §3 record, with its tags.
pub async fn show(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        Ok(Json(record_json(&app2, s, &id)?))
    })
    .await
}

/// `DELETE /api/executions/ID`: its records and logs; refused while it runs.
pub async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        if app2.is_driven(&id) {
            return Err(ApiError::conflict(format!(
                "execution {id} is running: stop it first (POST /api/executions/{id}/stop)"
            )));
        }
        s.delete_execution(&id)?;
        let logs = s.logs_dir(&id);
        if inside(&s.home, &logs) && !id.is_empty() {
            let _ = std::fs::remove_dir_all(&logs);
        }
        let jobs = crate::store::jobs_dir(&s.home, &id);
        if inside(&s.home, &jobs) && !id.is_empty() {
            let _ = std::fs::remove_dir_all(&jobs);
        }
        let _ = std::fs::remove_file(s.home.join("locks").join(format!("{id}.lock")));
        Ok(Json(json!({ "deleted": id })))
    })
    .await
}

/// The execution's step `step`, or 404.
fn step_row(s: &Store, id: &str, step: &str) -> ApiResult<StepRow> {
    let rows = s.steps(id)?;
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let list = names.join(", ");
    rows.iter()
        .find(|r| r.name == step)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "execution {id} has no step `{step}`; its steps are: {list}"
            ))
        })
}

fn stop_in(app: &Arc<App>, s: &Store, id: &str, step: Option<&str>) -> ApiResult<Value> {
    let id = s.resolve_id(id)?;
    let e = s.execution(&id)?;
    if let Some(st) = step {
        let row = step_row(s, &id, st)?;
        if row.status.is_terminal() {
            return Err(ApiError::conflict(format!(
                "step `{st}` already ended: {}",
                row.status
            )));
        }
    }
    if e.status.has_ended() {
        return Err(ApiError::conflict(format!(
            "execution {id} already ended: {}",
            e.status
        )));
    }
    let how = if app.runs.has(&id) {
        // Run here: its engine's token stops it at once; a step through the records, which
        // its runner reads.
        match step {
            None => {
                app.runs.cancel(&id, "stopped over the API");
            }
            Some(st) => s.request_stop(&id, Some(st))?,
        }
        "asked"
    } else {
        match app.engine().stop(&id, step)?.1 {
            Stopping::Asked => "asked",
            Stopping::Recorded => "recorded",
            Stopping::AlreadyEnded(st) => {
                return Err(ApiError::conflict(format!(
                    "execution {id} already ended: {st}"
                )))
            }
        }
    };
    let mut v = record_json(app, s, &id)?;
    v["stop"] = json!(how);
    Ok(v)
}

/// `POST /api/executions/ID/stop`.
pub async fn stop(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    with_store(&app, move |s| Ok(Json(stop_in(&app2, s, &id, None)?))).await
}

/// `POST /api/executions/ID/steps/STEP/stop`.
pub async fn stop_step(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let app2 = app.clone();
    with_store(&app, move |s| {
        Ok(Json(stop_in(&app2, s, &id, Some(&step))?))
    })
    .await
}

/// The full id, refused (409) while a runner drives the execution.
async fn idle(app: &Arc<App>, id: String) -> ApiResult<(String, Vec<StepRow>, ExecStatus)> {
    let app2 = app.clone();
    with_store(app, move |s| {
        let id = s.resolve_id(&id)?;
        // A runner whose execution has just paused or ended is finishing: give it a moment
        // to let go before calling the execution busy.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while app2.is_driven(&id) {
            let status = s.execution(&id)?.status;
            if status == ExecStatus::Running || std::time::Instant::now() >= deadline {
                return Err(ApiError::conflict(format!(
                    "execution {id} is running: wait for it to end or pause, or stop it"
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let status = s.execution(&id)?.status;
        Ok((id.clone(), s.steps(&id)?, status))
    })
    .await
}

fn retried(r: &StepRow) -> bool {
    matches!(r.status, Status::Failed | Status::Stopped)
}

/// `POST /api/executions/ID/retry`: the failed and stopped steps run again.
pub async fn retry(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (id, rows, _) = idle(&app, id).await?;
    if !rows.iter().any(retried) {
        return Err(ApiError::conflict(format!(
            "execution {id} has no failed or stopped step to retry"
        )));
    }
    Ok(Json(
        carry_on(&app, id, "retry", |e, id| e.retry(id, None)).await?,
    ))
}

/// `POST /api/executions/ID/steps/STEP/retry`.
pub async fn retry_step(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (id, rows, _) = idle(&app, id).await?;
    let Some(row) = rows.iter().find(|r| r.name == step) else {
        return Err(ApiError::not_found(format!(
            "execution {id} has no step `{step}`"
        )));
    };
    if !retried(row) {
        return Err(ApiError::conflict(format!(
            "step `{step}` is {}: only failed or stopped steps are retried",
            row.status
        )));
    }
    Ok(Json(
        carry_on(&app, id, "retry", move |e, id| e.retry(id, Some(&step))).await?,
    ))
}

/// `POST /api/executions/ID/resume`: carries on after its runner died.
pub async fn resume(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let (id, _, status) = idle(&app, id).await?;
    if status.has_ended() {
        return Err(ApiError::conflict(format!(
            "execution {id} already ended {status}: there is nothing to resume{}",
            if status == ExecStatus::Executed {
                ""
            } else {
                "; POST .../retry runs its failed and stopped steps again"
            }
        )));
    }
    Ok(Json(
        carry_on(&app, id, "resume", |e, id| e.resume(id)).await?,
    ))
}

/// `POST /api/executions/ID/steps/STEP/proceed` with `{"parameters": {...}}`.
pub async fn proceed(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let body = body.object(&["parameters"])?;
    let values: Vec<String> = assignments("parameters", body.get("parameters"))?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let (id, rows, _) = idle(&app, id).await?;
    let Some(row) = rows.iter().find(|r| r.name == step) else {
        return Err(ApiError::not_found(format!(
            "execution {id} has no step `{step}`"
        )));
    };
    if row.status != Status::AwaitingInput {
        return Err(ApiError::conflict(format!(
            "step `{step}` is {}, not awaiting input",
            row.status
        )));
    }
    Ok(Json(
        carry_on(&app, id, "proceed", move |e, id| {
            e.proceed(id, &step, &values)
        })
        .await?,
    ))
}

/// `GET /api/executions/ID/steps/STEP/log[?offset=N]`: the step's log as text, from byte
/// `offset`; `X-Log-Size` is its whole size, for the next read.
pub async fn log(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let offset: u64 = match param(&q, "offset") {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::bad(format!("offset `{t}` is not a byte offset")))?,
    };
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        let row = step_row(s, &id, &step)?;
        let path = s.logs_dir(&id).join(format!("{}.log", row.name));
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(_) => {
                let why = match row.status {
                    Status::Waiting | Status::AwaitingInput | Status::Skipped => {
                        format!("it has not run: it is {}", row.status)
                    }
                    _ if row.kind == crate::model::kind::StepKind::Job => {
                        "it was never written".to_string()
                    }
                    _ => format!("{} steps write none", row.kind),
                };
                return Err(ApiError::not_found(format!(
                    "step `{step}` has no log: {why}"
                )));
            }
        };
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut buf = Vec::new();
        if offset < size {
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_to_end(&mut buf))
                .map_err(|e| ApiError::internal(format!("cannot read the log: {e}")))?;
        }
        let size = size.max(offset + buf.len() as u64);
        Ok((
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    "text/plain; charset=utf-8".to_string(),
                ),
                (
                    header::HeaderName::from_static("x-log-size"),
                    size.to_string(),
                ),
            ],
            buf,
        )
            .into_response())
    })
    .await
}

/// `PUT /api/executions/ID/tags` with `{"tags": [...]}`: replaces its tags.
pub async fn set_tags(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let body = body.object(&["tags"])?;
    if !body.contains_key("tags") {
        return Err(ApiError::bad("the body is {\"tags\": [\"...\"]}"));
    }
    let tags = check_tags(body.get("tags"))?;
    with_store(&app, move |s| {
        let id = s.resolve_id(&id)?;
        s.set_tags(&id, &tags)?;
        Ok(Json(json!({ "execution_id": id, "tags": s.tags(&id)? })))
    })
    .await
}

/// `GET /api/compare?ids=A,B`: parameters and metrics side by side, as `wf compare` shows.
pub async fn compare(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let ids: Vec<String> = param(&q, "ids")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() < 2 {
        return Err(ApiError::bad(
            "compare takes two or more executions: ?ids=A,B",
        ));
    }
    with_store(&app, move |s| Ok(Json(compare_in(s, &ids)?))).await
}

fn compare_in(s: &Store, given: &[String]) -> ApiResult<Value> {
    let mut executions = Vec::new();
    let mut params: Map<String, Value> = Map::new();
    let mut metrics: Map<String, Value> = Map::new();
    let n = given.len();
    for (i, g) in given.iter().enumerate() {
        let id = s.resolve_id(g)?;
        let e = s.execution(&id)?;
        let mut ms = Map::new();
        for st in s.steps(&id)? {
            if let Some(m) = st.metrics.as_ref().and_then(Value::as_object) {
                for (k, v) in m {
                    ms.insert(format!("{}.{k}", st.name), v.clone());
                }
            }
        }
        let put = |table: &mut Map<String, Value>, k: &str, v: &Value| {
            let col = table
                .entry(k.to_string())
                .or_insert_with(|| Value::Array(vec![Value::Null; n]));
            col[i] = v.clone();
        };
        if let Some(m) = e.parameters.as_object() {
            for (k, v) in m {
                put(&mut params, k, v);
            }
        }
        for (k, v) in &ms {
            put(&mut metrics, k, v);
        }
        executions.push(json!({
            "execution_id": id,
            "workflow": e.workflow,
            "status": e.status,
            "created_at": e.created_at,
            "ended_at": e.ended_at,
            "experiment_id": e.experiment,
            "parameters": e.parameters,
            "metrics": ms,
        }));
    }
    let differs = |table: &Map<String, Value>, prefix: &str| -> Vec<Value> {
        table
            .iter()
            .filter(|(_, v)| {
                v.as_array()
                    .is_some_and(|a| a.windows(2).any(|w| w[0] != w[1]))
            })
            .map(|(k, _)| json!(format!("{prefix}{k}")))
            .collect()
    };
    let mut d = differs(&params, "parameters.");
    d.extend(differs(&metrics, "metrics."));
    Ok(json!({
        "executions": executions,
        "parameters": params,
        "metrics": metrics,
        "differs": d,
    }))
}
