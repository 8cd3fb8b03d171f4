//! Notifications (README, "The running state", the manual's SMN): webhooks a workflow's status changes are
//! POSTed to. The records hold an outbox (`deliveries`), filled in the transaction of each
//! status change (`store::outbox`); a `Courier` running in whichever `wf` process runs
//! executions (a runner, the server) sends what is due, retrying with backoff, and records
//! each attempt. A receiver that is down never blocks or fails an execution.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::params;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::store::{now, Classify, ErrorKind, Store, StoreError};

/// Why a notification cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A URL or an event that does not fit: nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Records(#[from] rusqlite::Error),
}

impl Classify for NotifyError {
    fn kind(&self) -> ErrorKind {
        match self {
            NotifyError::Invalid(_) => ErrorKind::Invalid,
            NotifyError::Records(_) => ErrorKind::Internal,
        }
    }
}

/// Why one attempt at a delivery failed; its message is the delivery's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the receiver answered {status} redirecting to {}; redirects are not followed: give the URL it points at", to.as_deref().unwrap_or("(no Location)"))]
    Redirected {
        status: reqwest::StatusCode,
        to: Option<String>,
    },
    #[error("the receiver answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("the receiver did not answer within {} s", ATTEMPT_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot reach the receiver: {0}")]
    Unreachable(reqwest::Error),
}

/// The events a notification may ask for.
pub const EVENTS: &[&str] = &["awaiting_input", "executed", "failed", "stopped"];

/// How many times a delivery is tried before it is recorded failed.
pub const ATTEMPTS: u32 = 5;

/// How long one attempt may take to connect, and in all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a process that ends keeps on delivering what is still pending, whatever there is;
/// the rest is left to the next `wf` process that delivers.
pub const LINGER: Duration = Duration::from_secs(10);

/// A receiver's URL: http:// or https://, with a host.
pub fn check_url(url: &str) -> Result<(), NotifyError> {
    match crate::net::url_problem(url) {
        Some(why) => Err(NotifyError::Invalid(why)),
        None => Ok(()),
    }
}

