//! Ctrl-C and SIGTERM as cancellation. The streams are made once, before the guard is
//! returned, so no signal between here and the first poll is lost, and they are polled
//! again and again (a second Ctrl-C is ignored, not a crash).

use tokio::signal::unix::{signal, SignalKind};

use super::cancel::Cancel;

/// Cancels `cancel` on SIGINT or SIGTERM while it lives.
pub struct SignalGuard(tokio::task::JoinHandle<()>);

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn cancel_on_signals(
    rt: &tokio::runtime::Runtime,
    cancel: Cancel,
) -> std::io::Result<SignalGuard> {
    let _inside = rt.enter();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(SignalGuard(rt.spawn(async move {
        loop {
            tokio::select! {
                Some(()) = interrupt.recv() => cancel.cancel("stopped by Ctrl-C"),
                Some(()) = terminate.recv() => cancel.cancel("stopped by SIGTERM"),
                else => return,
            }
        }
    })))
}
