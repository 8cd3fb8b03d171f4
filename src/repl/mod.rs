//! `wf repl`: the development state at a terminal. Statements and expressions are evaluated
//! one input at a time, keeping variables and functions, so a workflow is built up line by
//! line; `workflow.debug(...)` and `workflow.next()` step through it phase by phase.
//!
//! | file          | holds                                                     |
//! |---------------|-----------------------------------------------------------|
//! | `mod.rs`      | the session (evaluation, `:` commands) and the line editor  |
//! | `complete.rs` | tab completion and multi-line detection                     |

pub mod complete;

/// Prints to stderr; a closed stderr is ignored.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `err!` with a newline.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, Scope, AST};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::bindings::{Bindings, EnumNs, Ns};
use crate::exec::prepare::Request;
use crate::model::val::{EnumVal, Obj};
use crate::script::diag::{render, Sink, Sources};
use crate::script::engine::{build_engine, Limits, ScriptMeter};
use crate::script::errors::{parse_error, runtime_error};
use crate::session::LocalDev;

const INPUT: &str = "<repl>";

/// One REPL session: the engine, what the inputs defined, and the development state.
pub struct Session {
    engine: Engine,
    /// The sandbox's time limit counts per input.
    clock: ScriptMeter,
    scope: Scope<'static>,
    functions: AST,
    sink: Sink,
    sources: Sources,
    pub dev: Arc<LocalDev>,
    pub home: PathBuf,
    color: bool,
    limits: Limits,
}

/// What evaluating one input printed: text for stdout and for stderr.
#[derive(Debug, Default)]
pub struct Output {
    pub out: String,
    pub err: String,
    pub quit: bool,
}

impl Session {
    pub fn new(home: PathBuf, dir: PathBuf, storage: Vec<String>, color: bool) -> Session {
        let sink = Sink::default();
        let sources = Sources::default();
        let dev = LocalDev::new(
            home.clone(),
            Request {
                max_parallel: 8,
                storage_texts: storage,
                base_dir: dir.canonicalize().unwrap_or(dir.clone()),
                ..Request::default()
            },
        );
        dev.capture_reports();
        let limits = Limits::default();
        let clock = ScriptMeter::default();
        let b = Bindings {
            sink: sink.clone(),
            main_file: INPUT.into(),
            dev: dev.clone(),
            clock: clock.clone(),
        };
        let engine = build_engine(b, sources.clone(), dir, &limits);
        Session {
            engine,
            clock,
            scope: Scope::new(),
            functions: AST::empty(),
            sink,
            sources,
            dev,
            home,
            color,
            limits,
        }
    }

    /// Evaluates one input (Rhai, or a `:` command).
    pub fn input(&mut self, text: &str) -> Output {
        let t = text.trim();
        if t.starts_with(':') {
            return self.command(t);
        }
        self.eval(INPUT, text)
    }

