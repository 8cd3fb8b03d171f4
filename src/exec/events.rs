//! What an execution tells the world, and what it may ask of a person.
//!
//! Every status change is committed to the records first; then it goes out through one
//! [`EventSink`] to each [`Listener`]: the terminal's progress, and later server-sent events
//! and notifications. The engine never prints and never reads a terminal itself: a front-end
//! that has a person at hand supplies a [`Prompter`]; the REPL and the notebook supply none,
//! and `next()` names what is missing instead.

use std::path::PathBuf;
use std::sync::Arc;

use crate::model::status::{ExecStatus, Status};
use crate::model::val::{Obj, Val};

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A runner took the execution up (a new run, a resume, a retry, a proceed).
    Started { exec_id: String, workflow: String },
    /// A step's status changed; the change is already in the records.
    Step {
        exec_id: String,
        step: String,
        status: Status,
        reason: Option<String>,
    },
    /// The execution's status changed; the change is already in the records.
    Execution {
        exec_id: String,
        status: ExecStatus,
        reason: Option<String>,
    },
    /// Worth telling a person, but not a status change (a retry, a stop asked for).
    Note { exec_id: String, text: String },
}

pub trait Listener: Send + Sync {
    fn on_event(&self, event: &Event);
}

/// Sends each event to every listener, in the order they were added.
#[derive(Clone, Default)]
pub struct EventSink {
    listeners: Vec<Arc<dyn Listener>>,
}

impl EventSink {
    pub fn add(&mut self, listener: Arc<dyn Listener>) {
        self.listeners.push(listener);
    }

    pub fn emit(&self, event: Event) {
        for l in &self.listeners {
            l.on_event(&event);
        }
    }
}

/// Asks a person for what a run lacks.
pub trait Prompter: Send + Sync {
    /// A value for the placeholder `p`; `None` when none was given.
    fn value(&self, p: &Obj) -> Option<Val>;
    /// The root folder of the storage `s`; `None` when none was given.
    fn storage_root(&self, s: &Obj) -> Option<PathBuf>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);

    impl Listener for Collect {
        fn on_event(&self, event: &Event) {
            if let Event::Step { step, status, .. } = event {
                self.0.lock().unwrap().push(format!("{step} {status}"));
            }
        }
    }

    #[test]
    fn every_listener_hears_every_event_in_order() {
        let (a, b) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
        let mut sink = EventSink::default();
        sink.add(a.clone());
        sink.add(b.clone());
        for status in [Status::Running, Status::Executed] {
            sink.emit(Event::Step {
                exec_id: "e".into(),
                step: "s".into(),
                status,
                reason: None,
            });
        }
        let want = ["s running", "s executed"];
        assert_eq!(*a.0.lock().unwrap(), want);
        assert_eq!(*b.0.lock().unwrap(), want);
    }
}
