//! What every handler shares: the home, the token, the executions this server runs, the
//! records on blocking threads, errors as `{"error": "..."}`, and JSON bodies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot, watch};

use crate::exec::cancel::Cancel;
use crate::exec::engine::{Engine, Outcome};
use crate::exec::error::ExecError;
use crate::exec::events::{Event, Listener};
use crate::model::status::ExecStatus;
use crate::store::{Classify, ErrorKind, Store};

/// One status change as sent: the events table's row, `{"id", "execution_id", "workflow",
/// "step" (or null), "status", "reason", "at"}`.
pub use crate::store::EventEntry as Ev;

pub struct App {
    pub home: PathBuf,
    /// The token every request needs, whatever the address bound.
    pub token: String,
    /// Bound to a loopback address: the `Host` of each request must name this machine.
    pub loopback: bool,
    /// The origin (`scheme://host[:port]`) of `--public-url`, also accepted from browsers.
    pub public_origin: Option<String>,
    pub runs: Runs,
    /// Starts under way (checked against `max_concurrent`, not yet running), by workflow.
    pub starting: Mutex<HashMap<String, usize>>,
    /// Released workflows already read and validated, by name: (version, definition, ...).
    pub released: Mutex<HashMap<String, Arc<Released>>>,
    /// Every status change, in the order of the events table.
    pub events: broadcast::Sender<Arc<Ev>>,
    /// Becomes true when the server stops.
    pub stop: watch::Receiver<bool>,
    stopped: std::sync::atomic::AtomicBool,
}

impl App {
    pub fn new(
        home: PathBuf,
        token: String,
        loopback: bool,
        public_origin: Option<String>,
        stop: watch::Receiver<bool>,
    ) -> App {
        App {
            home,
            token,
            loopback,
            public_origin,
            runs: Runs::default(),
            starting: Mutex::new(HashMap::new()),
            released: Mutex::new(HashMap::new()),
            events: broadcast::channel(4096).0,
            stop,
            stopped: Default::default(),
        }
    }

    /// The event poller ends.
    pub fn stopping(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst) || *self.stop.borrow()
    }

    /// Whether an execution is being driven: by this server, or by a process holding its
    /// lock.
    pub fn is_driven(&self, exec: &str) -> bool {
        self.runs.has(exec) || crate::exec::lock::is_held(&self.home, exec)
    }

    pub fn engine(&self) -> Engine {
        Engine::new(&self.home, crate::backends::backend)
    }
}

/// A released workflow as it runs: read from its latest version and validated once.
pub struct Released {
    pub version: i64,
    /// The definition it was read from, to know it again.
    pub text: String,
    pub workflow: crate::model::workflow::Workflow,
    pub base_dir: PathBuf,
}

// ---------------------------------------------------------------------------------------------
// Errors

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// The one place a domain's error becomes a status code: by the kind of failure it is, never
/// by the words of its message.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E: Classify> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError::new(status_of(e.kind()), e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// The records, on blocking threads

thread_local! {
    /// One connection per blocking thread, kept while the thread lives: opening the records
    /// costs more than most requests.
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
}

/// Runs `f` with the records on a blocking thread.
pub async fn with_store<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Store) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let home = app.home.clone();
    tokio::task::spawn_blocking(move || {
        STORE.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|s| s.home != home) {
                *slot = Some(Store::open(&home)?);
            }
            let store = slot.as_ref().expect("opened above");
            f(store)
        })
    })
    .await
    .map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
}

/// The execution record of §3 with its tags, and whether its runner died.
pub fn record_json(app: &App, store: &Store, id: &str) -> ApiResult<Value> {
    let record = store.record(id)?;
    let status = record.status;
    let mut v = record.to_json();
    v["tags"] = json!(store.tags(id)?);
    v["interrupted"] = json!(status == ExecStatus::Running && !app.is_driven(id));
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

/// A request body read as JSON; an empty body is `null`. Too large: 413; not JSON: 400.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        use http_body_util::BodyExt;
        let limit = super::BODY_LIMIT;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > DRAIN_LIMIT) {
            return Err(too_large());
        }
        let mut body = req.into_body();
        let read = async {
            let mut bytes: Vec<u8> = Vec::new();
            let mut seen = 0usize;
            while let Some(frame) = body.frame().await {
                let frame = frame
                    .map_err(|e| ApiError::bad(format!("cannot read the request body: {e}")))?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                seen += data.len();
                if seen <= limit {
                    bytes.extend_from_slice(&data);
                } else if seen > DRAIN_LIMIT {
                    // Beyond this the connection is dropped rather than read.
                    return Err(too_large());
                }
                // Between the two, the rest is read and dropped, so the client gets the 413.
            }
            Ok((bytes, seen))
        };
        // A body that trickles in does not hold a connection for ever.
        let (bytes, seen) = tokio::time::timeout(BODY_TIMEOUT, read)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        BODY_TIMEOUT.as_secs()
                    ),
                )
            })??;
        if seen > limit {
            return Err(too_large());
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad(format!("the request body is not valid JSON: {e}")))
    }
}

