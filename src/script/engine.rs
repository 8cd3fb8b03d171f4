//! The sandboxed engine and loading a script into a workflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, Scope};

use super::diag::{Diagnostic, Sink, Sources};
use super::errors::{parse_error, runtime_error};
use super::resolver::SandboxResolver;
use crate::bindings::{self, Bindings, DevHost, NotCarriedOut};
use crate::model::val::{Obj, Span};

/// The sandbox's limits. Hitting one is an error that names it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_modules: usize,
    /// Wall-clock time a script may take, whatever it does.
    pub max_seconds: u64,
    /// What the `wf` objects a script builds may hold in all, in bytes.
    pub max_object_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Set explicitly: Rhai's own defaults differ between debug and release builds.
        Limits {
            max_operations: 10_000_000,
            max_call_levels: 64,
            max_expr_depth: 128,
            max_fn_expr_depth: 64,
            max_string_size: 1 << 20,
            // Rhai re-measures a whole container after each change, so a big limit makes a
            // runaway `push` loop quadratic: 50,000 keeps that under seconds and still holds
            // workflows of tens of thousands of steps.
            max_array_size: 50_000,
            max_map_size: 50_000,
            max_modules: 64,
            max_seconds: 10,
            max_object_bytes: 256 << 20,
        }
    }
}

/// The token a script is stopped with when it runs out of time.
#[derive(Debug, Clone, Copy)]
pub struct TimeLimit;

/// The token a script is stopped with when a person interrupts it (Ctrl-C in the REPL).
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

/// The time a script's evaluation has taken, the sandbox's `max_seconds` is measured on:
/// it starts with each evaluation (a script, a REPL input) and stops while the script waits
/// for something outside it (a phase that `workflow.run()`/`next()` runs).
/// It also carries a person's interruption to the running evaluation, and counts the bytes
/// the `wf` objects built in it hold (`max_object_bytes`).
#[derive(Debug, Clone)]
pub struct ScriptMeter(
    Arc<std::sync::Mutex<std::time::Instant>>,
    Arc<std::sync::atomic::AtomicBool>,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl Default for ScriptMeter {
    fn default() -> Self {
        ScriptMeter(
            Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
            Arc::default(),
            Arc::default(),
        )
    }
}

impl ScriptMeter {
    fn started(&self) -> std::sync::MutexGuard<'_, std::time::Instant> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new evaluation starts now.
    pub fn restart(&self) {
        *self.started() = std::time::Instant::now();
        self.1.store(false, std::sync::atomic::Ordering::Relaxed);
        self.2.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts `bytes` more held by objects; the total so far.
    pub fn hold(&self, bytes: usize) -> usize {
        self.2
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes
    }

    /// Stops the evaluation under way at its next operation.
    pub fn interrupt(&self) {
        self.1.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn interrupted(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started().elapsed()
    }

    /// Runs `f` without counting its time against the script.
    pub fn outside<T>(&self, f: impl FnOnce() -> T) -> T {
        let before = std::time::Instant::now();
        let out = f();
        let spent = before.elapsed();
        let mut started = self.started();
        *started = started.checked_add(spent).unwrap_or(*started);
        out
    }
}

/// How a script is loaded.
#[derive(Clone)]
pub struct LoadOptions {
    pub limits: Limits,
    /// Pick the workflow bound to this variable, or with this name, when there are several.
    pub workflow: Option<String>,
    /// Which command loads the script, for notes about methods it does not carry out.
    pub command: &'static str,
    /// Carries out `run`/`debug`/...; `None` records a note instead.
    pub dev: Option<Arc<dyn DevHost>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            limits: Limits::default(),
            workflow: None,
            command: "wf check",
            dev: None,
        }
    }
}

/// The result of loading a script: its workflow (when one was built) and every
/// diagnostic found on the way.
pub struct Loaded {
    pub workflow: Option<Arc<Obj>>,
    pub diags: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// Builds the engine with the `wf` surface, the limits and the module resolver.
#[allow(deprecated)] // `on_parse_token` is marked volatile, not deprecated
pub fn build_engine(b: Bindings, sources: Sources, script_dir: PathBuf, limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(limits.max_modules);
    engine.disable_symbol("eval");
    let clock = b.clock.clone();
    clock.restart();
    let deadline = std::time::Duration::from_secs(limits.max_seconds);
    engine.on_progress(move |ops| {
        if ops % 1024 != 0 {
            None
        } else if clock.interrupted() {
            Some(Dynamic::from(Interrupted))
        } else if ops % 4096 == 0 && clock.elapsed() > deadline {
            Some(Dynamic::from(TimeLimit))
        } else {
            None
        }
    });
    // The reference's keyword `default` and method `debug` are reserved words in Rhai.
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(s) if s.as_str() == "default" => rhai::Token::Identifier(s),
        rhai::Token::Reserved(s) if s.as_str() == "debug" => {
            rhai::Token::Identifier(Box::new("debug_".into()))
        }
        other => other,
    });
    // A closed stderr loses what a script prints, not the script.
    engine.on_print(|s| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{s}");
    });
    engine.set_module_resolver(SandboxResolver::new(script_dir, sources));
    bindings::register(&mut engine, b);
    engine
}

/// Loads a script file.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Loaded {
    let display: Arc<str> = path.to_string_lossy().into();
    match std::fs::read_to_string(path) {
        Ok(text) => load_source(
            display,
            &text,
            path.parent().unwrap_or(Path::new(".")),
            opts,
        ),
        Err(e) => Loaded {
            workflow: None,
            diags: vec![Diagnostic::error(
                Span::new(display, 0, 0),
                format!("cannot read the script: {e}"),
            )],
            sources: Sources::default(),
        },
    }
}

