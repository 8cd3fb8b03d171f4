//! The logs of `wf serve` and of a service's supervisor: `tracing` events written to stderr,
//! one line each (the supervisor's stderr is its `supervisor.log`).
//!
//! The server's lines read as its messages always have: `error: ` before an error,
//! `warning: ` before a warning, and `execution ID: ` first when the event names one
//! (`tracing::error!(execution = %id, "...")`). The supervisor's lines start with the time
//! (RFC 3339, milliseconds, UTC). Nothing secret is logged: the API token is printed by the
//! server, not logged.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// How a process's log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `wf serve`: the level as a word (`error: `, `warning: `), no time.
    Serve,
    /// A service's supervisor: the time first, no level word.
    Supervisor,
}

/// Sends this process's log events to stderr in `style`, from INFO up. The first call in a
/// process decides; later calls do nothing.
pub fn init(style: Style) {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(Level::INFO)
        .with_writer(std::io::stderr)
        .event_format(Lines { style })
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The line format of [`Style`].
pub struct Lines {
    pub style: Style,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "{}",
            line(self.style, *event.metadata().level(), &fields)
        )
    }
}

/// An event's message and the fields a line shows.
#[derive(Default)]
struct Fields {
    message: String,
    execution: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "execution" => self.execution = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                self.message.clear();
                let _ = write!(self.message, "{value:?}");
            }
            "execution" => self.execution = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

fn line(style: Style, level: Level, f: &Fields) -> String {
    let mut out = String::new();
    match style {
        Style::Supervisor => {
            out.push_str(&crate::store::now());
            out.push(' ');
        }
        Style::Serve => {
            if let Some(id) = &f.execution {
                let _ = write!(out, "execution {id}: ");
            }
            out.push_str(match level {
                Level::ERROR => "error: ",
                Level::WARN => "warning: ",
                _ => "",
            });
        }
    }
    out.push_str(&f.message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes in `style`.
    fn logged(style: Style, log: impl FnOnce()) -> String {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::INFO)
            .with_writer(move || out.clone())
            .event_format(Lines { style })
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn server_lines_read_as_its_messages() {
        let id = "ab12";
        let text = logged(Style::Serve, || {
            tracing::info!("serving the API at http://127.0.0.1:7878 (Ctrl-C stops)");
            tracing::warn!("cannot take a connection: {}", "too many open files");
            tracing::error!(execution = %id, "the runner died");
            tracing::info!("resuming execution {id}: its runner died");
            tracing::debug!("not shown");
        });
        assert_eq!(
            text,
            "serving the API at http://127.0.0.1:7878 (Ctrl-C stops)\n\
             warning: cannot take a connection: too many open files\n\
             execution ab12: error: the runner died\n\
             resuming execution ab12: its runner died\n"
        );
    }

    #[test]
    fn supervisor_lines_start_with_the_time() {
        let text = logged(Style::Supervisor, || {
            tracing::info!("flowers@0.0.1 is healthy");
            tracing::error!("cannot bind an address: in use");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for (l, msg) in lines
            .iter()
            .zip(["flowers@0.0.1 is healthy", "cannot bind an address: in use"])
        {
            let (time, rest) = l.split_once(' ').unwrap();
            assert_eq!(rest, msg);
            assert!(
                chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'),
                "{l}"
            );
        }
    }
}
