//! `wf logs`: a step's log, or, with `--follow`, its log as it grows.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use clap::Args;

use super::error::{Error, Result};
use super::records::{no_records, open_records};
use crate::model::status::ExecStatus;
use crate::present::record::no_log;

#[derive(Args, Debug)]
pub struct LogsArgs {
    pub execution: String,
    pub step: String,
    /// Keep printing as the log grows, until the step ends
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub fn logs(home: Option<&Path>, a: LogsArgs) -> Result {
    let store = open_records(home)?.ok_or_else(|| no_records(home, &a.execution))?;
    let id = store.resolve_id(&a.execution)?;
    let steps = store.steps(&id)?;
    let Some(step) = steps.iter().find(|s| s.name == a.step) else {
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::failed(format!(
            "execution {id} has no step `{}`; its steps are: {}",
            a.step,
            names.join(", ")
        )));
    };
    let path = store.log_path(&id, &step.name);
    let mut offset = 0u64;
    loop {
        if let Ok(mut f) = std::fs::File::open(&path) {
            let _ = f.seek(SeekFrom::Start(offset));
            let mut buf = Vec::new();
            if f.read_to_end(&mut buf).is_ok() {
                offset += buf.len() as u64;
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(&buf).and_then(|_| out.flush()) {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(());
                    }
                }
            }
        } else if !a.follow {
            errln!("{}", no_log(step));
            return Ok(());
        }
        if !a.follow {
            return Ok(());
        }
        // Follow while the step may still write: until it ended, or the execution ended or
        // paused, or no runner is left to carry it on.
        let step_now = store
            .steps(&id)
            .ok()
            .and_then(|v| v.into_iter().find(|s| s.name == a.step))
            .map(|s| s.status);
        let exec_now = store.execution(&id).map(|e| e.status).ok();
        let settled = step_now.is_none_or(|s| s.is_terminal())
            || exec_now.is_none_or(|e| e != ExecStatus::Running)
            || !crate::exec::lock::is_held(&store.home, &id);
        if settled
            && std::fs::metadata(&path)
                .map(|m| m.len() <= offset)
                .unwrap_or(true)
        {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