/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A body over the limit but under this is read to its end before the 413 is sent.
const DRAIN_LIMIT: usize = 16 << 20;

impl JsonBody {
    /// The body as an object whose keys are among `known` (`null` is an empty object).
    pub fn object(self, known: &[&str]) -> ApiResult<serde_json::Map<String, Value>> {
        let m = match self.0 {
            Value::Null => serde_json::Map::new(),
            Value::Object(m) => m,
            other => {
                return Err(ApiError::bad(format!(
                    "the request body is a JSON object, not {}",
                    kind_of(&other)
                )))
            }
        };
        if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad(format!(
                "the request body has an unknown field `{k}`; its fields are {}",
                known.join(", ")
            )));
        }
        Ok(m)
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value given over the API as the text `-p NAME=VALUE` takes: a string as it is,
/// anything else as its JSON text.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{"NAME": value, ...}` as `NAME=VALUE` texts.
pub fn assignments(field: &str, v: Option<&Value>) -> ApiResult<Vec<(String, String)>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), value_text(v))).collect()),
        Some(other) => Err(ApiError::bad(format!(
            "`{field}` is an object of NAME: value, not {}",
            kind_of(other)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Executions run by this server

/// The executions this server drives, each on a thread of its own with its engine's
/// cancellation token, so that a stop of the server stops them.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<RunsInner>,
    changed: Condvar,
}

#[derive(Default)]
struct RunsInner {
    next: u64,
    live: HashMap<u64, (String, Cancel)>,
    closed: bool,
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a run; `None` once the server is stopping.
    fn add(&self, exec: &str, cancel: Cancel) -> Option<u64> {
        let mut g = self.lock();
        if g.closed {
            return None;
        }
        g.next += 1;
        let n = g.next;
        g.live.insert(n, (exec.to_string(), cancel));
        Some(n)
    }

    fn remove(&self, n: u64) {
        self.lock().live.remove(&n);
        self.changed.notify_all();
    }

    pub fn has(&self, exec: &str) -> bool {
        self.lock().live.values().any(|(e, _)| e == exec)
    }

    /// Cancels the runs of `exec` here; whether there was one.
    pub fn cancel(&self, exec: &str, why: &str) -> bool {
        let g = self.lock();
        let mut any = false;
        for (e, c) in g.live.values() {
            if e == exec {
                c.cancel(why);
                any = true;
            }
        }
        any
    }

    /// No new run starts; every run is cancelled.
    pub fn close_and_cancel(&self, why: &str) {
        let mut g = self.lock();
        g.closed = true;
        for (_, c) in g.live.values() {
            c.cancel(why);
        }
    }

    /// Waits until no run is left, at most `timeout`; how many are left.
    pub fn wait_empty(&self, timeout: Duration) -> usize {
        let end = Instant::now() + timeout;
        let mut g = self.lock();
        while !g.live.is_empty() {
            let now = Instant::now();
            if now >= end {
                break;
            }
            g = self
                .changed
                .wait_timeout(g, end - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        g.live.len()
    }
}

/// Tells a handler when the run it started has taken the execution up (its first status
/// change is recorded), or why it could not.
pub struct Began(Mutex<Option<oneshot::Sender<Result<(), ExecError>>>>);

impl Began {
    pub fn new() -> (Arc<Began>, oneshot::Receiver<Result<(), ExecError>>) {
        let (tx, rx) = oneshot::channel();
        (Arc::new(Began(Mutex::new(Some(tx)))), rx)
    }

    fn send(&self, r: Result<(), ExecError>) {
        let tx = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(r);
        }
    }
}

impl Listener for Began {
    fn on_event(&self, event: &Event) {
        if let Event::Execution { .. } = event {
            self.send(Ok(()));
        }
    }
}

/// Drives `act` on a thread of its own, registered under `exec` until it ends.
pub fn spawn_run(
    app: &Arc<App>,
    exec: &str,
    engine: Engine,
    began: Option<Arc<Began>>,
    what: &'static str,
    act: impl FnOnce(&Engine) -> Result<Outcome, ExecError> + Send + 'static,
) -> ApiResult<()> {
    let Some(n) = app.runs.add(exec, engine.cancel().clone()) else {
        return Err(ApiError::conflict("the server is stopping"));
    };
    let app2 = app.clone();
    let id = exec.to_string();
    let spawned = std::thread::Builder::new()
        .name(format!("wf-{what}-{id}"))
        .spawn(move || {
            // The registration goes whatever happens in the run.
            struct Done<'a>(&'a App, u64);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.runs.remove(self.1);
                }
            }
            let _done = Done(&app2, n);
            match act(&engine) {
                Ok(_) => {
                    if let Some(b) = &began {
                        b.send(Ok(()));
                    }
                }
                Err(e) => match &began {
                    Some(b) if b.0.lock().map(|g| g.is_some()).unwrap_or(false) => b.send(Err(e)),
                    _ => tracing::error!(execution = %id, "{e}"),
                },
            }
        });
    if let Err(e) = spawned {
        app.runs.remove(n);
        return Err(ApiError::internal(format!("cannot start a thread: {e}")));
    }
    Ok(())
}

