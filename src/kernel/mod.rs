//! `wf kernel`: a Jupyter kernel for `wf` scripts (README, "Notebooks"). It speaks the messaging
//! protocol 5.3 over ZeroMQ (the pure-Rust `zeromq` crate) and evaluates cells in one
//! `session::cell::Session`, the same session the REPL drives: variables, functions, the
//! workflow and the debug execution persist from cell to cell.
//!
//! | file         | holds                                                           |
//! |--------------|-----------------------------------------------------------------|
//! | `mod.rs`     | the sockets, the channels' loops and the evaluating thread       |
//! | `wire.rs`    | the connection file, message frames, HMAC-SHA256 signatures      |
//! | `html.rs`    | rich display: workflows (DAG as SVG), steps, records, `next()`   |
//! | `inspect.rs` | `inspect_request`: a `wf.*` name's keywords, types and defaults  |
//! | `install.rs` | `wf kernel install`: the kernel spec and its logos               |
//!
//! Threads: the channels run as tokio tasks; cells are evaluated on one thread of their own
//! (Rhai and the phases it runs block), which owns the session. The control channel stays
//! free while a cell runs, so `interrupt_request` and `shutdown_request` reach it.

pub mod html;
pub mod inspect;
pub mod install;
pub mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::exec::error::exit;
use crate::session::cell::{Interrupter, Output, Session};
use crate::session::shown::Shown;
use crate::session::Said;
use wire::{Connection, Message, Signer};

/// The name cells go by in diagnostics.
const CELL: &str = "<cell>";

macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "wf kernel: {}", format_args!($($arg)*));
    }};
}

/// Why the kernel cannot start, or cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A file of Jupyter's cannot be read or written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The connection file is not one this kernel can use.
    #[error("the connection file `{}` {why}", path.display())]
    Connection { path: PathBuf, why: String },
    /// A channel's socket cannot be bound.
    #[error("cannot listen on {endpoint} for the {channel} channel: {why}")]
    Bind {
        endpoint: String,
        channel: &'static str,
        why: String,
    },
    /// Where to install the spec cannot be found.
    #[error("{0}")]
    Place(String),
}

/// Runs the kernel until a `shutdown_request` (or its parent's death); the exit status.
pub fn run(home: &Path, connection_file: &Path, storage: Vec<String>) -> i32 {
    let conn = match Connection::read(connection_file) {
        Ok(c) => c,
        Err(e) => {
            log!("error: {e}");
            return exit::USAGE;
        }
    };
    let rt = match crate::exec::engine::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            log!("error: {e}");
            return exit::FAILED;
        }
    };
    rt.block_on(serve(conn, home.to_path_buf(), storage))
}

/// Sends messages on IOPub (through the task that owns the socket), with this kernel's
/// session id.
#[derive(Clone)]
struct Publisher {
    tx: mpsc::UnboundedSender<Message>,
    session: Arc<str>,
}

impl Publisher {
    fn send(&self, msg_type: &str, parent: &Message, content: Value) {
        let mut m = Message::new(&self.session, msg_type, Some(parent), content);
        m.ids = vec![Bytes::from(format!("kernel.{}.{msg_type}", self.session))];
        let _ = self.tx.send(m);
    }

    fn status(&self, parent: &Message, state: &str) {
        self.send("status", parent, json!({ "execution_state": state }));
    }

    fn stream(&self, parent: &Message, name: &str, text: &str) {
        if !text.is_empty() {
            self.send("stream", parent, json!({ "name": name, "text": text }));
        }
    }
}

/// Work for the evaluating thread.
enum Job {
    Execute {
        code: String,
        /// Nothing is published for a silent request.
        silent: bool,
        parent: Box<Message>,
        reply: oneshot::Sender<Output>,
    },
    Complete {
        code: String,
        pos: usize,
        reply: oneshot::Sender<(usize, Vec<String>)>,
    },
    Inspect {
        code: String,
        pos: usize,
        reply: oneshot::Sender<Option<(String, String)>>,
    },
}

/// What the channels share.
struct Kernel {
    session: Arc<str>,
    signer: Signer,
    iopub: Publisher,
    jobs: std::sync::mpsc::Sender<Job>,
    /// Set once the session is built (the channels answer before that).
    interrupter: std::sync::OnceLock<Interrupter>,
    /// A cell is being evaluated.
    busy: Arc<AtomicBool>,
}

