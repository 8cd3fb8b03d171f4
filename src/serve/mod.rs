//! `wf serve`: the REST API and live events over the records (README, "The running state").
//!
//! | file            | holds                                                              |
//! |-----------------|--------------------------------------------------------------------|
//! | `mod.rs`        | start-up (token, bind, resume of orphans), the router, shutdown     |
//! | `app.rs`        | the shared state, errors as `{"error": ...}`, JSON bodies, the runs |
//! | `auth.rs`       | the API token in the home and the check of each request            |
//! | `workflows.rs`  | `/api/workflows...`: the registry, and starting an execution        |
//! | `executions.rs` | `/api/executions...`, `/api/compare`                               |
//! | `events.rs`     | `/api/events`: the events table polled and sent as server-sent events |
//! | `listen.rs`     | connections: head timeout, idle timeout, how many at once          |
//!
//! Handlers are thin: each opens the records on a blocking thread (one connection kept per
//! thread) and calls what the CLI calls. Executions run in this process, each driven by an
//! `Engine` on a thread of its own; their status changes reach `/api/events` through the
//! records, like those of any other process.

mod app;
mod auth;
mod console;
mod events;
mod executions;
mod listen;
mod workflows;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::notify::NotifyError;
use app::{ApiError, App};

/// Request bodies larger than this are refused (413).
const BODY_LIMIT: usize = 1 << 20;

/// How long a stop waits for the executions this server runs to record their end.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Serves until interrupted; the exit status.
pub fn run(home: &Path, bind: &str, show_token: bool, public_url: Option<&str>) -> i32 {
    crate::logging::init(crate::logging::Style::Serve);
    if let Err(e) = crate::store::open_home(home) {
        eprintln!(
            "error: cannot use the home folder `{}`: {e}",
            home.display()
        );
        return 1;
    }
    let public = match public_url.map(check_public_url).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --public-url: {e}");
            return 2;
        }
    };
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let token = match auth::token(&home) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if show_token {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{token}").and_then(|_| out.flush());
        return 0;
    }
    // The records open (and migrate) once before anything listens.
    if let Err(e) = crate::store::Store::open(&home) {
        eprintln!("error: {e}");
        return 1;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("wf-serve")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the server's runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(serve(home, bind, token, public));
    // Blocking threads of the runtime (open record connections) end with it.
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

/// `--public-url`: an http:// or https:// URL with a host, without its trailing `/`.
fn check_public_url(url: &str) -> Result<String, NotifyError> {
    crate::notify::check_url(url)?;
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| NotifyError::Invalid(format!("`{url}` is not a URL: {e}")))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(NotifyError::Invalid(format!(
            "`{url}` has a query or fragment; give where the console is, such as https://wf.example.org"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The address other machines reach this server at, bound to `addr`: the address itself
/// when specific; bound to every address (0.0.0.0, ::), the machine's name when it resolves to
/// an address beyond loopback, else the address this machine reaches others from.
/// When none is known, `Err` holds the best guess and why it is one.
fn reachable_url(addr: SocketAddr) -> Result<String, (String, String)> {
    if !addr.ip().is_unspecified() {
        return Ok(format!("http://{addr}"));
    }
    let port = addr.port();
    let name = host_name();
    if let Some(n) = &name {
        use std::net::ToSocketAddrs;
        let beyond_loopback = (n.as_str(), port)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.any(|a| !a.ip().is_loopback() && !a.ip().is_unspecified()));
        if beyond_loopback {
            return Ok(format!("http://{n}:{port}"));
        }
    }
    // No datagram is sent: connecting a UDP socket only picks the route's local address.
    let routed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    if let Some(ip) = routed {
        return Ok(format!("http://{}", SocketAddr::new(ip, port)));
    }
    // Nothing known to reach it from elsewhere: its name, else loopback, never 0.0.0.0.
    let fallback = format!("http://{}:{port}", name.as_deref().unwrap_or("127.0.0.1"));
    Err((
        fallback,
        format!(
            "no address of this machine is known to reach it from elsewhere{}",
            name.map(|n| format!(" (its name `{n}` resolves to loopback only)"))
                .unwrap_or_default()
        ),
    ))
}

/// The machine's host name, if it has one.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most the length given into the buffer.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty() && name != "localhost").then_some(name)
}

async fn serve(home: std::path::PathBuf, bind: &str, token: String, public: Option<String>) -> i32 {
    let listener = match tokio::net::TcpListener::bind(bind).await {
        Ok(l) => l,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::InvalidInput {
                " (give HOST:PORT, such as 127.0.0.1:7878, or 0.0.0.0:7878 for other machines)"
            } else {
                ""
            };
            eprintln!("error: cannot listen on {bind}: {e}{hint}");
            return if e.kind() == std::io::ErrorKind::InvalidInput {
                2
            } else {
                1
            };
        }
    };
    let addr: SocketAddr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot listen on {bind}: {e}");
            return 1;
        }
    };
    let loopback = addr.ip().is_loopback();
    // Where the console is reached: notifications point there, from whichever process sends
    // them, so it is kept in the home.
    let console = match public.clone() {
        Some(p) => p,
        None => match reachable_url(addr) {
            Ok(u) => u,
            Err((guess, why)) => {
                tracing::warn!("{why}; notifications point at {guess} unless `wf serve --public-url URL` says where the console is");
                guess
            }
        },
    };
    if let Err(e) = crate::store::private_write(
        &home.join(crate::store::CONSOLE_URL_FILE),
        format!("{console}\n").as_bytes(),
    ) {
        tracing::warn!("cannot keep the console's address in the home: {e}");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = Arc::new(App::new(
        home,
        token.clone(),
        loopback,
        public.as_deref().and_then(origin_of),
        stop_rx.clone(),
    ));
    let poller = events::start_poller(app.clone());
    // Notifications the status changes cause (of executions run here or anywhere) are sent
    // while the server lives.
    let courier = crate::notify::Courier::start(&app.home, crate::notify::LINGER);
    app::resume_orphans(app.clone());

    let router = routes(app.clone());
    let cap = listen::connection_cap();
    tracing::info!("serving the API at http://{addr} (Ctrl-C stops)");
    // Printed, not logged: the token is a secret, and logs may be gathered elsewhere.
    eprintln!("the console: {console}/?token={token}");
    tracing::info!(
        "every request needs the token: `Authorization: Bearer TOKEN`, or the console opened once at the address above; `wf serve --show-token` prints it"
    );
    let signalled = async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::error!("cannot watch for signals; stop the server with kill -9");
            return std::future::pending().await;
        };
        let why = tokio::select! {
            _ = int.recv() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!(
            "stopping ({why}): no new requests; executions run here are stopped and recorded"
        );
        // Server-sent event streams end now, so the server can finish its connections.
        let _ = stop_tx.send(true);
    };
    listen::serve(listener, router, cap, signalled).await;
    // Whatever ended the serving, executions run here are stopped and their end recorded.
    let left = {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            app.runs.close_and_cancel("stopped: the server stopped");
            app.runs.wait_empty(STOP_GRACE)
        })
        .await
        .unwrap_or(0)
    };
    app.stopping();
    let _ = tokio::task::spawn_blocking(move || {
        drop(courier);
        poller.join()
    })
    .await;
    if left > 0 {
        tracing::error!(
            "{left} execution(s) did not record their end within {}s; `wf resume EXEC` carries them on",
            STOP_GRACE.as_secs()
        );
    }
    0
}