/// The events asked for: each one of `EVENTS`.
pub fn check_events<S: AsRef<str>>(events: &[S]) -> Result<(), NotifyError> {
    match events.iter().find(|e| !EVENTS.contains(&e.as_ref())) {
        Some(bad) => Err(NotifyError::Invalid(format!(
            "`{}` is not an event; they are {}",
            bad.as_ref(),
            EVENTS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `X-Wf-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// `wf notify add`: checks the URL and events; returns the new notification's id.
pub fn add(
    store: &Store,
    workflow: &str,
    url: &str,
    events: &[String],
    secret: Option<&str>,
) -> Result<i64, NotifyError> {
    check_url(url)?;
    check_events(events)?;
    store.conn().execute(
        "INSERT INTO notifications(workflow, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![workflow, url, events.join(","), secret, now()],
    )?;
    Ok(store.conn().last_insert_rowid())
}

pub fn list(store: &Store, workflow: Option<&str>) -> Result<Vec<Value>, StoreError> {
    let mut stmt = store.conn().prepare(
        "SELECT id, workflow, url, events, secret IS NOT NULL, created_at FROM notifications
          WHERE ?1 IS NULL OR workflow = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([workflow], |r| {
        let events: String = r.get(3)?;
        Ok(json!({
            "id": r.get::<_, i64>(0)?,
            "workflow": r.get::<_, String>(1)?,
            "url": r.get::<_, String>(2)?,
            "events": events.split(',').filter(|e| !e.is_empty()).collect::<Vec<_>>(),
            "signed": r.get::<_, bool>(4)?,
            "created_at": r.get::<_, String>(5)?,
        }))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn remove(store: &Store, id: i64) -> Result<bool, StoreError> {
    Ok(store
        .conn()
        .execute("DELETE FROM notifications WHERE id = ?1", [id])?
        == 1)
}

/// `wf notify log`: deliveries, newest first.
pub fn log(store: &Store, workflow: Option<&str>, limit: usize) -> Result<Vec<Value>, StoreError> {
    let mut stmt = store.conn().prepare(
        "SELECT id, url, body, status, attempts, last_error, created_at, updated_at FROM deliveries
          ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        let body: String = r.get(2)?;
        Ok(json!({
            "id": r.get::<_, String>(0)?,
            "url": r.get::<_, String>(1)?,
            "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
            "status": r.get::<_, String>(3)?,
            "attempts": r.get::<_, i64>(4)?,
            "last_error": r.get::<_, Option<String>>(5)?,
            "created_at": r.get::<_, String>(6)?,
            "updated_at": r.get::<_, String>(7)?,
        }))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let v = row?;
        if workflow.is_none_or(|w| v["body"]["workflow"] == w) {
            out.push(v);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

struct Due {
    id: String,
    url: String,
    secret: Option<String>,
    body: String,
    attempts: u32,
}

fn due(store: &Store) -> Result<Vec<Due>, StoreError> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT id, url, secret, body, attempts FROM deliveries
          WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at LIMIT 64",
    )?;
    let rows = stmt.query_map([now()], |r| {
        Ok(Due {
            id: r.get(0)?,
            url: r.get(1)?,
            secret: r.get(2)?,
            body: r.get(3)?,
            attempts: r.get::<_, i64>(4)? as u32,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn pending(store: &Store) -> Result<i64, StoreError> {
    Ok(store.conn().query_row(
        "SELECT count(*) FROM deliveries WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// One attempt at a delivery. Redirects are not followed (a signed body goes where it was
/// asked, or nowhere): a 3xx is a failed attempt naming where it pointed.
async fn attempt(client: &reqwest::Client, d: &Due) -> Result<(), DeliveryError> {
    let mut req = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-wf-delivery", &d.id)
        .body(d.body.clone());
    if let Some(s) = &d.secret {
        req = req.header("x-wf-signature", signature(s, d.body.as_bytes()));
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().is_redirection() => {
            let to = r
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            Err(DeliveryError::Redirected {
                status: r.status(),
                to,
            })
        }
        Ok(r) => Err(DeliveryError::Refused(r.status())),
        Err(e) if e.is_timeout() => Err(DeliveryError::Timeout),
        Err(e) => Err(DeliveryError::Unreachable(e)),
    }
}

/// Records the outcome of an attempt.
fn record(store: &Store, d: &Due, result: Result<(), DeliveryError>) -> Result<(), StoreError> {
    let attempts = d.attempts + 1;
    match result {
        Ok(()) => {
            store.conn().execute(
                "UPDATE deliveries SET status = 'delivered', attempts = ?2, last_error = NULL, updated_at = ?3 WHERE id = ?1",
                params![d.id, attempts, now()],
            )?;
        }
        Err(e) => {
            let gave_up = attempts >= ATTEMPTS;
            // 0.5 s, 1 s, 2 s, 4 s between attempts.
            let wait = Duration::from_millis(500) * 2u32.pow(attempts.saturating_sub(1));
            let next = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            store.conn().execute(
                "UPDATE deliveries SET status = ?2, attempts = ?3, last_error = ?4, next_at = ?5, updated_at = ?6 WHERE id = ?1",
                params![
                    d.id,
                    if gave_up { "failed" } else { "pending" },
                    attempts,
                    e.to_string(),
                    next.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    now()
                ],
            )?;
        }
    }
    Ok(())
}

/// Sends what is due once, all at the same time, recording each outcome as it comes; returns
/// how many are still pending. Dropped midway, the attempts under way end unrecorded: those
/// stay pending (sent again later: at least once).
async fn send_due(home: &Path, client: &reqwest::Client) -> Result<i64, StoreError> {
    let store = Store::open(home)?;
    let mut sending = tokio::task::JoinSet::new();
    for d in due(&store)? {
        let client = client.clone();
        sending.spawn(async move {
            let r = attempt(&client, &d).await;
            (d, r)
        });
    }
    while let Some(done) = sending.join_next().await {
        if let Ok((d, r)) = done {
            record(&store, &d, r)?;
        }
    }
    pending(&store)
}

/// Delivers the home's due notifications in the background while it lives; when stopped,
/// keeps on at most `linger` for those still pending (the rest wait for the next `wf`
/// process that delivers).
pub struct Courier {
    home: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    /// Told when `stop` is set (a permit is kept if nothing waits yet).
    stopped: Arc<tokio::sync::Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Courier {
    pub fn start(home: &Path, linger: Duration) -> Courier {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(tokio::sync::Notify::new());
        let told = stopped.clone();
        let home: PathBuf = home.to_path_buf();
        let kept = Some(home.clone());
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wf-notify".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                crate::net::install_tls();
                let Ok(client) = reqwest::Client::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(ATTEMPT_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                else {
                    return;
                };
                // Once stopped, the whole of what is left gets `linger`, whatever the batch.
                let deadline = async {
                    if !flag.load(Ordering::SeqCst) {
                        told.notified().await;
                    }
                    tokio::time::sleep(linger).await;
                };
                rt.block_on(async {
                    let mut deadline = std::pin::pin!(deadline);
                    loop {
                        let left = tokio::select! {
                            _ = &mut deadline => break,
                            left = send_due(&home, &client) => left.unwrap_or(0),
                        };
                        if left == 0 && flag.load(Ordering::SeqCst) {
                            break;
                        }
                        let pause = Duration::from_millis(if left > 0 { 100 } else { 250 });
                        tokio::select! {
                            _ = &mut deadline => break,
                            _ = tokio::time::sleep(pause) => {}
                        }
                    }
                });
            })
            .ok();
        Courier {
            home: kept,
            stop,
            stopped,
            thread,
        }
    }

    /// Whether the home has notifications at all (no courier is needed otherwise).
    pub fn needed(home: &Path) -> bool {
        Store::open(home)
            .ok()
            .and_then(|s| {
                s.conn()
                    .query_row(
                        "SELECT (SELECT count(*) FROM notifications) + (SELECT count(*) FROM deliveries WHERE status = 'pending') + (SELECT count(*) FROM workflows WHERE config LIKE '%notifications%')",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                    .ok()
            })
            .is_some_and(|n| n > 0)
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        if let Some(home) = &self.home {
            if let Ok(n) = Store::open(home).and_then(|s| pending(&s)) {
                if n > 0 {
                    eprintln!(
                        "delivering {n} notification{} (the next `wf` that runs sends what is left)",
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
        }
        self.stop.store(true, Ordering::SeqCst);
        self.stopped.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
