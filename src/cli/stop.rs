//! `wf stop`: stop an execution, or one of its steps.

use std::path::Path;

use clap::Args;

use super::error::Result;
use crate::exec::engine::{Engine, Stopping};
use crate::store::home_dir;

#[derive(Args, Debug)]
pub struct StopArgs {
    pub execution: String,
    /// Only this step
    pub step: Option<String>,
}

pub fn stop(home: Option<&Path>, a: StopArgs) -> Result {
    let engine = Engine::new(&home_dir(home), crate::backends::backend);
    match engine.stop(&a.execution, a.step.as_deref())? {
        (id, Stopping::AlreadyEnded(status)) => {
            errln!("execution {id} already ended: {status}");
        }
        (id, Stopping::Asked) => {
            errln!(
                "asked the runner of {id} to stop {}",
                a.step.map(|s| format!("step `{s}`")).unwrap_or("it".into())
            );
        }
        (id, Stopping::Recorded) => {
            errln!("stopped {id}");
        }
    }
    Ok(())
}
