//! `GET /api/events`: one server-sent event per status change. The events table is the
//! source of truth (every process commits its status changes there, CLI runs too): one
//! thread polls it every 100 ms for rows after the last seen and broadcasts them; each
//! client replays what it missed (`Last-Event-ID`, or `?since=ID`) from the table, then
//! follows the broadcast, going back to the table whenever it falls behind.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::app::{with_store, ApiError, ApiResult, App, Ev};
use crate::store::Store;

/// How often the events table is read.
const POLL: Duration = Duration::from_millis(100);
/// Rows read at once.
const BATCH: usize = 1000;

fn read_after(store: &Store, after: i64) -> crate::store::Result<Vec<Ev>> {
    store.events_after(after, BATCH)
}

/// Starts the thread that reads the events table and broadcasts each new row.
pub fn start_poller(app: Arc<App>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("wf-events".into())
        .spawn(move || {
            let mut store: Option<Store> = None;
            let mut last: Option<i64> = None;
            let mut complained = false;
            while !app.is_stopping() {
                if store.is_none() {
                    store = Store::open(&app.home).ok();
                }
                let Some(s) = &store else {
                    std::thread::sleep(POLL);
                    continue;
                };
                let after = match last {
                    Some(l) => l,
                    None => match s.last_event_id() {
                        Ok(l) => {
                            last = Some(l);
                            l
                        }
                        Err(_) => {
                            std::thread::sleep(POLL);
                            continue;
                        }
                    },
                };
                match read_after(s, after) {
                    Ok(rows) => {
                        complained = false;
                        let full = rows.len() == BATCH;
                        for ev in rows {
                            last = Some(ev.id);
                            let _ = app.events.send(Arc::new(ev));
                        }
                        if full {
                            continue;
                        }
                    }
                    Err(e) => {
                        if !complained {
                            tracing::error!("cannot read the events: {e}");
                            complained = true;
                        }
                        store = None;
                    }
                }
                std::thread::sleep(POLL);
            }
        })
        .expect("a thread for the events")
}

struct Filter {
    execution: Option<String>,
    workflow: Option<String>,
}

impl Filter {
    fn wants(&self, ev: &Ev) -> bool {
        self.execution
            .as_ref()
            .is_none_or(|x| ev.execution_id.starts_with(x.as_str()))
            && self
                .workflow
                .as_ref()
                .is_none_or(|w| ev.workflow.as_deref() == Some(w.as_str()))
    }
}

fn to_sse(ev: &Ev) -> Event {
    Event::default()
        .id(ev.id.to_string())
        .json_data(ev)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event"))
}

/// `GET /api/events[?since=ID][&execution=ID][&workflow=NAME]`.
pub async fn stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<axum::response::Response> {
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("since").cloned());
    let since: Option<i64> = match given.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(t.parse().map_err(|_| {
            ApiError::bad(format!(
                "`{t}` is not an event id (Last-Event-ID and `since` take the id of an event)"
            ))
        })?),
    };
    let filter = Filter {
        execution: q.get("execution").filter(|s| !s.is_empty()).cloned(),
        workflow: q.get("workflow").filter(|s| !s.is_empty()).cloned(),
    };
    // Subscribed before the table is read, so nothing falls between the two.
    let mut live = app.events.subscribe();
    let mut last = match since {
        Some(s) => s,
        None => with_store(&app, |s| Ok(s.last_event_id()?)).await?,
    };
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(256);
    let mut stop = app.stop.clone();
    tokio::spawn(async move {
        // Replays the table after `last`; false once the client is gone.
        async fn replay(
            app: &Arc<App>,
            last: &mut i64,
            filter: &Filter,
            tx: &mpsc::Sender<Result<Event, Infallible>>,
        ) -> bool {
            loop {
                let after = *last;
                let Ok(rows) = with_store(app, move |s| Ok(read_after(s, after)?)).await else {
                    return true;
                };
                let full = rows.len() == BATCH;
                for ev in &rows {
                    *last = ev.id;
                    if filter.wants(ev) && tx.send(Ok(to_sse(ev))).await.is_err() {
                        return false;
                    }
                }
                if !full {
                    return true;
                }
            }
        }
        if !replay(&app, &mut last, &filter, &tx).await {
            return;
        }
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await.map(|_| ());
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = tx.closed() => return,
                got = live.recv() => match got {
                    Ok(ev) => {
                        if ev.id > last {
                            last = ev.id;
                            if filter.wants(&ev) && tx.send(Ok(to_sse(&ev))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if !replay(&app, &mut last, &filter, &tx).await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    use axum::response::IntoResponse;
    Ok(Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
