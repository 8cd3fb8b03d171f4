//! One session of the development state: inputs evaluated one at a time in one engine and
//! one scope, so variables, functions and the workflow persist. The REPL (`wf repl`) and the
//! notebook kernel (`wf kernel`) are two front-ends of this one type: the REPL prints an
//! input's `Output` as text, the kernel sends it as Jupyter messages.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, Scope, AST};

use super::shown::Shown;
use super::{LocalDev, Said};
use crate::bindings::{Bindings, EnumNs, Ns};
use crate::diag::{render, Sink, Sources};
use crate::exec::prepare::Request;
use crate::loader::build_engine;
use crate::model::val::{EnumVal, Obj};
use crate::script::engine::{Limits, ScriptMeter};
use crate::script::errors::{parse_error, runtime_error};

/// Where `print` and `debug` output goes while an input runs: to the front-end's writer
/// when one is set (the kernel's stream), else to stderr.
pub type PrintTo = Arc<Mutex<Option<Writer>>>;

/// A front-end's writer of what a script prints.
pub type Writer = Box<dyn FnMut(&str) + Send>;

fn print_line(to: &PrintTo, line: &str) {
    let mut guard = to.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(write) => write(&format!("{line}\n")),
        None => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// Stops what a session is doing, from another thread: the evaluation at its next
/// operation, and the phase or run under way.
#[derive(Clone)]
pub struct Interrupter {
    clock: ScriptMeter,
    dev: Arc<LocalDev>,
}

impl Interrupter {
    pub fn interrupt(&self) {
        self.clock.interrupt();
        self.dev.interrupt();
    }
}

/// The name inputs go by in diagnostics, unless the front-end gives another.
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
    print_to: PrintTo,
    input_name: &'static str,
}

/// What evaluating one input printed: text for stdout and for stderr (the REPL's view), and
/// the same in parts for a front-end that shows them apart (the kernel).
#[derive(Debug, Default)]
pub struct Output {
    /// The value, as text.
    pub out: String,
    /// What the development state said, then the diagnostics.
    pub err: String,
    pub quit: bool,
    /// The value, typed for a richer display; `None` when there is none.
    pub shown: Option<Shown>,
    /// What the development state said, in order (also in `err`).
    pub said: Vec<Said>,
    /// The diagnostics, rendered (also in `err`).
    pub diagnostics: String,
    /// An error stopped the input, or was found in what it built.
    pub failed: bool,
}

impl Session {
    pub fn new(home: PathBuf, dir: PathBuf, storage: Vec<String>, color: bool) -> Session {
        Session::named(home, dir, storage, color, INPUT)
    }

    /// A session whose inputs go by `input_name` in diagnostics (`<cell>` in a notebook).
    pub fn named(
        home: PathBuf,
        dir: PathBuf,
        storage: Vec<String>,
        color: bool,
        input_name: &'static str,
    ) -> Session {
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
            main_file: input_name.into(),
            dev: dev.clone(),
            clock: clock.clone(),
        };
        let mut engine = build_engine(b, sources.clone(), dir, &limits);
        let print_to: PrintTo = Arc::default();
        let to = print_to.clone();
        engine.on_print(move |s| print_line(&to, s));
        let to = print_to.clone();
        engine.on_debug(move |s, _, _| print_line(&to, s));
        // `debug(x)` as a function (the tokenizer's `debug_`) prints with the rest.
        let to = print_to.clone();
        engine.register_fn("debug_", move |x: Dynamic| {
            print_line(&to, &format!("{x:?}"))
        });
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
            print_to,
            input_name,
        }
    }

    /// What stops this session's evaluation and its phase, from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            clock: self.clock.clone(),
            dev: self.dev.clone(),
        }
    }

    /// The meter the sandbox's time limit and interruptions go through.
    pub fn meter(&self) -> ScriptMeter {
        self.clock.clone()
    }

    /// Sends what `print` and `debug` write to `write` (`None`: back to stderr).
    pub fn print_to(&self, write: Option<Writer>) {
        *self.print_to.lock().unwrap_or_else(|p| p.into_inner()) = write;
    }

    /// Evaluates one input (Rhai, or a `:` command).
    pub fn input(&mut self, text: &str) -> Output {
        let t = text.trim();
        if t.starts_with(':') {
            return self.command(t);
        }
        self.eval(self.input_name, text)
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
                o.diagnostics = render(&[parse_error(&e, &file)], &self.sources, self.color);
                o.err = o.diagnostics.clone();
                o.failed = true;
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
        o.failed = diags.iter().any(|d| d.is_error());
        o.said = self.dev.take_said();
        o.diagnostics = render(&diags, &self.sources, self.color);
        o.err = o.said.iter().map(Said::text).collect();
        o.err.push_str(&o.diagnostics);
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
                o.shown = Some(Shown::of(&v));
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
                // A debug execution left unfinished stays in the records, paused.
                match self.dev.end_session() {
                    Some(super::Paused {
                        execution,
                        reason: Ok(reason),
                    }) => o.err = format!("debug execution {execution} {reason}\n"),
                    Some(super::Paused {
                        reason: Err(why), ..
                    }) => o.err = format!("error: {why}\n"),
                    None => {}
                }
                self.dev.clear();
                o.err += "cleared: variables, functions and the debug execution\n";
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
                    o.out = crate::present::summary::summary_text(&wk);
                    o.shown = Some(Shown::Workflow(w.clone()));
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
                        o.out.push_str(&format!("  {:<20} {:<18} {value}\n", p.name(), crate::present::summary::parameter_type(p)));
                    }
                    if wk.parameters.is_empty() {
                        o.out.push_str("  the workflow has no parameters\n");
                    }
                }
                None => o.err = "no workflow yet\n".into(),
            },
            ":status" => match self.dev.last_run() {
                Some((id, _)) => {
                    o.out = crate::store::Store::open(&self.home)
                        .map(|st| crate::present::record::steps_text(&st, &id))
                        .unwrap_or_default();
                    o.shown = crate::store::Store::open(&self.home)
                        .and_then(|st| st.record(&id))
                        .ok()
                        .map(|r| Shown::Record(r.to_json()));
                }
                None => o.err = "no execution yet: `workflow.debug(#{})` starts one, `workflow.run(#{})` runs it all\n".into(),
            },
            ":storage" => {
                if arg.is_empty() {
                    let roots = self.dev.storage_roots();
                    if roots.is_empty() {
                        o.err = "no storage roots given yet: `:storage NAME=ROOT`\n".into();
                    } else {
                        o.out = roots.iter().map(|r| format!("  {r}\n")).collect();
                    }
                } else {
                    match self.dev.set_storage(arg) {
                        Ok((name, _)) => {
                            let root = arg.split_once('=').map_or("", |(_, r)| r.trim());
                            o.err = format!("storage `{name}`: runs started here write under {root}\n")
                        }
                        Err(e) => o.err = format!("error: :storage {e}\n"),
                    }
                }
            }
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
  :storage NAME=ROOT   a storage's root folder for the runs started here (also --storage)

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
