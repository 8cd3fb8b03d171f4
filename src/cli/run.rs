//! `wf run` and the commands that carry an execution on: `retry`, `proceed`, `resume`.
//! Each builds an engine with the terminal's progress (and a prompter when a person is at
//! the terminal), stops it on Ctrl-C and SIGTERM, and reports how it ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::progress::Progress;
use super::prompt::TerminalPrompter;
use super::stderr_color;
use crate::diag::render;
use crate::exec::engine::{runtime, Engine, Outcome};
use crate::exec::error::{exit, exit_status, ExecError};
use crate::exec::prepare::Request;
use crate::exec::signals::{cancel_on_signals, SignalGuard};
use crate::loader::load_and_check;
use crate::loader::LoadOptions;
use crate::model::status::{ExecStatus, Status};
use crate::session::{LocalDev, Paused};
use crate::store::{home_dir, Store};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The script (.rhai) or definition (.json) to run
    pub script: PathBuf,
    /// A parameter value (repeatable), parsed by the placeholder's type
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Parameter values from a JSON or TOML file of name -> value
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// The root folder of a storage (repeatable)
    #[arg(long, value_name = "NAME=ROOT")]
    pub storage: Vec<String>,
    /// Run only these steps, taking other steps' outputs from earlier executions
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub steps: Vec<String>,
    /// Run the steps of one scene of the workflow's policy
    #[arg(long, value_name = "NAME", conflicts_with = "steps")]
    pub scene: Option<String>,
    /// Group this execution under an experiment
    #[arg(long, value_name = "ID")]
    pub experiment: Option<String>,
    /// How many steps may run at once
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_parallel: usize,
    /// Print the execution record as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Which workflow, when the script binds several
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
}

/// An engine for a command at the terminal, stopped by Ctrl-C and SIGTERM while it lives.
struct Runner {
    engine: Engine,
    _signals: Option<SignalGuard>,
    /// Sends the notifications status changes cause; after the run, keeps on a little for
    /// those still due (the next `wf` that runs sends the rest).
    _courier: Option<crate::notify::Courier>,
}

impl Runner {
    fn new(home: &Path, json: bool) -> Runner {
        let mut engine = Engine::new(home, crate::backends::backend)
            .listen(Arc::new(Progress::new(false, !json)));
        if let Some(p) = TerminalPrompter::if_interactive() {
            engine = engine.ask_with(Arc::new(p));
        }
        let courier = crate::notify::Courier::needed(home)
            .then(|| crate::notify::Courier::start(home, std::time::Duration::from_secs(10)));
        Runner {
            engine,
            _signals: None,
            _courier: courier,
        }
    }

    /// From now on Ctrl-C and SIGTERM stop the execution instead of the process.
    fn catch_signals(&mut self) -> Result<(), ExecError> {
        let guard = cancel_on_signals(runtime()?, self.engine.cancel().clone())
            .map_err(|e| ExecError::System(format!("cannot watch for signals: {e}")))?;
        self._signals = Some(guard);
        Ok(())
    }

    /// Carries out `act` with signals caught, then reports.
    fn carry(mut self, json: bool, act: impl FnOnce(&Engine) -> Result<Outcome, ExecError>) -> i32 {
        if let Err(e) = self.catch_signals() {
            return fail(e);
        }
        report(act(&self.engine), json)
    }

    /// As `carry`, for a new execution: when it cannot end normally, `--json` still prints
    /// what its record holds.
    fn carry_new(
        mut self,
        json: bool,
        exec: &str,
        act: impl FnOnce(&Engine) -> Result<Outcome, ExecError>,
    ) -> i32 {
        if let Err(e) = self.catch_signals() {
            return fail(e);
        }
        match act(&self.engine) {
            Ok(outcome) => report(Ok(outcome), json),
            Err(e) => {
                let code = fail(e);
                if json {
                    if let Ok(record) = self.engine.store().and_then(|s| Ok(s.record(exec)?)) {
                        outln!(
                            "{}",
                            serde_json::to_string_pretty(&record).unwrap_or_default()
                        );
                    }
                }
                code
            }
        }
    }
}

