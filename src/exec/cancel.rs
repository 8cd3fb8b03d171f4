//! Stopping an execution: one token that Ctrl-C, SIGTERM, `wf stop` and the REPL's Ctrl-C
//! cancel, with the reason of whoever cancelled first. Each running step gets a child token,
//! which its timeout or a stop of that step alone cancels.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
    why: Arc<OnceLock<String>>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels, keeping the first reason given.
    pub fn cancel(&self, why: &str) {
        let _ = self.why.set(why.to_string());
        self.token.cancel();
    }

    /// Why it was cancelled, once it was.
    pub fn reason(&self) -> Option<&str> {
        self.why.get().map(String::as_str)
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once cancelled; may be awaited again and again.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// A token for one step: cancelled with this one, or alone.
    pub fn child(&self) -> CancellationToken {
        self.token.child_token()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept_and_children_follow() {
        let c = Cancel::new();
        let step = c.child();
        assert!(!step.is_cancelled());
        assert!(!c.is_cancelled());
        c.cancel("stopped by Ctrl-C");
        c.cancel("stopped by SIGTERM");
        assert!(c.is_cancelled());
        assert!(step.is_cancelled());
        assert_eq!(c.reason(), Some("stopped by Ctrl-C"));
    }

    #[test]
    fn a_child_cancelled_alone_leaves_the_execution_going() {
        let c = Cancel::new();
        let step = c.child();
        step.cancel();
        assert!(c.reason().is_none());
        assert!(!c.child().is_cancelled());
    }
}