/// Loads a script from its text; `file` names it in diagnostics, `dir` is where its
/// imports are found.
pub fn load_source(file: Arc<str>, text: &str, dir: &Path, opts: &LoadOptions) -> Loaded {
    let sources = Sources::default();
    sources.add(file.clone(), text.into());
    let sink = Sink::default();
    let dev = opts.dev.clone().unwrap_or_else(|| {
        Arc::new(NotCarriedOut {
            sink: sink.clone(),
            command: opts.command,
        })
    });
    let b = Bindings {
        sink: sink.clone(),
        main_file: file.clone(),
        dev,
        clock: ScriptMeter::default(),
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut engine = build_engine(b, sources.clone(), dir.to_path_buf(), &opts.limits);

    let mut ast = match engine.compile(text) {
        Ok(ast) => ast,
        Err(e) => {
            sink.push(parse_error(&e, &file));
            return Loaded {
                workflow: None,
                diags: sink.take(),
                sources,
            };
        }
    };
    ast.set_source(file.to_string());
    let mut scope = Scope::new();
    let result = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
    let workflow = match result {
        Err(e) => {
            sink.push(runtime_error(&e, &file, &opts.limits));
            None
        }
        Ok(value) => pick_workflow(value, &scope, opts.workflow.as_deref(), &file, &sink),
    };
    let mut diags = sink.take();
    point_at_keywords(&mut engine, text, &file, &mut diags);
    diags.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.severity.cmp(&b.severity))
            .then(a.message.cmp(&b.message))
    });
    diags.dedup();
    Loaded {
        workflow,
        diags,
        sources,
    }
}

/// Moves the caret of an unknown keyword from the constructor to the keyword itself: a
/// native call only knows where it was called, so the keys of the script's map literals are
/// found in its syntax tree (parsed again, unoptimised, only when there is such an error).
pub fn point_at_keywords(
    engine: &mut Engine,
    text: &str,
    file: &Arc<str>,
    diags: &mut [Diagnostic],
) {
    let keyword = |d: &Diagnostic| -> Option<String> {
        let (_, rest) = d.message.split_once("has no keyword `")?;
        Some(rest.strip_suffix('`')?.to_string())
    };
    if !diags
        .iter()
        .any(|d| d.at.file == *file && keyword(d).is_some())
    {
        return;
    }
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    let Ok(ast) = engine.compile(text) else {
        return;
    };
    // Every key of a map literal, with where it is written, in the order of the text.
    let mut keys: Vec<(String, u32, u32)> = Vec::new();
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        if let Some(rhai::ASTNode::Expr(rhai::Expr::Map(map, _))) = path.last() {
            for (ident, _) in map.0.iter() {
                if let (Some(line), Some(col)) = (ident.pos.line(), ident.pos.position()) {
                    keys.push((ident.name.to_string(), line as u32, col as u32));
                }
            }
        }
        true
    });
    keys.sort_by_key(|(_, line, col)| (*line, *col));
    for d in diags.iter_mut().filter(|d| d.at.file == *file) {
        let Some(k) = keyword(d) else { continue };
        // The first such key written after the call.
        if let Some((_, line, col)) = keys
            .iter()
            .find(|(name, line, col)| *name == k && (*line, *col) >= (d.at.line, d.at.col))
        {
            d.at.line = *line;
            d.at.col = *col;
        }
    }
}

/// A script's workflow: the value of its last expression, or else the one `Workflow`
/// bound at top level.
fn pick_workflow(
    value: Dynamic,
    scope: &Scope,
    wanted: Option<&str>,
    file: &Arc<str>,
    sink: &Sink,
) -> Option<Arc<Obj>> {
    let end = Span::new(file.clone(), 0, 0);
    if let Some(w) = value.read_lock::<Arc<Obj>>() {
        if w.is("Workflow") && wanted.is_none_or(|n| w.name() == n) {
            return Some(w.clone());
        }
    }
    let mut found: Vec<(String, Arc<Obj>)> = Vec::new();
    for (name, _, v) in scope.iter_raw() {
        if let Some(w) = v.read_lock::<Arc<Obj>>() {
            if w.is("Workflow") && !found.iter().any(|(_, f)| Arc::ptr_eq(f, &w)) {
                found.push((name.to_string(), w.clone()));
            }
        }
    }
    found.sort_by(|a, b| a.1.at.cmp(&b.1.at));
    if let Some(n) = wanted {
        let hit: Vec<_> = found
            .iter()
            .filter(|(v, w)| v == n || w.name() == n)
            .collect();
        if let [(_, w)] = hit.as_slice() {
            return Some(w.clone());
        }
        let names: Vec<String> = found
            .iter()
            .map(|(v, w)| format!("`{v}` ({})", w.name()))
            .collect();
        sink.push(
            Diagnostic::error(end, format!("the script binds no workflow named `{n}`")).with_help(
                if names.is_empty() {
                    "it builds no workflow".to_string()
                } else {
                    format!("its workflows are: {}", names.join(", "))
                },
            ),
        );
        return None;
    }
    match found.len() {
        1 => Some(found.remove(0).1),
        0 => {
            if sink.error_count() == 0 {
                sink.push(
                    Diagnostic::error(end, "the script builds no workflow").with_help(
                        "end it with a `wf.Workflow(#{ ... })` expression, or bind one with `let`",
                    ),
                );
            }
            None
        }
        _ => {
            let names: Vec<String> = found
                .iter()
                .map(|(v, w)| format!("`{v}` ({})", w.name()))
                .collect();
            sink.push(
                Diagnostic::error(end, format!("the script binds {} workflows", found.len()))
                    .with_help(format!(
                        "choose one with --workflow NAME: {}",
                        names.join(", ")
                    )),
            );
            None
        }
    }
}