/// Carries on an execution here (retry, resume, proceed): answers once the run has taken it
/// up, with its record then; an error before that is the answer.
pub async fn carry_on(
    app: &Arc<App>,
    id: String,
    what: &'static str,
    act: impl FnOnce(&Engine, &str) -> Result<Outcome, ExecError> + Send + 'static,
) -> ApiResult<Value> {
    let (began, rx) = Began::new();
    let engine = app.engine().listen(began.clone());
    let exec = id.clone();
    spawn_run(app, &id, engine, Some(began), what, move |e| act(e, &exec))?;
    match rx.await {
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(())) | Err(_) => {
            let app2 = app.clone();
            with_store(app, move |s| record_json(&app2, s, &id)).await
        }
    }
}

/// At start: carries on, in the background, executions recorded `running` whose runner died
/// (their lock is free). One awaiting input is paused on purpose and stays so.
pub fn resume_orphans(app: Arc<App>) {
    let _ = std::thread::Builder::new()
        .name("wf-resume".into())
        .spawn(move || {
            let orphans = |store: &Store| -> Vec<String> {
                store
                    .unfinished(None)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(id, s)| *s == ExecStatus::Running && !app.is_driven(id))
                    .map(|(id, _)| id)
                    .collect()
            };
            let Ok(store) = Store::open(&app.home) else {
                return;
            };
            let first = orphans(&store);
            if first.is_empty() {
                return;
            }
            // A run just recorded by another process takes its lock a moment later.
            std::thread::sleep(Duration::from_millis(500));
            let now = orphans(&store);
            for id in first.into_iter().filter(|id| now.contains(id)) {
                tracing::info!("resuming execution {id}: its runner died");
                let engine = app.engine();
                if let Err(e) = spawn_run(&app, &id, engine, None, "resume", {
                    let id = id.clone();
                    move |e| e.resume(&id)
                }) {
                    tracing::error!(execution = %id, "{}", e.message);
                }
            }
        });
}

/// Whether a path lies in the home (for removing an execution's files).
pub fn inside(home: &Path, p: &Path) -> bool {
    p.starts_with(home) && p != home
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pools::PoolError;
    use crate::services::ServiceError;
    use crate::store::StoreError;

    /// A domain's error answers the status of its kind, with its message as it is.
    #[test]
    fn errors_answer_the_status_of_their_kind() {
        let cases: Vec<(ApiError, StatusCode, &str)> = vec![
            (
                StoreError::NoExecution("e1".into()).into(),
                StatusCode::NOT_FOUND,
                "no execution `e1`; `wf executions` lists them",
            ),
            (
                StoreError::Ambiguous("e".into()).into(),
                StatusCode::BAD_REQUEST,
                "`e` names several executions; give more of the id",
            ),
            (
                PoolError::NotFound {
                    name: "gpu".into(),
                    known: vec!["a".into(), "b".into()],
                }
                .into(),
                StatusCode::NOT_FOUND,
                "no pool `gpu`; the pools are `a`, `b`",
            ),
            (
                PoolError::Exists { name: "a".into() }.into(),
                StatusCode::CONFLICT,
                "a pool `a` is already registered; `wf pool remove a` first to change it",
            ),
            (
                ServiceError::NotFound("s".into()).into(),
                StatusCode::NOT_FOUND,
                "no service `s` in this home; `wf services` lists them",
            ),
            (
                ServiceError::Unavailable("service `s` failed: it died".into()).into(),
                StatusCode::SERVICE_UNAVAILABLE,
                "service `s` failed: it died",
            ),
            (
                ExecError::Busy {
                    exec: "e1".into(),
                    pid: Some(7),
                }
                .into(),
                StatusCode::CONFLICT,
                "execution e1 is being run by another wf process (pid 7)",
            ),
            (
                ExecError::Store(StoreError::NoExecution("e2".into())).into(),
                StatusCode::NOT_FOUND,
                "no execution `e2`; `wf executions` lists them",
            ),
            (
                ExecError::System("no lock".into()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "no lock",
            ),
        ];
        for (e, status, message) in cases {
            assert_eq!((e.status, e.message.as_str()), (status, message));
        }
    }

    /// A message's words decide nothing: a not-found whose text says "invalid", or an
    /// invalid value whose text says "no such", keeps the status of its kind.
    #[test]
    fn a_message_does_not_decide_the_status() {
        let e: ApiError = PoolError::Invalid("no pool is not here".into()).into();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e: ApiError = crate::models::ModelError::NotFound("invalid".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }
}