    fn eval(&mut self, file: &str, text: &str) -> Output {
        let mut o = Output::default();
        let file: Arc<str> = file.into();
        self.sources.add(file.clone(), text.into());
        let ast = match self.engine.compile_with_scope(&self.scope, text) {
            Ok(mut ast) => {
                ast.set_source(file.to_string());
                ast
            }
            Err(e) => {
                o.err = render(&[parse_error(&e, &file)], &self.sources, self.color);
                return o;
            }
        };
        let merged = self.functions.merge(&ast);
        self.clock.restart();
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged);
        self.functions = merged.clone_functions_only();
        let mut diags = self.sink.take();
        crate::script::engine::point_at_keywords(&mut self.engine, text, &file, &mut diags);
        if let Err(e) = &result {
            diags.push(runtime_error(e, &file, &self.limits));
        }
        o.err = self.dev.take_reports();
        o.err.push_str(&render(&diags, &self.sources, self.color));
        if let Ok(v) = result {
            // A workflow given as a value (a script's last expression) is bound, to debug it.
            let unbound = v.read_lock::<Arc<Obj>>().is_some_and(|w| w.is("Workflow"))
                && self.workflow().is_none();
            if unbound {
                self.scope.push("workflow", v.clone());
                o.err.push_str("bound as `workflow`\n");
            }
            if !v.is_unit() {
                o.out = format!("{}\n", show(&v));
            }
        }
        o
    }

    /// The workflow the session is about: the newest one bound in scope.
    pub fn workflow(&self) -> Option<Arc<Obj>> {
        let mut found = None;
        for (_, _, v) in self.scope.iter_raw() {
            if let Some(o) = v.read_lock::<Arc<Obj>>() {
                if o.is("Workflow") {
                    found = Some(o.clone());
                }
            }
        }
        found
    }

    /// Variables in scope and their classes, for completion.
    pub fn known(&self) -> (Vec<(String, Option<&'static str>)>, Vec<String>) {
        let vars = self
            .scope
            .iter_raw()
            .map(|(n, _, v)| {
                (
                    n.to_string(),
                    v.read_lock::<Arc<Obj>>().map(|o| o.spec.name),
                )
            })
            .collect();
        let fns = self
            .functions
            .iter_functions()
            .map(|f| f.name.to_string())
            .collect();
        (vars, fns)
    }

    fn command(&mut self, t: &str) -> Output {
        let mut o = Output::default();
        let (cmd, arg) = t
            .split_once(char::is_whitespace)
            .map(|(c, a)| (c, a.trim()))
            .unwrap_or((t, ""));
        match cmd {
            ":help" | ":h" => o.out = HELP.to_string(),
            ":quit" | ":q" | ":exit" => o.quit = true,
            ":clear" => {
                self.scope.clear();
                self.functions = AST::empty();
                self.dev.clear();
                o.err = "cleared: variables, functions and the debug execution\n".into();
            }
            ":load" => {
                if arg.is_empty() {
                    o.err = "error: `:load FILE` needs a file\n".into();
                } else {
                    match std::fs::read_to_string(arg) {
                        Ok(text) => return self.eval(arg, &text),
                        Err(e) => o.err = format!("error: cannot read `{arg}`: {e}\n"),
                    }
                }
            }
            ":graph" => match self.workflow() {
                Some(w) => {
                    let (wk, diags) = crate::model::validate::validate(&w);
                    o.err = render(&diags, &self.sources, self.color);
                    o.out = crate::cli::check::summary_text(&wk);
                }
                None => o.err = "no workflow yet: bind one with `let workflow = wf.Workflow(#{ ... });`\n".into(),
            },
            ":params" => match self.workflow() {
                Some(w) => {
                    let wk = crate::model::workflow::Workflow::read(&w);
                    let set = self.dev.values();
                    for p in &wk.parameters {
                        let value = set
                            .iter()
                            .find(|(k, _)| k == p.name())
                            .map(|(_, v)| format!("= {}", serde_json::to_string(&crate::model::definition::val_to_json(v)).unwrap_or_default()))
                            .or_else(|| p.arg("default").map(|d| format!("default {}", serde_json::to_string(&crate::model::definition::val_to_json(d)).unwrap_or_default())))
                            .unwrap_or_else(|| "not set".into());
                        o.out.push_str(&format!("  {:<20} {:<18} {value}\n", p.name(), crate::cli::check::parameter_type(p)));
                    }
                    if wk.parameters.is_empty() {
                        o.out.push_str("  the workflow has no parameters\n");
                    }
                }
                None => o.err = "no workflow yet\n".into(),
            },
            ":status" => match self.dev.last_run() {
                Some((id, _)) => {
                    let mut buf = Vec::new();
                    crate::cli::records::show_to(&mut buf, &self.home, &id);
                    o.out = String::from_utf8_lossy(&buf).into_owned();
                }
                None => o.err = "no execution yet: `workflow.debug(#{})` starts one, `workflow.run(#{})` runs it all\n".into(),
            },
            ":history" => o.err = format!("history is kept in {}\n", self.home.join("repl_history").display()),
            other => o.err = format!("error: unknown command `{other}`; `:help` lists them\n"),
        }
        o
    }
}

