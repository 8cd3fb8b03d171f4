//! `inspect_request` (Shift-Tab in a notebook): what a `wf.*` name is, from the catalog: a
//! constructor's keywords with their types and defaults, an enumeration's values, a
//! namespace's members, a method's keywords.

use crate::catalog::{Catalog, ClassSpec, Member};

use super::html::escape;

/// What to show for the name at byte `pos` of `code`, as (text, HTML); `vars` are the
/// session's variables with, for `wf` objects, their class.
pub fn inspect(
    code: &str,
    pos: usize,
    vars: &[(String, Option<&'static str>)],
) -> Option<(String, String)> {
    let pos = pos.min(code.len());
    let word = word_at(code, pos);
    let callee = callee_before(&code[..pos]);
    [word, callee]
        .into_iter()
        .flatten()
        .find_map(|w| describe(&w, vars))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

/// The dotted name around `pos`.
fn word_at(code: &str, pos: usize) -> Option<String> {
    let start = code[..pos]
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = code[pos..]
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(code.len(), |(i, _)| pos + i);
    let w = code[start..end].trim_matches('.');
    (!w.is_empty()).then(|| w.to_string())
}

/// The name called by the innermost bracket still open before the cursor: in
/// `wf.steps.JobStep(#{ name: "a", ` it is `wf.steps.JobStep`.
fn callee_before(before: &str) -> Option<String> {
    let mut depth = 0i32;
    let mut in_str = false;
    for (i, c) in before.char_indices().rev() {
        if c == '"' {
            in_str = !in_str;
            continue;
        }
        if in_str {
            continue;
        }
        match c {
            ')' | ']' | '}' => depth += 1,
            '[' | '{' => depth -= 1,
            '(' => {
                if depth == 0 {
                    return word_at(before, i);
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

fn describe(word: &str, vars: &[(String, Option<&'static str>)]) -> Option<(String, String)> {
    let cat = Catalog::get();
    if cat.members.contains_key(word) {
        return Some(namespace(word));
    }
    let (head, name) = word.rsplit_once('.')?;
    match cat.member(head, name) {
        Some(Member::Class(spec)) => return Some(class(&format!("{head}.{name}"), spec)),
        Some(Member::Enum(e)) => {
            let text = format!(
                "{head}.{name}: an enumeration\nvalues: {}\n",
                e.values.join(", ")
            );
            let html = format!(
                "<p><code>{}</code>: an enumeration</p><p>values: {}</p>",
                escape(&format!("{head}.{name}")),
                e.values
                    .iter()
                    .map(|v| format!("<code>{}</code>", escape(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Some((text, html));
        }
        Some(Member::Namespace(ns)) => return Some(namespace(ns)),
        None => {}
    }
    // `workflow.next` and the like: a method of a variable's class.
    let class_of = vars.iter().find(|(v, _)| v == head).and_then(|(_, c)| *c)?;
    let owner = match class_of {
        "Workflow" => "Workflow",
        "Storage" | "InputStorage" | "OutputStorage" | "StoragePath" => "Storage",
        _ => return None,
    };
    let m = cat.method(owner, name)?;
    Some(class(&format!("{head}.{name}"), m))
}

fn namespace(ns: &str) -> (String, String) {
    let names = Catalog::get().member_names(ns);
    let text = format!("{ns}: a namespace\nmembers: {}\n", names.join(", "));
    let html = format!(
        "<p><code>{}</code>: a namespace</p><p>members: {}</p>",
        escape(ns),
        names
            .iter()
            .map(|n| format!("<code>{}</code>", escape(n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (text, html)
}

/// A constructor or method: its keywords, their types, whether required, their defaults.
fn class(path: &str, spec: &ClassSpec) -> (String, String) {
    let width = spec.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let ty_width = spec
        .params
        .iter()
        .map(|p| p.ty_text.len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{path}(#{{ ... }})\n");
    if spec.params.is_empty() {
        text.push_str("no keywords\n");
    } else {
        text.push_str("keywords:\n");
    }
    let mut rows = String::new();
    for p in &spec.params {
        let default = p
            .default
            .as_ref()
            .map(|d| format!("default {d}"))
            .unwrap_or_default();
        let need = if p.required { "required" } else { "optional" };
        let alias = p.alias.map(|a| format!(" (also {a})")).unwrap_or_default();
        text.push_str(&format!(
            "  {:width$}  {:ty_width$}  {need}{}{alias}\n",
            p.name,
            p.ty_text,
            if default.is_empty() {
                String::new()
            } else {
                format!(", {default}")
            }
        ));
        rows.push_str(&format!(
            "<tr><td><code>{}</code>{}</td><td>{}</td><td>{need}</td><td>{}</td></tr>\n",
            escape(p.name),
            escape(&alias),
            escape(p.ty_text),
            p.default
                .as_ref()
                .map(|d| format!("<code>{}</code>", escape(&d.to_string())))
                .unwrap_or_default()
        ));
    }
    let html = format!(
        "<p><code>{}(#{{ ... }})</code></p>\n<table><thead><tr><th>keyword</th><th>type</th><th></th><th>default</th></tr></thead><tbody>\n{rows}</tbody></table>\n",
        escape(path)
    );
    (text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constructor_shows_its_keywords_types_and_defaults() {
        let code = "let p = wf.Placeholder(#{ name: \"x\", ";
        let (text, html) = inspect(code, code.len(), &[]).unwrap();
        assert!(text.starts_with("wf.Placeholder(#{ ... })"), "{text}");
        assert!(text.contains("placeholder_type"), "{text}");
        assert!(text.contains("default"), "{text}");
        assert!(html.contains("<table>"), "{html}");
        let (text, _) = inspect("wf.steps.JobStep", 12, &[]).unwrap();
        assert!(text.contains("algorithm"), "{text}");
    }

    #[test]
    fn enumerations_namespaces_and_methods() {
        let (text, _) = inspect("wf.PlaceholderType", 5, &[]).unwrap();
        assert!(text.contains("INT"), "{text}");
        let (text, _) = inspect("wf.steps", 4, &[]).unwrap();
        assert!(text.contains("JobStep"), "{text}");
        let vars = vec![("workflow".to_string(), Some("Workflow"))];
        let (text, _) = inspect("workflow.set_placeholder(", 12, &vars).unwrap();
        assert!(text.starts_with("workflow.set_placeholder"), "{text}");
        assert!(inspect("nothing here", 3, &[]).is_none());
    }
}