fn fail(e: ExecError) -> i32 {
    errln!("error: {e}");
    e.code()
}

/// Prints the record (`--json`) or what to do next, and gives the exit status.
fn report(result: Result<Outcome, ExecError>, json: bool) -> i32 {
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let id = &outcome.exec_id;
    if json {
        match outcome.record() {
            Ok(r) => outln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
            Err(e) => errln!("error: {e}"),
        }
    } else if outcome.status == ExecStatus::AwaitingInput {
        if let Ok(steps) = outcome.store.steps(id) {
            for s in steps.iter().filter(|s| s.status == Status::AwaitingInput) {
                errln!("  {}: {}", s.name, s.reason.clone().unwrap_or_default());
            }
        }
    } else if outcome.status == ExecStatus::Failed {
        errln!("  see `wf show {id}` and `wf logs {id} STEP`; `wf retry {id}` runs the failed steps again");
    }
    exit_status(outcome.status)
}

pub fn run(home: Option<&Path>, args: RunArgs) -> i32 {
    // A script that is not there is a mistake in the command, not in a script.
    if let Err(e) = std::fs::metadata(&args.script) {
        errln!("error: cannot read `{}`: {e}", args.script.display());
        return exit::USAGE;
    }
    let home = home_dir(home);
    let script_dir = base_dir_of(&args.script);
    let mut req = Request {
        steps: args.steps.clone(),
        scene: args.scene.clone(),
        experiment: args.experiment.clone(),
        max_parallel: args.max_parallel,
        param_texts: args.params.clone(),
        params_file: args.params_file.clone(),
        typed: Vec::new(),
        storage_texts: args.storage.clone(),
        base_dir: script_dir,
        defer_missing: false,
    };
    // Runs the script starts itself (`workflow.run()`, `debug()`) get the same values, and
    // are reported as this command reports its own.
    let dev = LocalDev::new(home.clone(), req.clone());
    let json = args.json;
    dev.report_runs_with(Box::new(move || Arc::new(Progress::new(false, !json))));
    let opts = LoadOptions {
        workflow: args.workflow.clone(),
        command: "wf run",
        dev: Some(dev.clone()),
        ..LoadOptions::default()
    };
    let checked = load_and_check(&args.script, &opts);
    err!(
        "{}",
        render(&checked.diags, &checked.sources, stderr_color())
    );
    // A debug execution the script left unfinished is recorded as paused, as the REPL's is.
    let paused = dev.end_session();
    let driven = dev.driven();
    if checked.errors() > 0 {
        let n = checked.errors();
        let errors = format!("{n} error{}", if n == 1 { "" } else { "s" });
        if driven.is_empty() {
            errln!(
                "error: `{}` is not a valid workflow: {errors}; nothing ran",
                args.script.display()
            );
            return exit::FAILED;
        }
        errln!(
            "error: `{}` has {errors}, after it started {}",
            args.script.display(),
            started(&driven)
        );
        report_driven(&home, &driven, paused.as_ref(), args.json);
        return exit::FAILED;
    }
    // A script that ran its workflow itself (`workflow.run(...)`, or `debug(...)` and
    // `next()`, as in a notebook) is done: its workflow is not run a second time.
    if !driven.is_empty() {
        return report_driven(&home, &driven, paused.as_ref(), args.json);
    }
    let Some(w) = checked.workflow else {
        return exit::FAILED;
    };
    // A definition keeps where its script was: relative paths resolve from there.
    if args.script.extension().is_some_and(|e| e == "json") {
        let script = PathBuf::from(&*w.obj.at.file);
        if script.is_file() {
            req.base_dir = base_dir_of(&script);
        }
    }
    let runner = Runner::new(&home, args.json);
    // Values are asked for (on a terminal) before signals are caught: Ctrl-C at a prompt
    // leaves at once, and nothing is recorded until every value is in.
    let prepared = match runner.engine.prepare(w, &req) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let exec = prepared.exec_id().to_string();
    runner.carry_new(args.json, &exec, |engine| engine.run(prepared))
}