fn routes(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/api/workflows", get(workflows::list))
        .route(
            "/api/workflows/{name}",
            get(workflows::show).delete(workflows::delete),
        )
        .route("/api/workflows/{name}/config", put(workflows::set_config))
        .route("/api/workflows/{name}/copy", post(workflows::copy))
        .route("/api/workflows/{name}/executions", post(workflows::start))
        .route("/api/executions", get(executions::list))
        .route(
            "/api/executions/{id}",
            get(executions::show).delete(executions::delete),
        )
        .route("/api/executions/{id}/stop", post(executions::stop))
        .route("/api/executions/{id}/retry", post(executions::retry))
        .route("/api/executions/{id}/resume", post(executions::resume))
        .route("/api/executions/{id}/rerun", post(workflows::rerun))
        .route("/api/executions/{id}/tags", put(executions::set_tags))
        .route(
            "/api/executions/{id}/steps/{step}/proceed",
            post(executions::proceed),
        )
        .route(
            "/api/executions/{id}/steps/{step}/stop",
            post(executions::stop_step),
        )
        .route(
            "/api/executions/{id}/steps/{step}/retry",
            post(executions::retry_step),
        )
        .route(
            "/api/executions/{id}/steps/{step}/log",
            get(executions::log),
        )
        .route("/api/events", get(events::stream))
        .route("/api/compare", get(executions::compare))
        .route("/api/flavors", get(console::flavors))
        .route("/api/executions/{id}/definition", get(console::definition))
        .route(
            "/api/executions/{id}/layout",
            get(console::execution_layout),
        )
        .route(
            "/api/workflows/{name}/layout",
            get(console::workflow_layout),
        )
        .route(
            "/api/executions/{id}/steps/{step}/metrics",
            get(console::metrics),
        )
        .route("/api/datasets", get(console::datasets))
        .route("/api/models", get(console::models))
        .route("/api/services", get(console::services))
        .route("/api/labels/{dataset}/{task}", get(console::task))
        .route(
            "/api/labels/{dataset}/{task}/samples/{id}",
            get(console::sample).put(console::set_sample),
        )
        .route("/", get(console::index))
        .route("/console/{*file}", get(console::file))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed);
    api.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::check,
        ))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the API is under /api: /api/workflows, /api/executions, /api/events, /api/compare")
}

async fn not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
    )
}
