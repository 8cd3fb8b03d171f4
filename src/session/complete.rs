//! Tab completion for the REPL and the kernel: `wf.*` paths, a constructor's keywords inside its `#{ }`,
//! methods and properties after `value.`, variables in scope, `:` commands. Pure functions
//! over the line and what the session knows, so they are tested without a terminal.

use crate::catalog::{Catalog, Member};

pub const COMMANDS: [&str; 9] = [
    ":help", ":load", ":graph", ":status", ":params", ":clear", ":quit", ":history", ":storage",
];

/// What the completer knows about the session.
pub struct Known<'a> {
    /// Variables in scope with, for `wf` objects, their class name.
    pub vars: Vec<(&'a str, Option<&'static str>)>,
    pub functions: Vec<String>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// Completes the text before `pos`: (where the replaced text starts, candidates).
pub fn complete(line: &str, pos: usize, known: &Known) -> (usize, Vec<String>) {
    let before = &line[..pos];
    if before.starts_with(':') && !before.contains(' ') {
        return (
            0,
            COMMANDS
                .iter()
                .filter(|c| c.starts_with(before))
                .map(|c| c.to_string())
                .collect(),
        );
    }
    let start = before
        .rfind(|c: char| !is_word(c))
        .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(0);
    let token = &before[start..];
    let cat = Catalog::get();

    if let Some((head, partial)) = token.rsplit_once('.') {
        // A namespace path: `wf.st` -> `wf.steps`.
        if cat.members.contains_key(head) {
            let mut out: Vec<String> = cat
                .member_names(head)
                .into_iter()
                .filter(|m| m.starts_with(partial))
                .map(|m| {
                    let path = format!("{head}.{m}");
                    match cat.member(head, m) {
                        Some(Member::Class(_)) => format!("{path}(#{{ "),
                        _ => path,
                    }
                })
                .collect();
            out.sort();
            return (start, out);
        }
        // An enumeration: `wf.PlaceholderType.I` -> `INT`.
        if let Some((ns, e)) = head.rsplit_once('.') {
            if let Some(Member::Enum(spec)) = cat.member(ns, e) {
                return (
                    start,
                    spec.values
                        .iter()
                        .filter(|v| v.starts_with(partial))
                        .map(|v| format!("{head}.{v}"))
                        .collect(),
                );
            }
        }
        // A variable: its methods and properties.
        if let Some((_, class)) = known.vars.iter().find(|(v, _)| *v == head) {
            let mut names: Vec<String> = Vec::new();
            if let Some(class) = class {
                let owner = match *class {
                    "Workflow" => Some("Workflow"),
                    "Storage" | "InputStorage" | "OutputStorage" | "StoragePath" => Some("Storage"),
                    _ => None,
                };
                if let Some(owner) = owner {
                    names.extend(
                        cat.methods
                            .iter()
                            .filter(|m| m.ns == owner)
                            .map(|m| format!("{}(", m.name)),
                    );
                }
                if crate::catalog::is_step(class) {
                    names.push("outputs[".into());
                }
                if let Some(spec) = cat.class(class) {
                    names.extend(spec.params.iter().map(|p| p.name.to_string()));
                }
            }
            let mut out: Vec<String> = names
                .into_iter()
                .filter(|n| n.starts_with(partial))
                .map(|n| format!("{head}.{n}"))
                .collect();
            out.sort();
            out.dedup();
            return (start, out);
        }
        return (start, Vec::new());
    }

    // A keyword inside a constructor's map: `wf.steps.JobStep(#{ na` -> `name: `.
    if let Some(class) = open_constructor(before) {
        if let Some(spec) = cat.class(class) {
            let prev = before[..start].trim_end();
            if prev.ends_with('{') || prev.ends_with(',') {
                let mut out: Vec<String> = spec
                    .params
                    .iter()
                    .flat_map(|p| std::iter::once(p.name).chain(p.alias))
                    .filter(|n| n.starts_with(token))
                    .map(|n| format!("{n}: "))
                    .collect();
                out.sort();
                return (start, out);
            }
        }
    }

    let mut out: Vec<String> = known
        .vars
        .iter()
        .map(|(v, _)| v.to_string())
        .chain(known.functions.iter().cloned())
        .chain(std::iter::once("wf".to_string()))
        .filter(|n| n.starts_with(token) && !token.is_empty())
        .collect();
    out.sort();
    out.dedup();
    (start, out)
}

