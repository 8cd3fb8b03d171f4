//! One way in: a script or a JSON definition becomes a checked workflow. The sandbox
//! (`crate::script`) evaluates a script with the `wf` surface (`crate::bindings`) registered;
//! a definition is read back through the same constructors; validation
//! (`crate::model::validate`) checks what either built.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Dynamic, Engine, Scope};

use crate::bindings::{self, Bindings, DevHost, NotCarriedOut};
use crate::diag::{Diagnostic, Sink, Sources, Span};
use crate::model::val::Obj;
use crate::model::validate::validate;
use crate::model::workflow::Workflow;
use crate::script::engine::{point_at_keywords, sandbox, Limits, ScriptMeter};
use crate::script::errors::{parse_error, runtime_error};

pub use crate::bindings::json::{from_json as read_definition, value_from_json};

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

/// The sandboxed engine with the `wf` surface registered on it.
pub fn build_engine(b: Bindings, sources: Sources, script_dir: PathBuf, limits: &Limits) -> Engine {
    let mut engine = sandbox(&b.clock, sources, script_dir, limits);
    bindings::register(&mut engine, b);
    engine
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

pub struct Checked {
    pub workflow: Option<Workflow>,
    pub obj: Option<Arc<Obj>>,
    pub diags: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }
}

/// Loads `path` (a `.json` definition or a script) and validates what it builds.
pub fn load_and_check(path: &Path, opts: &LoadOptions) -> Checked {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let (obj, mut diags, sources) = if is_json {
        let file: Arc<str> = path.to_string_lossy().into();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (obj, diags) = read_definition(&text, &file);
                (obj, diags, Sources::default())
            }
            Err(e) => (
                None,
                vec![Diagnostic::error(
                    Span::new(file, 0, 0),
                    format!("cannot read the definition: {e}"),
                )],
                Sources::default(),
            ),
        }
    } else {
        let loaded = load_file(path, opts);
        (loaded.workflow, loaded.diags, loaded.sources)
    };
    let workflow = obj.as_ref().map(|o| {
        let (w, more) = validate(o);
        diags.extend(more);
        w
    });
    diags.sort_by(|a, b| a.at.cmp(&b.at).then(a.message.cmp(&b.message)));
    diags.dedup();
    Checked {
        workflow,
        obj,
        diags,
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script whose one placeholder holds a 200 KB default.
    const BIG: &str = r#"
        let big = "";
        for i in 0..2000 { big += "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"; }
        let p = wf.Placeholder(#{ name: "p", placeholder_type: wf.PlaceholderType.STR, default: big });
        wf.Workflow(#{ name: "w", steps: [] })
    "#;

    fn object_limit_errors(opts: &LoadOptions) -> Vec<String> {
        let loaded = load_source("big.rhai".into(), BIG, Path::new("."), opts);
        loaded
            .diags
            .iter()
            .filter(|d| d.message.contains("max_object_bytes"))
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn the_configured_object_limit_is_the_one_enforced() {
        assert!(object_limit_errors(&LoadOptions::default()).is_empty());
        let mut opts = LoadOptions::default();
        opts.limits.max_object_bytes = 64 << 10;
        let errors = object_limit_errors(&opts);
        assert_eq!(
            errors,
            ["the script's `wf` objects hold more than 64 KiB (max_object_bytes)"],
        );
    }
}