const HELP: &str = "\
wf repl: build and debug a workflow one input at a time. Inputs are Rhai; `wf` is the SDK.

  :help            this table              :params   the workflow's parameters and values
  :load FILE       evaluate a script here  :status   the debug execution's steps
  :graph           the workflow's steps    :clear    forget variables, functions, debugging
  :quit            leave (also Ctrl-D)     :history  where the history is kept

  workflow.debug(#{ steps: [...] })   start a debug execution (a real one: `wf show` sees it)
  workflow.next()                     run the next phase that can run, and say what follows
  workflow.set_placeholder(name, v)   give a parameter its value (checked against its type)
  workflow.set_data(name, data)       give a data placeholder its object (checked)
  workflow.run(#{ steps: [...] })     run to the end; returns the execution record
  workflow.release()                  the workflow as the next version for `wf serve` and the API
  workflow.release_to_gallery(#{ content_id, version, visibility, ... })   publish it

Tab completes wf.* names, a constructor's keywords inside #{ }, methods and variables.
Open brackets continue the input on the next line. Ctrl-C stops a running phase.
";

/// A value as the REPL shows it.
pub fn show(v: &Dynamic) -> String {
    if let Some(o) = v.read_lock::<Arc<Obj>>() {
        let name = o
            .arg("name")
            .and_then(|n| n.as_str())
            .map(|n| format!("({n:?})"))
            .unwrap_or_default();
        if o.is("Workflow") {
            let steps = o.arg("steps").map(|s| s.items().len()).unwrap_or(0);
            return format!(
                "{}{name} with {steps} step{}",
                o.spec.path(),
                if steps == 1 { "" } else { "s" }
            );
        }
        return format!("{}{name}", o.spec.path());
    }
    if let Some(e) = v.read_lock::<EnumVal>() {
        return format!("{}.{}", e.ty.name, e.name);
    }
    if let Some(n) = v.read_lock::<Ns>() {
        return n.0.to_string();
    }
    if let Some(e) = v.read_lock::<EnumNs>() {
        return format!("{}.{}", e.0.ns, e.0.name);
    }
    if v.is_string() {
        return format!("{:?}", v.to_string());
    }
    v.to_string()
}

struct ReplHelper {
    vars: Vec<(String, Option<&'static str>)>,
    functions: Vec<String>,
    color: bool,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let known = complete::Known {
            vars: self.vars.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
            functions: self.functions.clone(),
        };
        let (start, c) = complete::complete(line, pos, &known);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(complete::colour(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(
        &self,
        _line: &str,
        _pos: usize,
        _kind: rustyline::highlight::CmdKind,
    ) -> bool {
        self.color
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

// Every line is taken as typed; an input whose brackets are still open goes on at the
// continuation prompt (see `read_input`).
impl Validator for ReplHelper {
    fn validate(&self, _ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
    }
}

/// One input: a line at `wf> `, and more lines at `..> ` while its brackets are open.
/// Ctrl-C drops the input under way and comes back to `wf> `.
fn read_input(
    editor: &mut Editor<ReplHelper, FileHistory>,
) -> Result<Option<String>, rustyline::error::ReadlineError> {
    use rustyline::error::ReadlineError;
    let mut input = match editor.readline("wf> ") {
        Ok(line) => line,
        Err(ReadlineError::Interrupted) => return Ok(None),
        Err(e) => return Err(e),
    };
    while complete::is_incomplete(&input) {
        match editor.readline("..> ") {
            Ok(more) => {
                input.push('\n');
                input.push_str(&more);
            }
            Err(ReadlineError::Interrupted) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(input))
}

impl Helper for ReplHelper {}

/// Interrupts the evaluation under way on each SIGINT, for as long as the guard lives.
fn watch_interrupts(clock: ScriptMeter) -> Option<tokio::task::JoinHandle<()>> {
    let rt = crate::exec::engine::runtime().ok()?;
    let _inside = rt.enter();
    let mut sigint =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok()?;
    Some(rt.spawn(async move {
        while sigint.recv().await.is_some() {
            clock.interrupt();
        }
    }))
}

/// The interactive loop.
pub fn run(home: &Path, script: Option<&Path>, storage: Vec<String>) -> i32 {
    let color = crate::cli::stderr_color();
    let dir = script
        .and_then(|s| s.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut session = Session::new(home.to_path_buf(), dir, storage, color);
    // Ctrl-C while an input is evaluated stops it and comes back to the prompt (at the
    // prompt the line editor reads it as a key); a phase under way stops too (`next()`).
    let _interrupts = watch_interrupts(session.clock.clone());
    // Tab completes what is common to the candidates, then lists them (as a shell does).
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            errln!("error: cannot start the line editor: {e}");
            return 1;
        }
    };
    let history = home.join("repl_history");
    let _ = crate::store::private_dir(home);
    let _ = editor.load_history(&history);
    errln!("wf repl: build and debug workflows; :help for commands, Ctrl-D to leave");
    if let Some(s) = script {
        let o = session.input(&format!(":load {}", s.display()));
        crate::cli::write_stdout(format_args!("{}", o.out));
        err!("{}", o.err);
        if session.workflow().is_some() {
            errln!(
                "loaded {}: the workflow is bound; try `:graph` or `workflow.debug(#{{}})`",
                s.display()
            );
        }
    }
    loop {
        let (vars, functions) = session.known();
        editor.set_helper(Some(ReplHelper {
            vars,
            functions,
            color,
        }));
        match read_input(&mut editor) {
            Ok(None) => continue,
            Ok(Some(line)) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                let o = session.input(&line);
                err!("{}", o.err);
                crate::cli::write_stdout(format_args!("{}", o.out));
                if o.quit {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                errln!("error: {e}");
                break;
            }
        }
    }
    let _ = editor.save_history(&history);
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o600));
    }
    if let Some(id) = session.dev.debug_execution() {
        errln!("the debug execution {id} stays in the records: `wf resume {id}` finishes it");
    }
    0
}
