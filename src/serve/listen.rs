//! The connections of `wf serve`: each request's head must arrive within `HEAD_TIMEOUT`, which
//! is also how long a kept-alive connection may sit idle between requests; at most a fixed
//! number of connections are served at once (the rest wait in the listen queue), fewer when the
//! process's open-file limit would not hold that many. A response being sent (a server-sent
//! event stream) is not idle: it lasts as long as the client reads it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How long a request's head (request line and headers) may take to arrive, counted from when
/// the connection is ready for it: opened, or done with the previous request.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(15);

/// At most this many connections at once.
pub const MAX_CONNECTIONS: usize = 512;

/// Open files kept for everything else the server does (the records, logs, steps' pipes).
const RESERVED_FILES: libc::rlim_t = 256;

/// How long a stop waits for the connections open to finish their request.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Raises the soft open-file limit towards what the connections need (within the hard limit);
/// how many connections fit under it.
pub fn connection_cap() -> usize {
    let want: libc::rlim_t = MAX_CONNECTIONS as libc::rlim_t + RESERVED_FILES * 2;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return MAX_CONNECTIONS;
    }
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(lim.rlim_max),
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    cap_for(lim.rlim_cur)
}

/// The connections an open-file limit leaves room for.
fn cap_for(open_files: libc::rlim_t) -> usize {
    (open_files.saturating_sub(RESERVED_FILES) as usize).clamp(16, MAX_CONNECTIONS)
}

/// Serves `router` on `listener`, `cap` connections at a time, until `stop` completes; then
/// closes idle connections, lets those in a request finish (within `CLOSE_GRACE`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cap: usize,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(cap));
    let (close_tx, close_rx) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    let mut told_full = false;
    loop {
        let slot = tokio::select! {
            _ = &mut stop => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => match a {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before it was taken): the
                    // listen queue keeps the rest until a connection ends.
                    if !told_full {
                        tracing::warn!("cannot take a connection: {e}");
                        told_full = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        told_full = false;
        let service = TowerToHyperService::new(router.clone());
        let mut close = close_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT);
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = close.wait_for(|c| *c) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    // Every slot back: every connection ended.
    let _ = tokio::time::timeout(CLOSE_GRACE, slots.acquire_many(cap as u32)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connections_fit_under_the_open_file_limit() {
        assert_eq!(cap_for(1 << 20), MAX_CONNECTIONS);
        assert_eq!(cap_for(1024), MAX_CONNECTIONS);
        assert_eq!(cap_for(512), 256);
        assert_eq!(cap_for(100), 16);
    }
}