async fn bind<S: Socket>(
    mut socket: S,
    conn: &Connection,
    port: u16,
    channel: &'static str,
) -> Result<S, KernelError> {
    let endpoint = conn.endpoint(port);
    match socket.bind(&endpoint).await {
        Ok(_) => Ok(socket),
        Err(e) => Err(KernelError::Bind {
            endpoint,
            channel,
            why: e.to_string(),
        }),
    }
}

async fn serve(conn: Connection, home: PathBuf, storage: Vec<String>) -> i32 {
    // The session is built on its own thread while the sockets are bound.
    let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
    let (ready_tx, ready_rx) = oneshot::channel::<Interrupter>();
    let (iopub_tx, mut iopub_rx) = mpsc::unbounded_channel::<Message>();
    let session_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
    let iopub = Publisher {
        tx: iopub_tx,
        session: session_id.clone(),
    };
    let busy = Arc::new(AtomicBool::new(false));
    {
        let iopub = iopub.clone();
        let busy = busy.clone();
        let spawned = std::thread::Builder::new()
            .name("wf-kernel-cells".into())
            .spawn(move || evaluate(home, storage, job_rx, ready_tx, iopub, busy));
        if let Err(e) = spawned {
            log!("error: cannot start the evaluating thread: {e}");
            return exit::FAILED;
        }
    }

    let sockets = async {
        Ok::<_, KernelError>((
            bind(zeromq::RouterSocket::new(), &conn, conn.shell_port, "shell").await?,
            bind(
                zeromq::RouterSocket::new(),
                &conn,
                conn.control_port,
                "control",
            )
            .await?,
            bind(zeromq::RouterSocket::new(), &conn, conn.stdin_port, "stdin").await?,
            bind(zeromq::PubSocket::new(), &conn, conn.iopub_port, "IOPub").await?,
            bind(zeromq::RepSocket::new(), &conn, conn.hb_port, "heartbeat").await?,
        ))
    };
    let (shell, control, stdin, mut pub_socket, mut heartbeat) = match sockets.await {
        Ok(s) => s,
        Err(e) => {
            log!("error: {e}");
            return exit::FAILED;
        }
    };
    let signer = Signer::new(&conn.key);

    // IOPub: one task owns the socket; everyone else sends through the channel.
    {
        let signer = signer.clone();
        tokio::spawn(async move {
            while let Some(m) = iopub_rx.recv().await {
                if let Ok(frames) = ZmqMessage::try_from(m.to_frames(&signer)) {
                    let _ = pub_socket.send(frames).await;
                }
            }
        });
    }
    // Heartbeat: echo.
    tokio::spawn(async move {
        while let Ok(m) = heartbeat.recv().await {
            if heartbeat.send(m).await.is_err() {
                break;
            }
        }
    });
    // Nothing is asked on stdin (cells never prompt); the socket is bound so clients connect.
    let _stdin = stdin;

    let kernel = Arc::new(Kernel {
        session: session_id,
        signer,
        iopub,
        jobs,
        interrupter: std::sync::OnceLock::new(),
        busy,
    });
    // The session is built meanwhile; requests that need it wait in the jobs' queue, the
    // others (kernel_info_request first) are answered at once.
    {
        let kernel = kernel.clone();
        tokio::spawn(async move {
            match ready_rx.await {
                Ok(i) => {
                    let _ = kernel.interrupter.set(i);
                }
                Err(_) => {
                    log!("error: the session could not be started");
                    std::process::exit(exit::FAILED);
                }
            }
        });
    }
    watch_signals(kernel.clone());
    watch_parent(kernel.clone());
    tokio::spawn(channel(kernel.clone(), control, "control"));
    channel(kernel, shell, "shell").await;
    exit::OK
}

impl Kernel {
    /// Stops the cell under way: its evaluation and its phase.
    fn interrupt(&self) {
        if let Some(i) = self.interrupter.get() {
            i.interrupt();
        }
    }
}

