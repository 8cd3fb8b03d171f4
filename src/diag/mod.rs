//! Diagnostics: an error (or note) at a place in a script, rendered the way compilers do:
//!
//! ```text
//! flow.rhai:12:5: error: `wf.steps.JobStep` has no keyword `depend_step`
//!    |
//! 12 |     depend_step: [train],
//!    |     ^^^^^^^^^^^ did you mean `depend_steps`?
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// A place in a script: the file (as given on the command line or `import`), line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: Arc<str>, line: u32, col: u32) -> Self {
        Span { file, line, col }
    }
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
    /// Parses `file:line:col` (the form definitions store).
    pub fn parse(text: &str) -> Option<Span> {
        let (rest, col) = text.rsplit_once(':')?;
        let (file, line) = rest.rsplit_once(':')?;
        Some(Span::new(
            file.into(),
            line.parse().ok()?,
            col.parse().ok()?,
        ))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(serialize_with = "span_as_text")]
    pub at: Span,
    pub message: String,
    /// Shown under the caret: a suggestion or what was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

fn span_as_text<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(span)
}

impl Diagnostic {
    pub fn error(at: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            at,
            message: message.into(),
            help: None,
        }
    }
    pub fn note(at: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(at, message)
        }
    }
    pub fn warning(at: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(at, message)
        }
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Where diagnostics found while a script runs are collected, so that every error is
/// reported rather than only the first.
#[derive(Debug, Clone, Default)]
pub struct Sink(Arc<Mutex<Vec<Diagnostic>>>);

impl Sink {
    pub fn push(&self, d: Diagnostic) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !v.contains(&d) {
            v.push(d);
        }
    }
    pub fn take(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
    pub fn error_count(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|d| d.is_error())
            .count()
    }
}

/// The text of every script file seen, for rendering source lines.
#[derive(Debug, Clone, Default)]
pub struct Sources(Arc<Mutex<HashMap<Arc<str>, Arc<str>>>>);

impl Sources {
    pub fn add(&self, file: Arc<str>, text: Arc<str>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(file, text);
    }
    pub fn get(&self, file: &str) -> Option<Arc<str>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map.get(file) {
            return Some(t.clone());
        }
        drop(map);
        // A definition may point at a script that is still on disk.
        let text: Arc<str> = std::fs::read_to_string(file).ok()?.into();
        self.add(file.into(), text.clone());
        Some(text)
    }
}

/// Renders diagnostics with the source line and a caret; `color` adds ANSI colours.
pub fn render(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        render_one(&mut out, d, sources, color);
    }
    out
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// How much of a long source line a diagnostic shows, in characters.
const LINE_WINDOW: usize = 200;

/// A long line cut to a window around `col` (marked `…` where cut), and `col` in it.
fn clip_line(text: &str, col: usize) -> (String, usize) {
    let len = text.chars().count();
    if len <= LINE_WINDOW {
        return (text.to_string(), col);
    }
    let start = col.saturating_sub(LINE_WINDOW / 3).min(len - LINE_WINDOW);
    let mut shown: String = text.chars().skip(start).take(LINE_WINDOW).collect();
    let mut col = col - start;
    if start > 0 {
        shown.insert(0, '…');
        col += 1;
    }
    if start + LINE_WINDOW < len {
        shown.push('…');
    }
    (shown, col)
}

fn render_one(out: &mut String, d: &Diagnostic, sources: &Sources, color: bool) {
    let (label, code) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
        Severity::Note => ("note", "1;36"),
    };
    let line_text =
        d.at.is_known()
            .then(|| sources.get(&d.at.file))
            .flatten()
            .and_then(|src| {
                src.lines()
                    .nth(d.at.line as usize - 1)
                    .map(|l| l.trim_end().to_string())
            });
    // A property read is placed on its `.`: point at the name after it.
    let mut col = (d.at.col.max(1) - 1) as usize;
    if line_text.as_deref().and_then(|t| t.chars().nth(col)) == Some('.') {
        col += 1;
    }
    let head = if d.at.is_known() {
        format!("{}:{}:{}: ", d.at.file, d.at.line, col + 1)
    } else if !d.at.file.is_empty() {
        format!("{}: ", d.at.file)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{}{}{} {}",
        paint(color, "1", &head),
        paint(color, code, label),
        paint(color, "1", ":"),
        d.message
    );
    match line_text.map(|t| clip_line(&t, col)) {
        Some((text, col)) => {
            let num = d.at.line.to_string();
            let pad = " ".repeat(num.len());
            let bar = paint(color, "1;34", "|");
            let _ = writeln!(out, "{pad} {bar}");
            let _ = writeln!(out, "{} {bar} {}", paint(color, "1;34", &num), text);
            let prefix: String = text
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = token_width(&text, col).min(LINE_WINDOW);
            let carets = paint(color, code, &"^".repeat(width));
            match &d.help {
                Some(h) => {
                    let _ = writeln!(out, "{pad} {bar} {prefix}{carets} {h}");
                }
                None => {
                    let _ = writeln!(out, "{pad} {bar} {prefix}{carets}");
                }
            }
        }
        None => {
            if let Some(h) = &d.help {
                let _ = writeln!(out, "  = help: {h}");
            }
        }
    }
}

/// How many characters the token starting at `col` spans: an identifier, a string
/// literal, or one character.
fn token_width(line: &str, col: usize) -> usize {
    let chars: Vec<char> = line.chars().collect();
    let Some(&first) = chars.get(col) else {
        return 1;
    };
    if first == '"' || first == '`' {
        let mut i = col + 1;
        while i < chars.len() && chars[i] != first {
            if chars[i] == '\\' {
                i += 1;
            }
            i += 1;
        }
        return (i + 1 - col).min(chars.len() - col);
    }
    if first.is_alphanumeric() || first == '_' {
        let n = chars[col..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_')
            .count();
        return n.max(1);
    }
    1
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_identifier() {
        let sources = Sources::default();
        sources.add("a.rhai".into(), "let x = 1;\n  foo_bar(1);\n".into());
        let d = Diagnostic::error(Span::new("a.rhai".into(), 2, 3), "bad call")
            .with_help("did you mean `foo`?");
        let text = render(&[d], &sources, false);
        assert_eq!(
            text,
            "a.rhai:2:3: error: bad call\n  |\n2 |   foo_bar(1);\n  |   ^^^^^^^ did you mean `foo`?\n"
        );
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(
            did_you_mean("depend_step", ["depend_steps", "name"]),
            Some("depend_steps")
        );
        assert_eq!(did_you_mean("zzz", ["depend_steps", "name"]), None);
    }
}