/// "execution X" or "executions X (failed), Y (executed)".
fn started(driven: &[(String, ExecStatus)]) -> String {
    match driven {
        [(id, status)] => format!("execution {id} ({status})"),
        _ => format!(
            "executions {}",
            driven
                .iter()
                .map(|(id, status)| format!("{id} ({status})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reports the executions a script drove itself as `wf run` reports its own (`--json`: the
/// record of the last one), and gives the exit status of the worst of them: failed or
/// stopped, then paused, then executed.
fn report_driven(
    home: &Path,
    driven: &[(String, ExecStatus)],
    paused: Option<&Paused>,
    json: bool,
) -> i32 {
    if let Some(Paused {
        reason: Err(why), ..
    }) = paused
    {
        errln!("error: {why}");
    }
    let store = Store::open(home);
    if json {
        if let Some((id, _)) = driven.last() {
            match store.as_ref().map(|s| s.record(id)) {
                Ok(Ok(r)) => outln!("{}", serde_json::to_string_pretty(&r).unwrap_or_default()),
                Ok(Err(e)) => errln!("error: {e}"),
                Err(e) => errln!("error: {e}"),
            }
        }
    } else {
        for (id, status) in driven {
            match status {
                ExecStatus::Failed => errln!(
                    "  see `wf show {id}` and `wf logs {id} STEP`; `wf retry {id}` runs the failed steps again"
                ),
                ExecStatus::AwaitingInput => {
                    let Ok(store) = store.as_ref() else { continue };
                    if let Some(r) = store.execution(id).ok().and_then(|e| e.reason) {
                        errln!("execution {id} {r}");
                    }
                    for s in store.steps(id).unwrap_or_default() {
                        if s.status == Status::AwaitingInput {
                            errln!("  {}: {}", s.name, s.reason.clone().unwrap_or_default());
                        }
                    }
                }
                ExecStatus::Running => errln!(
                    "error: execution {id} is left running: `wf resume {id}` carries it on"
                ),
                ExecStatus::Executed | ExecStatus::Stopped => {}
            }
        }
    }
    let worst = |want: &[ExecStatus]| driven.iter().any(|(_, s)| want.contains(s));
    if worst(&[ExecStatus::Failed, ExecStatus::Stopped, ExecStatus::Running]) {
        exit::FAILED
    } else if worst(&[ExecStatus::AwaitingInput]) {
        exit::AWAITING_INPUT
    } else {
        exit::OK
    }
}

pub fn base_dir_of(script: &Path) -> PathBuf {
    let dir = script
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

#[derive(Args, Debug)]
pub struct CarryOnArgs {
    /// The execution (a unique prefix of its id, or `latest`)
    pub execution: String,
    /// Print the execution record as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// `wf resume EXEC`: carries on after the runner died; executed steps are not run again.
pub fn resume(home: Option<&Path>, a: CarryOnArgs) -> i32 {
    Runner::new(&home_dir(home), a.json).carry(a.json, |engine| engine.resume(&a.execution))
}

#[derive(Args, Debug)]
pub struct RetryArgs {
    /// The execution
    pub execution: String,
    /// Only this step (and what follows it); else every failed and stopped step
    pub step: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `wf retry EXEC [STEP]`: runs the failed and stopped steps again and carries on.
pub fn retry(home: Option<&Path>, a: RetryArgs) -> i32 {
    Runner::new(&home_dir(home), a.json).carry(a.json, |engine| {
        engine.retry(&a.execution, a.step.as_deref())
    })
}

#[derive(Args, Debug)]
pub struct ProceedArgs {
    /// The execution
    pub execution: String,
    /// The step awaiting input
    pub step: String,
    /// The values it waits for (none for a labeling step whose samples are all labelled)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

/// `wf proceed EXEC STEP -p NAME=VALUE...`: supplies awaited input and carries on.
pub fn proceed(home: Option<&Path>, a: ProceedArgs) -> i32 {
    Runner::new(&home_dir(home), a.json).carry(a.json, |engine| {
        engine.proceed(&a.execution, &a.step, &a.params)
    })
}