/// The shell or control channel: requests one at a time, each between `busy` and `idle`.
async fn channel(kernel: Arc<Kernel>, mut socket: zeromq::RouterSocket, name: &'static str) {
    let mut count: u64 = 0;
    // After a cell fails, the requests that were already queued behind it (a notebook's
    // "Run All") are taken off the socket before the error is replied, and the cells among
    // them are aborted, as `stop_on_error` asks; requests sent after the reply run again.
    let mut queued: std::collections::VecDeque<(Vec<Bytes>, bool)> = Default::default();
    loop {
        let (frames, abort) = match queued.pop_front() {
            Some(q) => q,
            None => match socket.recv().await {
                Ok(m) => (m.into_vec(), false),
                Err(e) => {
                    log!("the {name} channel stopped: {e}");
                    return;
                }
            },
        };
        let msg = match Message::parse(frames, &kernel.signer) {
            Ok(m) => m,
            Err(e) => {
                log!("dropped a message on the {name} channel: {e}");
                continue;
            }
        };
        kernel.iopub.status(&msg, "busy");
        let replies = if abort && msg.msg_type() == "execute_request" {
            vec![(
                "execute_reply".to_string(),
                json!({ "status": "aborted", "execution_count": count }),
            )]
        } else {
            let replies = handle(&kernel, &msg, &mut count).await;
            let failed = replies
                .iter()
                .any(|(t, c)| t == "execute_reply" && c["status"] == "error");
            if failed && msg.content["stop_on_error"].as_bool().unwrap_or(true) {
                // A zero timeout takes only what has already arrived.
                while let Ok(Ok(m)) = tokio::time::timeout(Duration::ZERO, socket.recv()).await {
                    queued.push_back((m.into_vec(), true));
                }
            }
            replies
        };
        for (msg_type, content) in replies {
            let reply = Message::new(&kernel.session, &msg_type, Some(&msg), content);
            if let Ok(frames) = ZmqMessage::try_from(reply.to_frames(&kernel.signer)) {
                if let Err(e) = socket.send(frames).await {
                    log!("cannot reply on the {name} channel: {e}");
                }
            }
        }
        kernel.iopub.status(&msg, "idle");
        if matches!(msg.msg_type(), "shutdown_request") {
            let restart = msg.content["restart"].as_bool().unwrap_or(false);
            shut_down(&kernel, restart).await;
        }
    }
}

/// The replies to one request (none for a message that is not a request).
async fn handle(kernel: &Kernel, msg: &Message, count: &mut u64) -> Vec<(String, Value)> {
    let c = &msg.content;
    let reply = |t: &str, v: Value| vec![(t.to_string(), v)];
    match msg.msg_type() {
        "kernel_info_request" => reply("kernel_info_reply", kernel_info()),
        "execute_request" => execute(kernel, msg, count).await,
        "complete_request" => {
            let code = c["code"].as_str().unwrap_or("").to_string();
            let pos = byte_offset(&code, c["cursor_pos"].as_u64().unwrap_or(0) as usize);
            let (tx, rx) = oneshot::channel();
            let _ = kernel.jobs.send(Job::Complete {
                code: code.clone(),
                pos,
                reply: tx,
            });
            let (start, matches) = rx.await.unwrap_or((pos, Vec::new()));
            reply(
                "complete_reply",
                json!({
                    "status": "ok",
                    "matches": matches,
                    "cursor_start": code[..start.min(code.len())].chars().count(),
                    "cursor_end": code[..pos].chars().count(),
                    "metadata": {},
                }),
            )
        }
        "inspect_request" => {
            let code = c["code"].as_str().unwrap_or("").to_string();
            let pos = byte_offset(&code, c["cursor_pos"].as_u64().unwrap_or(0) as usize);
            let (tx, rx) = oneshot::channel();
            let _ = kernel.jobs.send(Job::Inspect {
                code,
                pos,
                reply: tx,
            });
            let found = rx.await.ok().flatten();
            let data = match &found {
                Some((text, html)) => json!({ "text/plain": text, "text/html": html }),
                None => json!({}),
            };
            reply(
                "inspect_reply",
                json!({ "status": "ok", "found": found.is_some(), "data": data, "metadata": {} }),
            )
        }
        "is_complete_request" => {
            let code = c["code"].as_str().unwrap_or("");
            if crate::session::complete::is_incomplete(code) {
                reply(
                    "is_complete_reply",
                    json!({ "status": "incomplete", "indent": "  " }),
                )
            } else {
                reply("is_complete_reply", json!({ "status": "complete" }))
            }
        }
        "interrupt_request" => {
            kernel.interrupt();
            reply("interrupt_reply", json!({ "status": "ok" }))
        }
        "shutdown_request" => {
            // Stop what runs now; the channel ends the process once the reply is out.
            kernel.interrupt();
            let restart = c["restart"].as_bool().unwrap_or(false);
            reply(
                "shutdown_reply",
                json!({ "status": "ok", "restart": restart }),
            )
        }
        "comm_info_request" => reply("comm_info_reply", json!({ "status": "ok", "comms": {} })),
        "history_request" => reply("history_reply", json!({ "status": "ok", "history": [] })),
        other if other.ends_with("_request") => {
            log!("no handler for `{other}`");
            let t = format!("{}_reply", other.trim_end_matches("_request"));
            reply(
                &t,
                json!({
                    "status": "error",
                    "ename": "UnknownRequest",
                    "evalue": format!("this kernel does not handle `{other}`"),
                    "traceback": [],
                }),
            )
        }
        _ => Vec::new(),
    }
}

fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": wire::PROTOCOL_VERSION,
        "implementation": "wf",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rhai",
            "version": "1.27",
            "mimetype": "text/x-rhai",
            "file_extension": ".rhai",
            "pygments_lexer": "javascript",
            "codemirror_mode": "javascript",
        },
        "banner": format!(
            "wf {}: ML workflows as code. Cells are Rhai; `wf` is the SDK; `:help` lists commands.",
            env!("CARGO_PKG_VERSION")
        ),
        "help_links": [],
        "debugger": false,
    })
}

/// Code points (what Jupyter counts) to a byte offset into `code`.
fn byte_offset(code: &str, chars: usize) -> usize {
    code.char_indices()
        .nth(chars)
        .map_or(code.len(), |(i, _)| i)
}

async fn execute(kernel: &Kernel, msg: &Message, count: &mut u64) -> Vec<(String, Value)> {
    let c = &msg.content;
    let code = c["code"].as_str().unwrap_or("").to_string();
    let silent = c["silent"].as_bool().unwrap_or(false);
    let store = c["store_history"].as_bool().unwrap_or(!silent);
    if !silent && store {
        *count += 1;
    }
    let n = *count;
    let pubr = &kernel.iopub;
    if !silent {
        pubr.send(
            "execute_input",
            msg,
            json!({ "code": code, "execution_count": n }),
        );
    }
    let out = if code.trim().is_empty() {
        Output::default()
    } else {
        let (tx, rx) = oneshot::channel();
        let _ = kernel.jobs.send(Job::Execute {
            code: code.clone(),
            silent,
            parent: Box::new(msg.clone()),
            reply: tx,
        });
        match rx.await {
            Ok(o) => o,
            Err(_) => Output {
                diagnostics: "error: the session has stopped\n".into(),
                failed: true,
                ..Output::default()
            },
        }
    };
    let command = code.trim_start().starts_with(':');
    if !silent {
        for said in &out.said {
            publish_said(pubr, msg, said);
        }
    }
    // A `:` command says its errors in `err`, starting with `error`.
    let (failed, diagnostics) = if command {
        let failed = out.err.trim_start().starts_with("error");
        if !failed && !silent {
            pubr.stream(msg, "stdout", &out.err);
        }
        (failed, out.err.clone())
    } else {
        (out.failed, out.diagnostics.clone())
    };
    if failed {
        let evalue = diagnostics
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("error")
            .trim_start_matches("error: ")
            .to_string();
        let traceback: Vec<&str> = diagnostics.lines().collect();
        let error = json!({ "ename": "error", "evalue": evalue, "traceback": traceback });
        if !silent {
            pubr.send("error", msg, error.clone());
        }
        let mut content = error;
        content["status"] = json!("error");
        content["execution_count"] = json!(n);
        return vec![("execute_reply".to_string(), content)];
    }
    if !silent && !command {
        pubr.stream(msg, "stderr", &diagnostics);
    }
    if !silent && !out.out.is_empty() {
        let mut data = json!({ "text/plain": out.out.trim_end_matches('\n') });
        match &out.shown {
            Some(Shown::Workflow(w)) => data["text/html"] = json!(html::workflow(w)),
            Some(Shown::Step(s)) => data["text/html"] = json!(html::step(s)),
            Some(Shown::Record(r)) => {
                // The record's map, as Rhai prints it, is long: a line per step reads better.
                data["text/plain"] = json!(html::record_text(r).trim_end());
                data["text/html"] = json!(html::record(r));
            }
            _ => {}
        }
        pubr.send(
            "execute_result",
            msg,
            json!({ "execution_count": n, "data": data, "metadata": {} }),
        );
    }
    vec![(
        "execute_reply".to_string(),
        json!({
            "status": "ok",
            "execution_count": n,
            "user_expressions": {},
            "payload": [],
        }),
    )]
}

