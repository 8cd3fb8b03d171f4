//! Rhai's parse and runtime errors as diagnostics: at the innermost position, in the
//! script's words (`debug` rather than its internal name), naming the limit hit.

use std::sync::Arc;

use rhai::{EvalAltResult, ParseError, ParseErrorType};

use super::engine::{span_at, Limits};
use crate::catalog::Catalog;
use crate::diag::{did_you_mean, Diagnostic};

pub fn parse_error(e: &ParseError, file: &Arc<str>) -> Diagnostic {
    let at = span_at(None, e.1, file);
    let msg = match &*e.0 {
        ParseErrorType::ExprTooDeep => {
            "expressions nest deeper than the sandbox allows (max_expr_depth)".to_string()
        }
        other => clean(&other.to_string()),
    };
    Diagnostic::error(at, format!("syntax error: {msg}"))
}

pub fn runtime_error(e: &EvalAltResult, file: &Arc<str>, limits: &Limits) -> Diagnostic {
    // Walk to the innermost error, remembering which file it happened in.
    let mut source: Option<String> = None;
    let mut err = e;
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(_, src, inner, _) => {
                if !src.is_empty() {
                    source = Some(src.clone());
                }
                err = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, _) => {
                source = Some(path.clone());
                err = inner;
            }
            _ => break,
        }
    }
    let at = span_at(source.as_deref(), err.position(), file);
    use EvalAltResult as E;
    match err {
        E::ErrorTooManyOperations(_) => Diagnostic::error(
            at,
            format!(
                "the script ran past the sandbox's limit of {} operations (max_operations)",
                limits.max_operations
            ),
        )
        .with_help("an endless loop? scripts build workflows; they should finish at once"),
        E::ErrorStackOverflow(_) => Diagnostic::error(
            at,
            format!(
                "function calls nest deeper than the sandbox's limit of {} (max_call_levels)",
                limits.max_call_levels
            ),
        )
        .with_help("endless recursion?"),
        E::ErrorDataTooLarge(what, _) => {
            let limit = match what.as_str() {
                w if w.contains("string") || w.contains("String") => {
                    format!("{} bytes (max_string_size)", limits.max_string_size)
                }
                w if w.contains("rray") => {
                    format!("{} elements (max_array_size)", limits.max_array_size)
                }
                w if w.contains("ap") => format!("{} entries (max_map_size)", limits.max_map_size),
                _ => "its size limit".to_string(),
            };
            Diagnostic::error(
                at,
                format!(
                    "{} grew past the sandbox's limit of {limit}",
                    what.to_lowercase()
                ),
            )
        }
        E::ErrorTooManyModules(_) => Diagnostic::error(
            at,
            format!(
                "more than {} modules imported (max_modules)",
                limits.max_modules
            ),
        ),
        E::ErrorTerminated(token, _) if token.is::<super::engine::TimeLimit>() => {
            Diagnostic::error(
                at,
                format!(
                    "the script ran past the sandbox's limit of {} seconds (max_seconds)",
                    limits.max_seconds
                ),
            )
        }
        E::ErrorTerminated(token, _) if token.is::<super::engine::Interrupted>() => {
            Diagnostic::error(at, "interrupted (Ctrl-C)")
        }
        E::ErrorTooManyVariables(_) => Diagnostic::error(at, "too many variables (max_variables)"),
        E::ErrorFunctionNotFound(sig, _) => function_not_found(sig, at),
        E::ErrorVariableNotFound(name, _) => {
            Diagnostic::error(at, format!("there is no variable `{}`", short(name)))
        }
        E::ErrorModuleNotFound(name, _) => Diagnostic::error(
            at,
            format!("there is no module `{name}` beside the script or in the shipped stdlib/"),
        ),
        E::ErrorRuntime(msg, _) => Diagnostic::error(at, clean(&msg.to_string())),
        E::ErrorPropertyNotFound(p, _) => {
            Diagnostic::error(at, format!("there is no property `{p}`"))
        }
        E::ErrorParsing(p, _) => {
            Diagnostic::error(at, format!("syntax error: {}", clean(&p.to_string())))
        }
        other => {
            let text = other.to_string();
            let text = match text.rfind(" (line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            Diagnostic::error(at, clean(&text))
        }
    }
}

/// Rhai's signature text `name (type, type)` as a message with a suggestion.
/// A name as a message shows it: a very long one is cut.
fn short(name: &str) -> String {
    const MAX: usize = 64;
    if name.chars().count() <= MAX {
        name.to_string()
    } else {
        let start: String = name.chars().take(MAX).collect();
        format!("{start}… ({} characters)", name.chars().count())
    }
}

fn function_not_found(sig: &str, at: crate::diag::Span) -> Diagnostic {
    let (name, args) = match sig.split_once(" (") {
        Some((n, a)) => (n.trim(), a.trim_end_matches(')')),
        None => (sig, ""),
    };
    let name = if name == "debug_" { "debug" } else { name };
    let receiver = args.split(',').next().unwrap_or("").trim();
    let cat = Catalog::get();
    if receiver == "wf namespace" {
        let mut all: Vec<String> = Vec::new();
        for ns in &cat.namespaces {
            for n in cat.member_names(ns) {
                all.push(format!("{ns}.{n}"));
            }
        }
        let short: Vec<&str> = all
            .iter()
            .map(|p| p.rsplit('.').next().unwrap_or(p))
            .collect();
        let help = did_you_mean(name, short.iter().copied())
            .and_then(|s| all.iter().find(|p| p.ends_with(&format!(".{s}"))))
            .map(|p| format!("did you mean `{p}`?"))
            .unwrap_or_else(|| "see `wf check --list-api` for every name".to_string());
        return Diagnostic::error(at, format!("`wf` has no constructor `{name}`")).with_help(help);
    }
    if receiver == "wf object" || receiver == "wf step output" {
        let methods: Vec<&str> = cat.methods.iter().map(|m| m.name).collect();
        let help = did_you_mean(name, methods.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("methods are: {}", methods.join(", ")));
        return Diagnostic::error(at, format!("there is no method `{name}` for a {receiver}"))
            .with_help(help);
    }
    Diagnostic::error(at, format!("there is no function `{name}({args})`"))
}

fn clean(text: &str) -> String {
    text.replace("debug_", "debug")
}
