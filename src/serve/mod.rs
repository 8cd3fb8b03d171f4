//! `wf serve`: the REST API and live events over the records (CONTRACT §8).

use std::path::Path;

/// Serves until interrupted; the exit status.
pub fn run(_home: &Path, _bind: &str, _show_token: bool) -> i32 {
    eprintln!("error: wf serve is not built yet");
    1
}