/// What the development state said: text as the cell's stream, `next()`'s report as a display.
fn publish_said(pubr: &Publisher, parent: &Message, said: &Said) {
    match said {
        Said::Text(t) => pubr.stream(parent, "stdout", t),
        Said::Next(v) => pubr.send(
            "display_data",
            parent,
            json!({
                "data": { "text/plain": v.text(), "text/html": html::next(v) },
                "metadata": {},
                "transient": {},
            }),
        ),
    }
}

/// The evaluating thread: owns the session and takes jobs until the kernel ends.
fn evaluate(
    home: PathBuf,
    storage: Vec<String>,
    jobs: std::sync::mpsc::Receiver<Job>,
    ready: oneshot::Sender<Interrupter>,
    iopub: Publisher,
    busy: Arc<AtomicBool>,
) {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut session = Session::named(home, dir, storage, false, CELL);
    if ready.send(session.interrupter()).is_err() {
        return;
    }
    for job in jobs {
        match job {
            Job::Execute {
                code,
                silent,
                parent,
                reply,
            } => {
                busy.store(true, Ordering::SeqCst);
                if silent {
                    session.print_to(Some(Box::new(|_: &str| {})));
                    session.dev.report_live(Some(Box::new(|_: &Said| {})));
                    let out = session.input(&code);
                    session.print_to(None);
                    session.dev.report_live(None);
                    busy.store(false, Ordering::SeqCst);
                    let _ = reply.send(out);
                    continue;
                }
                // `print` goes to the cell's stream as it happens.
                let to = iopub.clone();
                let p = parent.clone();
                session.print_to(Some(Box::new(move |text: &str| {
                    to.stream(&p, "stdout", text)
                })));
                // What the development state says, and a run's progress, as it happens.
                let to = iopub.clone();
                let p = parent.clone();
                session.dev.report_live(Some(Box::new(move |said: &Said| {
                    publish_said(&to, &p, said)
                })));
                let out = session.input(&code);
                session.print_to(None);
                session.dev.report_live(None);
                busy.store(false, Ordering::SeqCst);
                let _ = reply.send(out);
            }
            Job::Complete { code, pos, reply } => {
                let (vars, functions) = session.known();
                let known = crate::session::complete::Known {
                    vars: vars.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
                    functions,
                };
                let _ = reply.send(crate::session::complete::complete(&code, pos, &known));
            }
            Job::Inspect { code, pos, reply } => {
                let (vars, _) = session.known();
                let _ = reply.send(inspect::inspect(&code, pos, &vars));
            }
        }
    }
}

/// Ends the process: stops the cell under way (its phase and the processes it started),
/// waits for it a while, then exits.
async fn shut_down(kernel: &Kernel, restart: bool) {
    let _ = restart;
    kernel.interrupt();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while kernel.busy.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        kernel.interrupt();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the last replies leave.
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::process::exit(exit::OK);
}

/// SIGINT interrupts the cell (as `interrupt_request` does); SIGTERM and SIGHUP end the
/// kernel the way `shutdown_request` does.
fn watch_signals(kernel: Arc<Kernel>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        log!("cannot watch signals: Ctrl-C will not interrupt cells");
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = int.recv() => kernel.interrupt(),
                Some(()) = term.recv() => shut_down(&kernel, false).await,
                Some(()) = hup.recv() => shut_down(&kernel, false).await,
                else => return,
            }
        }
    });
}

/// Ends the kernel when the process that started it has gone (it would be left behind).
fn watch_parent(kernel: Arc<Kernel>) {
    // SAFETY: getppid has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() };
    if parent <= 1 {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                shut_down(&kernel, false).await;
            }
        }
    });
}
