//! `wf repl`: the development state at a terminal. Statements and expressions are evaluated
//! one input at a time, keeping variables and functions, so a workflow is built up line by
//! line; `workflow.debug(...)` and `workflow.next()` step through it phase by phase.
//!
//! The line editor around the shared session (`session::cell`); tab completion and
//! multi-line detection are the session's (`session::complete`), shared with the kernel.

pub use crate::session::complete;

/// Prints to stderr; a closed stderr is ignored.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `err!` with a newline.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use crate::script::engine::ScriptMeter;
pub use crate::session::cell::{show, Output, Session};
use crate::session::Paused;

struct ReplHelper {
    vars: Vec<(String, Option<&'static str>)>,
    functions: Vec<String>,
    color: bool,
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let known = complete::Known {
            vars: self.vars.iter().map(|(n, c)| (n.as_str(), *c)).collect(),
            functions: self.functions.clone(),
        };
        let (start, c) = complete::complete(line, pos, &known);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(complete::colour(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(
        &self,
        _line: &str,
        _pos: usize,
        _kind: rustyline::highlight::CmdKind,
    ) -> bool {
        self.color
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

// Every line is taken as typed; an input whose brackets are still open goes on at the
// continuation prompt (see `read_input`).
impl Validator for ReplHelper {
    fn validate(&self, _ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
    }
}

/// One input: a line at `wf> `, and more lines at `..> ` while its brackets are open.
/// Ctrl-C drops the input under way and comes back to `wf> `.
fn read_input(
    editor: &mut Editor<ReplHelper, FileHistory>,
) -> Result<Option<String>, rustyline::error::ReadlineError> {
    use rustyline::error::ReadlineError;
    let mut input = match editor.readline("wf> ") {
        Ok(line) => line,
        Err(ReadlineError::Interrupted) => return Ok(None),
        Err(e) => return Err(e),
    };
    while complete::is_incomplete(&input) {
        match editor.readline("..> ") {
            Ok(more) => {
                input.push('\n');
                input.push_str(&more);
            }
            Err(ReadlineError::Interrupted) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(input))
}

impl Helper for ReplHelper {}

/// Interrupts the evaluation under way on each SIGINT, for as long as the guard lives.
fn watch_interrupts(clock: ScriptMeter) -> Option<tokio::task::JoinHandle<()>> {
    let rt = crate::exec::engine::runtime().ok()?;
    let _inside = rt.enter();
    let mut sigint =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok()?;
    Some(rt.spawn(async move {
        while sigint.recv().await.is_some() {
            clock.interrupt();
        }
    }))
}

/// The interactive loop.
pub fn run(home: &Path, script: Option<&Path>, storage: Vec<String>) -> i32 {
    let color = crate::present::term::stderr_color();
    let dir = script
        .and_then(|s| s.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut session = Session::new(home.to_path_buf(), dir, storage, color);
    // Ctrl-C while an input is evaluated stops it and comes back to the prompt (at the
    // prompt the line editor reads it as a key); a phase under way stops too (`next()`).
    let _interrupts = watch_interrupts(session.meter());
    // Tab completes what is common to the candidates, then lists them (as a shell does).
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            errln!("error: cannot start the line editor: {e}");
            return 1;
        }
    };
    let history = home.join("repl_history");
    let _ = crate::store::private_dir(home);
    let _ = editor.load_history(&history);
    errln!("wf repl: build and debug workflows; :help for commands, Ctrl-D to leave");
    if let Some(s) = script {
        let o = session.input(&format!(":load {}", s.display()));
        crate::present::term::write_stdout(format_args!("{}", o.out));
        err!("{}", o.err);
        if session.workflow().is_some() {
            errln!(
                "loaded {}: the workflow is bound; try `:graph` or `workflow.debug(#{{}})`",
                s.display()
            );
        }
    }
    loop {
        let (vars, functions) = session.known();
        editor.set_helper(Some(ReplHelper {
            vars,
            functions,
            color,
        }));
        match read_input(&mut editor) {
            Ok(None) => continue,
            Ok(Some(line)) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                let o = session.input(&line);
                err!("{}", o.err);
                crate::present::term::write_stdout(format_args!("{}", o.out));
                if o.quit {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                errln!("error: {e}");
                break;
            }
        }
    }
    let _ = editor.save_history(&history);
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o600));
    }
    // A debug execution left unfinished is recorded as paused; `wf resume` finishes it.
    match session.dev.end_session() {
        Some(Paused {
            execution,
            reason: Ok(reason),
        }) => errln!("debug execution {execution} {reason}"),
        Some(Paused {
            reason: Err(why), ..
        }) => errln!("error: {why}"),
        None => {}
    }
    0
}