/// The class whose `Name(#{` is still open at the end of `text`.
fn open_constructor(text: &str) -> Option<&str> {
    let mut depth = 0i32;
    let bytes: Vec<char> = text.chars().collect();
    let mut i = bytes.len();
    let mut in_str = false;
    while i > 0 {
        i -= 1;
        let c = bytes[i];
        if c == '"' {
            in_str = !in_str;
            continue;
        }
        if in_str {
            continue;
        }
        match c {
            '}' | ')' | ']' => depth += 1,
            '[' | '(' => depth -= 1,
            '{' => {
                if depth == 0 && i >= 2 && bytes[i - 1] == '#' && bytes[i - 2] == '(' {
                    let head: String = bytes[..i - 2].iter().collect();
                    let name_start = head
                        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .map(|p| p + 1)
                        .unwrap_or(0);
                    let name = &text[text[..]
                        .char_indices()
                        .nth(name_start)
                        .map(|(b, _)| b)
                        .unwrap_or(0)..];
                    let end = name.find('(').unwrap_or(name.len());
                    return Some(&name[..end]);
                }
                depth -= 1;
            }
            _ => {}
        }
        if depth < 0 {
            depth = 0;
        }
    }
    None
}

/// Colours a line of Rhai for the terminal: strings, numbers, keywords and `wf` names.
pub fn colour(line: &str) -> String {
    const KEYWORDS: [&str; 14] = [
        "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "return", "import", "as",
        "true", "false",
    ];
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '`' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.push_str("\x1b[32m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            out.push_str("\x1b[2m");
            out.extend(&chars[i..]);
            out.push_str("\x1b[0m");
            break;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            out.push_str("\x1b[36m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if KEYWORDS.contains(&word.as_str()) {
                out.push_str(&format!("\x1b[35m{word}\x1b[0m"));
            } else if word == "wf" || word.starts_with("wf.") {
                out.push_str(&format!("\x1b[34m{word}\x1b[0m"));
            } else {
                out.push_str(&word);
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether brackets are still open (the input goes on on the next line).
pub fn is_incomplete(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '`' => in_str = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth > 0 || in_str.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known<'static> {
        Known {
            vars: vec![
                ("workflow", Some("Workflow")),
                ("storage", Some("OutputStorage")),
                ("train", Some("JobStep")),
            ],
            functions: vec!["helper".into()],
        }
    }

    #[test]
    fn completes_namespace_paths() {
        let (start, c) = complete("let x = wf.st", 13, &known());
        assert_eq!(start, 8);
        assert_eq!(c, vec!["wf.steps"]);
        let (_, c) = complete("wf.steps.JobS", 13, &known());
        assert_eq!(c, vec!["wf.steps.JobSpec(#{ ", "wf.steps.JobStep(#{ "]);
        let (_, c) = complete("wf.PlaceholderType.F", 20, &known());
        assert_eq!(c, vec!["wf.PlaceholderType.FLOAT"]);
    }

    #[test]
    fn completes_constructor_keywords() {
        let line = "wf.steps.JobStep(#{ name: \"a\", de";
        let (_, c) = complete(line, line.len(), &known());
        assert_eq!(c, vec!["depend_steps: ", "dependencies: ", "description: "]);
        let line = "wf.Placeholder(#{ placeholder_type: wf.PlaceholderType.INT, d";
        let (_, c) = complete(line, line.len(), &known());
        assert_eq!(c, vec!["default: ", "delay: ", "description: "]);
    }

    #[test]
    fn completes_methods_variables_and_commands() {
        let (_, c) = complete("workflow.ne", 11, &known());
        assert_eq!(c, vec!["workflow.next("]);
        let (_, c) = complete("storage.j", 9, &known());
        assert_eq!(c, vec!["storage.join("]);
        let (_, c) = complete("tr", 2, &known());
        assert_eq!(c, vec!["train"]);
        let (_, c) = complete(":st", 3, &known());
        assert_eq!(c, vec![":status", ":storage"]);
        let (_, c) = complete(":sta", 4, &known());
        assert_eq!(c, vec![":status"]);
    }

    #[test]
    fn colouring_keeps_the_text() {
        let line = "let x = wf.Placeholder(#{ name: \"lr\", default: 0.1 }); // note";
        let coloured = colour(line);
        let plain: String = {
            let mut s = String::new();
            let mut chars = coloured.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    for d in chars.by_ref() {
                        if d == 'm' {
                            break;
                        }
                    }
                } else {
                    s.push(c);
                }
            }
            s
        };
        assert_eq!(plain, line);
        assert!(coloured.contains("\x1b[32m\"lr\"\x1b[0m"));
        assert!(coloured.contains("\x1b[34mwf.Placeholder\x1b[0m"));
    }

    #[test]
    fn open_brackets_continue_the_input() {
        assert!(is_incomplete("wf.Workflow(#{ name: \"a\","));
        assert!(is_incomplete("fn f() {"));
        assert!(!is_incomplete("let x = \"(\";"));
        assert!(!is_incomplete("f(1)"));
    }
}
