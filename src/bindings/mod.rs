//! The `wf` namespace as Rhai sees it.
//!
//! | file          | holds                                                            |
//! |---------------|------------------------------------------------------------------|
//! | `catalog.wfapi` | every name, keyword, type and default, from the manual's tables |
//! | `catalog.rs`  | reads that table                                                 |
//! | `convert.rs`  | checks call arguments against it and builds objects              |
//! | `mod.rs`      | registers namespaces, constructors, methods and enum constants    |
//!
//! `wf.steps.JobStep(...)` is a method call named `JobStep` on the namespace value
//! `wf.steps`; namespaces and enumerations answer property reads through indexers, so every
//! name comes from the catalog rather than from one Rust function per name.

pub use crate::catalog;
pub mod convert;
pub mod json;
pub mod values;

pub use self::values::{EnumNs, Invalid, Ns, OutputRef, Outputs};

use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, Position};

use self::convert::{construct, label_of};
use crate::catalog::{Catalog, EntryKind, Member};
use crate::diag::{did_you_mean, Diagnostic, Sink};
use crate::model::val::{EnumVal, Obj, Span, Val};
pub use crate::script::engine::span_at;
use crate::script::engine::ScriptMeter;

/// What carries out the development-state methods (`run`, `debug`, `next`, ...).
/// `wf check` and `wf graph` use [`NotCarriedOut`].
pub trait DevHost: Send + Sync {
    fn call(
        &self,
        method: &'static str,
        workflow: &Arc<Obj>,
        args: &Obj,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>>;
}

/// Records that a method was seen and not carried out.
pub struct NotCarriedOut {
    pub sink: Sink,
    pub command: &'static str,
}

impl DevHost for NotCarriedOut {
    fn call(
        &self,
        method: &'static str,
        _: &Arc<Obj>,
        _: &Obj,
        at: &Span,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        self.sink.push(Diagnostic::note(
            at.clone(),
            format!(
                "`workflow.{method}(...)` is not carried out by `{}`",
                self.command
            ),
        ));
        Ok(Dynamic::UNIT)
    }
}

/// State shared by every registered function.
#[derive(Clone)]
pub struct Bindings {
    pub sink: Sink,
    pub main_file: Arc<str>,
    pub dev: Arc<dyn DevHost>,
    /// What the sandbox's time limit is measured on.
    pub clock: ScriptMeter,
}

impl Bindings {
    pub fn span(&self, ctx: &NativeCallContext) -> Span {
        span_at(ctx.call_source(), ctx.call_position(), &self.main_file)
    }
}

fn runtime_error(msg: String, pos: Position) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(msg.into(), pos))
}

