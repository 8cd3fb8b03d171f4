//! The sandboxed engine: its limits, the meter its time and objects are measured on, where
//! its diagnostics point. Loading a script into a workflow is `crate::loader`'s.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Position};

use super::resolver::SandboxResolver;
use crate::diag::{Diagnostic, Sources, Span};

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
    /// The sandbox's `max_object_bytes`, set when the engine is built.
    Arc<std::sync::atomic::AtomicUsize>,
);

impl Default for ScriptMeter {
    fn default() -> Self {
        ScriptMeter(
            Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
            Arc::default(),
            Arc::default(),
            Arc::new(std::sync::atomic::AtomicUsize::new(
                Limits::default().max_object_bytes,
            )),
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

    /// What the objects may hold in all (`max_object_bytes` of the engine's limits).
    pub fn object_limit(&self) -> usize {
        self.3.load(std::sync::atomic::Ordering::Relaxed)
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

/// The sandboxed engine: the limits, the clock and interruption of `meter`, the module
/// resolver, Rhai's reserved words the reference uses; no `wf` surface yet (the bindings
/// register it).
#[allow(deprecated)] // `on_parse_token` is marked volatile, not deprecated
pub fn sandbox(
    meter: &ScriptMeter,
    sources: Sources,
    script_dir: PathBuf,
    limits: &Limits,
) -> Engine {
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
    let clock = meter.clone();
    clock.restart();
    clock.3.store(
        limits.max_object_bytes,
        std::sync::atomic::Ordering::Relaxed,
    );
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
    engine
}

/// Where a call or error is in the scripts: `source` names an imported module's file, the
/// main script otherwise.
pub fn span_at(source: Option<&str>, pos: Position, main: &Arc<str>) -> Span {
    let file: Arc<str> = match source {
        Some(s) if !s.is_empty() && s != &**main => s.into(),
        _ => main.clone(),
    };
    Span::new(
        file,
        pos.line().unwrap_or(0) as u32,
        pos.position().unwrap_or(0) as u32,
    )
}

pub use crate::loader::{build_engine, load_file, load_source, LoadOptions, Loaded};
