//! Asking a person at the terminal for what a run lacks: a parameter, a storage root, a
//! delayed value. Only `wf run` and the commands that carry a run on ask, and only when
//! stdin and stderr are terminals; the REPL never does.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::exec::events::Prompter;
use crate::exec::params::{describe_expected, parse_text};
use crate::model::val::{Obj, Val};

pub struct TerminalPrompter;

impl TerminalPrompter {
    /// A prompter when a person is at the terminal.
    pub fn if_interactive() -> Option<TerminalPrompter> {
        (std::io::stdin().is_terminal() && std::io::stderr().is_terminal())
            .then_some(TerminalPrompter)
    }
}

impl Prompter for TerminalPrompter {
    fn value(&self, p: &Obj) -> Option<Val> {
        prompt(p)
    }

    fn storage_root(&self, s: &Obj) -> Option<PathBuf> {
        err!("root folder of storage `{}`: ", s.name());
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 && !line.trim().is_empty() => Some(PathBuf::from(line.trim())),
            _ => None,
        }
    }
}

/// Asks for a value on the terminal until one parses; `None` when input ends (Ctrl-D).
pub fn prompt(p: &Obj) -> Option<Val> {
    let stdin = std::io::stdin();
    loop {
        err!(
            "{} ({}){}: ",
            p.name(),
            describe_expected(p),
            p.str_arg("description")
                .map(|d| format!(", {d}"))
                .unwrap_or_default()
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        match parse_text(p, line.trim_end_matches(['\n', '\r'])) {
            Ok(v) => return Some(v),
            Err(e) => errln!("  {e}"),
        }
    }
}