/// Registers the whole `wf` surface on `engine`.
#[allow(deprecated)] // `on_var` is marked volatile, not deprecated
pub fn register(engine: &mut Engine, b: Bindings) {
    let cat = Catalog::get();
    engine
        .register_type_with_name::<Ns>("wf namespace")
        .register_type_with_name::<EnumNs>("wf enumeration")
        .register_type_with_name::<EnumVal>("wf enum value")
        .register_type_with_name::<Arc<Obj>>("wf object")
        .register_type_with_name::<Outputs>("wf step outputs")
        .register_type_with_name::<OutputRef>("wf step output")
        .register_type_with_name::<Invalid>("invalid value");

    engine.on_var(|name, _, _| {
        Ok(match name {
            "wf" => Some(Dynamic::from(Ns("wf"))),
            _ => None,
        })
    });

    // Namespaces: `wf.steps`, `wf.PlaceholderType`.
    let bb = b.clone();
    engine.register_indexer_get(
        move |ctx: NativeCallContext,
              ns: &mut Ns,
              key: &str|
              -> Result<Dynamic, Box<EvalAltResult>> {
            match cat.member(ns.0, key) {
                Some(Member::Namespace(p)) => Ok(Dynamic::from(Ns(p))),
                Some(Member::Enum(e)) => Ok(Dynamic::from(EnumNs(e))),
                Some(Member::Class(_)) => Err(runtime_error(
                    format!(
                        "`{}.{key}` is a constructor: call it, as in `{}.{key}(#{{ ... }})`",
                        ns.0, ns.0
                    ),
                    ctx.call_position(),
                )),
                None => {
                    bb.sink.push(unknown_member(ns.0, key, bb.span(&ctx)));
                    Ok(Dynamic::from(Invalid))
                }
            }
        },
    );
    let bb = b.clone();
    engine.register_indexer_get(
        move |ctx: NativeCallContext, e: &mut EnumNs, key: &str| -> Dynamic {
            match e.0.values.iter().find(|v| **v == key) {
                Some(v) => Dynamic::from(EnumVal { ty: e.0, name: v }),
                None => {
                    let help = match did_you_mean(key, e.0.values.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("its values are: {}", e.0.values.join(", ")),
                    };
                    bb.sink.push(
                        Diagnostic::error(
                            bb.span(&ctx),
                            format!("`{}.{}` has no value `{key}`", e.0.ns, e.0.name),
                        )
                        .with_help(help),
                    );
                    Dynamic::from(Invalid)
                }
            }
        },
    );
    engine.register_indexer_get(|_: &mut Invalid, _: &str| Dynamic::from(Invalid));
    engine.register_indexer_get(|_: &mut Invalid, _: rhai::INT| Dynamic::from(Invalid));

    // Printing.
    engine
        .register_fn("to_string", |ns: &mut Ns| ns.0.to_string())
        .register_fn("to_debug", |ns: &mut Ns| ns.0.to_string())
        .register_fn("to_string", |e: &mut EnumNs| {
            format!("{}.{}", e.0.ns, e.0.name)
        })
        .register_fn("to_debug", |e: &mut EnumNs| {
            format!("{}.{}", e.0.ns, e.0.name)
        })
        .register_fn("to_string", |e: &mut EnumVal| e.name.to_string())
        .register_fn("to_debug", |e: &mut EnumVal| {
            format!("{}.{}", e.ty.name, e.name)
        })
        .register_fn("==", |a: EnumVal, b: EnumVal| a == b)
        .register_fn("!=", |a: EnumVal, b: EnumVal| a != b)
        .register_fn("to_string", |o: &mut Arc<Obj>| show_obj(o))
        .register_fn("to_debug", |o: &mut Arc<Obj>| show_obj(o))
        .register_fn("to_string", |o: &mut OutputRef| {
            format!("{}.outputs[{:?}]", o.step.name(), o.output.name())
        })
        .register_fn("to_debug", |o: &mut OutputRef| {
            format!("{}.outputs[{:?}]", o.step.name(), o.output.name())
        })
        .register_fn("to_string", |_: &mut Invalid| "<invalid>".to_string());

    // Constructors and functions: one registration per name and arity; the receiver is
    // checked at call time so that a misplaced name gets a helpful message.
    let max_arity = cat
        .classes
        .iter()
        .map(|c| c.params.len())
        .max()
        .unwrap_or(0)
        + 1;
    let mut names: BTreeMap<&'static str, ()> = BTreeMap::new();
    for ns in &cat.namespaces {
        for (name, m) in &cat.members[ns] {
            if matches!(m, Member::Class(_)) {
                names.insert(name, ());
            }
        }
    }
    for name in names.keys().copied() {
        for arity in 0..=max_arity {
            let mut types = vec![TypeId::of::<Dynamic>(); arity + 1];
            types[0] = TypeId::of::<Ns>();
            let bb = b.clone();
            engine.register_raw_fn(name, &types, move |ctx, args| {
                let ns = args[0].clone_cast::<Ns>();
                let at = bb.span(&ctx);
                let rest: Vec<Dynamic> = args[1..].iter_mut().map(|a| std::mem::take(*a)).collect();
                call_member(&bb, ns, name, rest, &at, ctx.call_position())
            });
            let mut types = vec![TypeId::of::<Dynamic>(); arity + 1];
            types[0] = TypeId::of::<Invalid>();
            engine.register_raw_fn(name, &types, |_, _| Ok(Dynamic::from(Invalid)));
        }
    }

    // Objects: property reads, `step.outputs`, methods.
    engine.register_indexer_get(
        |ctx: NativeCallContext,
         o: &mut Arc<Obj>,
         key: &str|
         -> Result<Dynamic, Box<EvalAltResult>> {
            if let Some(v) = o.get(key) {
                return Ok(convert::to_dynamic(&v));
            }
            if o.spec.param(key).is_some() {
                return Ok(Dynamic::UNIT);
            }
            let names = o.spec.params.iter().map(|p| p.name);
            let help = did_you_mean(key, names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(runtime_error(
                format!("`{}` has no property `{key}`{help}", o.spec.path()),
                ctx.call_position(),
            ))
        },
    );
    engine.register_get(
        "outputs",
        |ctx: NativeCallContext, o: &mut Arc<Obj>| -> Result<Outputs, Box<EvalAltResult>> {
            if o.spec.is_step() {
                Ok(Outputs(o.clone()))
            } else {
                Err(runtime_error(
                    format!("`{}` has no outputs: only steps do", o.spec.path()),
                    ctx.call_position(),
                ))
            }
        },
    );
    let bb = b.clone();
    engine.register_indexer_get(
        move |ctx: NativeCallContext, outs: &mut Outputs, key: &str| -> Dynamic {
            let step = &outs.0;
            let outputs: Vec<Arc<Obj>> = step
                .arg("outputs")
                .map(|v| {
                    v.items()
                        .iter()
                        .filter_map(|x| x.as_obj().cloned())
                        .collect()
                })
                .unwrap_or_default();
            match outputs.iter().find(|o| o.name() == key) {
                Some(out) => Dynamic::from(OutputRef {
                    step: step.clone(),
                    output: out.clone(),
                    at: bb.span(&ctx),
                }),
                None => {
                    let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
                    let help = match did_you_mean(key, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None if names.is_empty() => "it declares no outputs".to_string(),
                        None => format!("its outputs are: {}", names.join(", ")),
                    };
                    bb.sink.push(
                        Diagnostic::error(
                            bb.span(&ctx),
                            format!("step `{}` has no output `{key}`", step.name()),
                        )
                        .with_help(help),
                    );
                    Dynamic::from(Invalid)
                }
            }
        },
    );

    register_methods(engine, &b);
}

fn register_methods(engine: &mut Engine, b: &Bindings) {
    let cat = Catalog::get();
    for spec in cat.methods.iter().copied() {
        let receiver = match spec.ns {
            "Output" => TypeId::of::<OutputRef>(),
            _ => TypeId::of::<Arc<Obj>>(),
        };
        // `debug` is a reserved word in Rhai; the tokenizer hands it to us as `debug_`.
        let names: &[&str] = if spec.name == "debug" {
            &["debug", "debug_"]
        } else {
            std::slice::from_ref(&spec.name)
        };
        for name in names {
            for arity in 0..=spec.params.len() + 1 {
                let mut types = vec![TypeId::of::<Dynamic>(); arity + 1];
                types[0] = receiver;
                let bb = b.clone();
                engine.register_raw_fn(*name, &types, move |ctx, args| {
                    let at = bb.span(&ctx);
                    // Errors found before this call, not in its own arguments.
                    let earlier = bb.sink.error_count();
                    let recv = args[0].clone();
                    let rest: Vec<Dynamic> =
                        args[1..].iter_mut().map(|a| std::mem::take(*a)).collect();
                    let call = construct(spec, rest, &at, &bb.sink);
                    for d in crate::model::validate::check_own(&call) {
                        bb.sink.push(d);
                    }
                    call_method(
                        &bb,
                        Method {
                            owner: spec.ns,
                            name: spec.name,
                            earlier_errors: earlier,
                        },
                        recv,
                        call,
                        &at,
                        ctx.call_position(),
                    )
                });
                let mut types = vec![TypeId::of::<Dynamic>(); arity + 1];
                types[0] = TypeId::of::<Invalid>();
                engine.register_raw_fn(*name, &types, |_, _| Ok(Dynamic::from(Invalid)));
            }
        }
    }
    // `debug(x)` as a function keeps printing, like Rhai's own.
    engine.register_fn("debug_", |x: Dynamic| {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{x:?}");
    });
}

fn call_member(
    b: &Bindings,
    ns: Ns,
    name: &'static str,
    args: Vec<Dynamic>,
    at: &Span,
    pos: Position,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let cat = Catalog::get();
    match cat.member(ns.0, name) {
        Some(Member::Class(spec)) => match spec.kind {
            EntryKind::Function => {
                construct(spec, args, at, &b.sink);
                b.sink.push(Diagnostic::note(
                    at.clone(),
                    format!(
                        "`{}.{name}(...)` is recorded but not carried out here",
                        ns.0
                    ),
                ));
                Ok(Dynamic::UNIT)
            }
            _ => {
                let obj = construct(spec, args, at, &b.sink);
                if let Some(d) = check_object(&obj) {
                    b.sink.push(d);
                }
                for d in crate::model::validate::check_own(&obj) {
                    b.sink.push(d);
                }
                let limit = b.clock.object_limit();
                if b.clock.hold(held_bytes(&obj)) > limit {
                    return Err(runtime_error(
                        format!(
                            "the script's `wf` objects hold more than {} (max_object_bytes)",
                            bytes_text(limit)
                        ),
                        pos,
                    ));
                }
                Ok(Dynamic::from(Arc::new(obj)))
            }
        },
        Some(_) => Err(runtime_error(
            format!("`{}.{name}` is not callable", ns.0),
            pos,
        )),
        None => {
            b.sink.push(unknown_member(ns.0, name, at.clone()));
            Ok(Dynamic::from(Invalid))
        }
    }
}

/// What an object's own arguments hold, in bytes (objects inside it were counted when they
/// were built; they are shared, not copied).
fn held_bytes(obj: &Obj) -> usize {
    fn val(v: &Val) -> usize {
        16 + match v {
            Val::Str(s) => s.len(),
            Val::List(items) => items.iter().map(val).sum(),
            Val::Map(m) => m.iter().map(|(k, x)| k.len() + val(x)).sum(),
            Val::StepRef(name, _) => name.len(),
            _ => 0,
        }
    }
    obj.args.values().map(val).sum()
}

/// A size as people write it: `256 MiB`, `64 KiB`, `1000 bytes`.
fn bytes_text(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Rules that concern one object alone and are best reported where it is built.
fn check_object(obj: &Obj) -> Option<Diagnostic> {
    if obj.is("Storage")
        && obj.arg("with_execution_id").and_then(Val::as_bool) == Some(true)
        && obj.arg("create_dir").and_then(Val::as_bool) != Some(true)
    {
        return Some(
            Diagnostic::error(
                obj.at.clone(),
                "`wf.data.Storage` sets `with_execution_id: true` without `create_dir: true`",
            )
            .with_help("an execution-id directory is created, so `create_dir` must be true"),
        );
    }
    None
}

fn unknown_member(ns: &str, key: &str, at: Span) -> Diagnostic {
    let cat = Catalog::get();
    let here = cat.member_names(ns);
    let msg = format!("`{ns}` has no member `{key}`");
    // The name may live in another namespace.
    let elsewhere: Vec<String> = cat
        .namespaces
        .iter()
        .filter(|n| cat.member(n, key).is_some())
        .map(|n| format!("{n}.{key}"))
        .collect();
    let help = if let Some(p) = elsewhere.first() {
        format!("it is `{p}`")
    } else if let Some(s) = did_you_mean(key, here.iter().copied()) {
        format!("did you mean `{ns}.{s}`?")
    } else {
        "see `wf check --list-api` for every name".to_string()
    };
    Diagnostic::error(at, msg).with_help(help)
}

/// A method being called, and how many errors the script had before the call.
struct Method {
    owner: &'static str,
    name: &'static str,
    earlier_errors: usize,
}

fn call_method(
    b: &Bindings,
    m: Method,
    recv: Dynamic,
    call: Obj,
    at: &Span,
    pos: Position,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let (owner, method) = (m.owner, m.name);
    match owner {
        "Output" => {
            let out = recv.cast::<OutputRef>();
            match method {
                "as_input" => Ok(Dynamic::from(Arc::new(out.consumption()))),
                _ => output_variable(b, &out, &call, at),
            }
        }
        "Storage" => {
            let obj = recv.cast::<Arc<Obj>>();
            if !matches!(
                obj.class(),
                "Storage" | "InputStorage" | "OutputStorage" | "StoragePath"
            ) {
                return Err(runtime_error(
                    format!(
                        "`join` is a method of storages, not of `{}`",
                        obj.spec.path()
                    ),
                    pos,
                ));
            }
            Ok(Dynamic::from(Arc::new(join(&obj, &call, at, &b.sink))))
        }
        _ => {
            let obj = recv.cast::<Arc<Obj>>();
            if !obj.is("Workflow") {
                return Err(runtime_error(
                    format!(
                        "`{method}` is a method of `wf.Workflow`, not of `{}`",
                        obj.spec.path()
                    ),
                    pos,
                ));
            }
            // A script with errors starts nothing: what it built may be missing parts.
            const STARTS: [&str; 5] = [
                "run",
                "debug",
                "release",
                "release_and_run",
                "release_to_gallery",
            ];
            let errors = m.earlier_errors;
            if errors > 0 && STARTS.contains(&method) {
                return Err(runtime_error(
                    format!(
                        "`{method}` starts nothing: the script has {errors} error{} before it; fix {} first",
                        if errors == 1 { "" } else { "s" },
                        if errors == 1 { "it" } else { "them" }
                    ),
                    pos,
                ));
            }
            // Phases a method runs are not the script's time.
            b.clock.outside(|| b.dev.call(method, &obj, &call, at))
        }
    }
}

fn output_variable(
    b: &Bindings,
    out: &OutputRef,
    call: &Obj,
    at: &Span,
) -> Result<Dynamic, Box<EvalAltResult>> {
    const SERVICE_VARS: [&str; 2] = ["access_address", "cluster_inner_access_address"];
    let name = call.str_arg("name").unwrap_or_default().to_string();
    if !out.step.is("ServiceStep") {
        b.sink.push(
            Diagnostic::error(
                at.clone(),
                format!(
                    "`get_output_variable` reads a service step's output, and `{}` is a `{}`",
                    out.step.name(),
                    out.step.spec.path()
                ),
            )
            .with_help("use `.as_input()` to consume this output"),
        );
        return Ok(Dynamic::from(Invalid));
    }
    if !SERVICE_VARS.contains(&name.as_str()) {
        let help = match did_you_mean(&name, SERVICE_VARS) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("a service step outputs: {}", SERVICE_VARS.join(", ")),
        };
        b.sink.push(
            Diagnostic::error(
                at.clone(),
                format!("a service step has no output variable `{name}`"),
            )
            .with_help(help),
        );
        return Ok(Dynamic::from(Invalid));
    }
    let spec = Catalog::get().class("OutputVariable").expect("in catalog");
    let mut args = indexmap::IndexMap::new();
    args.insert("step", Val::Str(out.step.name().into()));
    args.insert("output", Val::Str(out.output.name().into()));
    args.insert("variable", Val::Str(name.into()));
    Ok(Dynamic::from(Arc::new(Obj {
        spec,
        args,
        at: at.clone(),
        tainted: false,
    })))
}

/// `storage.join(...)`: a directory under a storage root, chainable.
fn join(recv: &Arc<Obj>, call: &Obj, at: &Span, sink: &Sink) -> Obj {
    let (root, base, mut with_id, mut create) = if recv.is("StoragePath") {
        (
            recv.arg("storage").cloned().unwrap_or(Val::Null),
            recv.str_arg("directory").unwrap_or("").to_string(),
            recv.arg("with_execution_id")
                .and_then(Val::as_bool)
                .unwrap_or(false),
            recv.arg("create_dir")
                .and_then(Val::as_bool)
                .unwrap_or(false),
        )
    } else {
        let (w, c) = match recv.class() {
            "OutputStorage" => (true, true),
            "InputStorage" => (false, false),
            _ => (
                recv.get("with_execution_id")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                recv.get("create_dir")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
            ),
        };
        (Val::Obj(recv.clone()), String::new(), w, c)
    };
    if let Some(w) = call.arg("with_execution_id").and_then(Val::as_bool) {
        with_id = w;
    }
    if let Some(c) = call.arg("create_dir").and_then(Val::as_bool) {
        create = c;
    }
    // Only an explicit contradiction is an error: a file under an execution-id directory
    // (`join("m.json", #{ create_dir: false })`) is the manual's own example.
    let explicit_id = call.arg("with_execution_id").and_then(Val::as_bool) == Some(true);
    let explicit_no_dir = call.arg("create_dir").and_then(Val::as_bool) == Some(false);
    if explicit_id && explicit_no_dir {
        sink.push(
            Diagnostic::error(
                at.clone(),
                "`join` sets `with_execution_id: true` without `create_dir: true`",
            )
            .with_help("an execution-id directory is created, so `create_dir` must be true"),
        );
    }
    let dir = join_paths(&base, call.str_arg("directory").unwrap_or(""));
    let spec = Catalog::get().class("StoragePath").expect("in catalog");
    let mut args = indexmap::IndexMap::new();
    args.insert("storage", root);
    args.insert("directory", Val::Str(dir.into()));
    args.insert("with_execution_id", Val::Bool(with_id));
    args.insert("create_dir", Val::Bool(create));
    Obj {
        spec,
        args,
        at: at.clone(),
        tainted: false,
    }
}

/// Concatenates path parts with single slashes, keeping a trailing slash.
pub fn join_paths(base: &str, more: &str) -> String {
    let more = more.trim_start_matches('/');
    if base.is_empty() {
        return more.to_string();
    }
    if more.is_empty() {
        return base.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), more)
}

fn show_obj(o: &Obj) -> String {
    let label = label_of(o.spec);
    match o.arg("name").or_else(|| o.arg("scene_name")) {
        Some(Val::Str(n)) => format!("{label}({n:?})"),
        _ => label,
    }
}

#[cfg(test)]
mod tests {
    use super::join_paths;

    #[test]
    fn joins_with_single_slashes() {
        assert_eq!(join_paths("", "/model/"), "model/");
        assert_eq!(join_paths("a/", "/b"), "a/b");
        assert_eq!(join_paths("a", "b/c"), "a/b/c");
        assert_eq!(join_paths("a", ""), "a");
    }
}
