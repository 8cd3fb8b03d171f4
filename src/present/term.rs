//! Terminal helpers shared by the command line, the REPL and the kernel's plain text: writing
//! to a pipe that may close, colour, escaping what a name holds, and tables sized by the
//! columns their text takes.

use std::io::IsTerminal;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Writes to stdout; when the reader has gone (a closed pipe), leaves quietly, as `cargo`
/// and `rg` do: what a command prints comes after what it records.
pub fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(crate::exec::error::exit::OK);
        }
    }
}

/// Whether to colour what goes to stderr.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// A name or text as a table or message shows it: control characters (a newline, a
/// terminal's escape, a DEL) and the characters that reorder a line (bidirectional
/// overrides) are written as escapes (`\n`, `\x1b`, `\u{202e}`), so what a name holds
/// cannot start a line of its own or drive the terminal; anything else is kept as it is.
/// JSON output is exact and never goes through this.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `s` in at most `n` terminal columns, ending in `…` when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if text_width(s) <= n {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > n {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// The columns `s` takes in a terminal: a Chinese or Japanese character takes two.
pub fn text_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `w` terminal columns (on the right, or on the left when
/// `right` aligns it right).
pub fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(text_width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Rows as columns sized from their content (the heading included) by display width, two
/// spaces apart; the last column is not padded. Columns in `right` are aligned right.
/// Returns the lines and the width of each column.
pub fn table(indent: &str, rows: &[Vec<String>], right: &[usize]) -> (Vec<String>, Vec<usize>) {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| text_width(c))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i + 1 == r.len() {
                        c.clone()
                    } else {
                        pad(c, widths[i], right.contains(&i))
                    }
                })
                .collect();
            format!("{indent}{}", cells.join("  "))
                .trim_end()
                .to_string()
        })
        .collect();
    (lines, widths)
}

/// A recorded time as a table shows it: `2026-01-02 03:04:05`.
pub fn short_time(t: &str) -> String {
    t.replace('T', " ").chars().take(19).collect()
}

/// The time between two recorded times (`1.5s`, `2m05s`), or `-` when one is missing.
pub fn duration(start: &str, end: Option<&str>) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(start), end.and_then(parse)) {
        (Some(a), Some(b)) => {
            let ms = (b - a).num_milliseconds().max(0);
            if ms < 60_000 {
                format!("{:.1}s", ms as f64 / 1000.0)
            } else {
                format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
            }
        }
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_sized_by_display_width() {
        let rows = vec![
            vec![
                "STEP".to_string(),
                "TYPE".into(),
                "STATUS".into(),
                "DETAIL".into(),
            ],
            vec![
                "make".into(),
                "create_dataset".into(),
                "executed".into(),
                "ok".into(),
            ],
            vec![
                "数据集".into(),
                "job".into(),
                "failed".into(),
                "データ".into(),
            ],
        ];
        let (lines, widths) = table("  ", &rows, &[]);
        assert_eq!(widths[..3], [6, 14, 8]);
        // Every row's STATUS starts at the same terminal column.
        let status_col = |l: &str, word: &str| text_width(&l[..l.find(word).unwrap()]);
        assert_eq!(status_col(&lines[0], "STATUS"), 2 + 6 + 2 + 14 + 2);
        assert_eq!(status_col(&lines[1], "executed"), 2 + 6 + 2 + 14 + 2);
        assert_eq!(status_col(&lines[2], "failed"), 2 + 6 + 2 + 14 + 2);
        // The last column is not padded.
        assert!(lines[2].ends_with("failed    データ"), "{:?}", lines[2]);
    }

    #[test]
    fn truncation_counts_columns() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("数据集合", 5), "数据…");
        assert_eq!(text_width(&truncate("数据集合", 5)), 5);
        assert_eq!(truncate("数据", 4), "数据");
    }

    #[test]
    fn durations_read_as_seconds_then_minutes() {
        let t0 = "2026-01-02T03:04:05.000Z";
        assert_eq!(duration(t0, Some("2026-01-02T03:04:06.500Z")), "1.5s");
        assert_eq!(duration(t0, Some("2026-01-02T03:06:10.000Z")), "2m05s");
        assert_eq!(duration(t0, None), "-");
        assert_eq!(short_time(t0), "2026-01-02 03:04:05");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\nb\x1b"), "a\\nb\\x1b");
        assert_eq!(escape_control("\u{202e}x"), "\\u{202e}x");
        assert!(matches!(
            escape_control("数据"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
