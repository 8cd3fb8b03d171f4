//! JobStep: the algorithm runs as child processes in its `code_dir` (README, "A script").
//! Planning resolves the algorithm (a `BaseAlgorithm`, or one registered here), its
//! hyperparameters, inputs, outputs and flavor into the command line and environment;
//! running starts one process per node, records their process groups, and reads the
//! metrics files once they exited 0.

mod owner;
mod process;
mod remote;

pub use owner::{owner_main, protection_wanted};

pub use process::{end_recorded, kill_by_environment, kill_groups, open_log, signal_group, Group};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::exec::backend::{
    Attempt, Backend, BoxFuture, Plan, PlanCtx, PreflightCtx, StepEnd, StepError, Work,
};
use crate::exec::error::ExecError;
use crate::exec::metrics::read_metrics;
use crate::exec::params::flavor_ref;
use crate::model::spec::{AlgorithmSource, DataInput, OutputTo, StepSpec};
use crate::model::val::Val;
use crate::model::workflow::{value_key, Step};
use crate::pools::flavors::Flavor;
use crate::store::logs::log_tail;
use process::{JobEnd, JobRun};
use remote::{RemoteEnd, RemoteJob};

pub struct JobBackend;

/// `WF_PARAM_` + `learning-rate` → `WF_PARAM_LEARNING_RATE`.
pub fn env_name(prefix: &str, name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{body}")
}

/// The variables every process a step starts gets: which execution, workflow and step.
pub fn base_env(ctx: &PlanCtx, step: &Step) -> Vec<(String, String)> {
    vec![
        ("WF_EXECUTION_ID".into(), ctx.exec_id().to_string()),
        ("WF_WORKFLOW".into(), ctx.workflow.name.clone()),
        ("WF_STEP_NAME".into(), step.name.clone()),
    ]
}

/// Hyperparameters as `--name=value` arguments and `WF_PARAM_*` variables.
pub fn pass_params(
    params: &[(String, String)],
    argv: &mut Vec<String>,
    env: &mut Vec<(String, String)>,
) {
    for (n, v) in params {
        argv.push(format!("--{n}={v}"));
        env.push((env_name("WF_PARAM_", n), v.clone()));
    }
}

/// Inputs as `--name=PATH` arguments and `WF_INPUT_*` variables; returns them as the
/// record shows them.
pub fn pass_inputs(
    given: &[DataInput],
    ctx: &PlanCtx,
    argv: &mut Vec<String>,
    env: &mut Vec<(String, String)>,
) -> Result<Map<String, Value>, StepError> {
    let mut inputs = Map::new();
    for i in given {
        let name = i.name.clone();
        let path = ctx
            .values
            .path(&i.data)
            .map_err(|e| format!("input `{name}`: {e}"))?;
        let p = path.to_string_lossy().into_owned();
        argv.push(format!("--{name}={p}"));
        env.push((env_name("WF_INPUT_", &name), p.clone()));
        inputs.insert(name, json!({ "path": p }));
    }
    Ok(inputs)
}

/// Where the job runs: processes here, or a job on a resource pool.
enum Runner {
    Local(JobRun, Option<OwnedPlan>),
    Remote(Box<RemoteJob>),
}

/// A local job run through its owner process (`owner.rs`).
struct OwnedPlan {
    program: PathBuf,
    step_dir: PathBuf,
    /// The attempt a dead runner's record names, taken up by the first attempt.
    recorded: std::sync::Mutex<Option<u32>>,
    /// The attempt the records say failed or stopped.
    ended: Option<u32>,
    read_only: Vec<PathBuf>,
}

/// What the job runs, resolved for this execution.
struct JobWork {
    run: Runner,
    outputs: IndexMap<String, Value>,
    metrics_files: Vec<PathBuf>,
    log_export: Option<PathBuf>,
}

/// An algorithm as a job runs it.
struct Algorithm {
    code_dir: PathBuf,
    boot_file: Option<String>,
    command: Option<String>,
    parameters: Vec<(String, String)>,
    environments: Vec<(String, String)>,
}

impl Backend for JobBackend {
    /// The flavor names one of this machine's, or one of a resource pool that can be
    /// reached; a flavor given by a delayed placeholder is checked when the job is planned.
    fn preflight(&self, step: &Step, ctx: &PreflightCtx) -> Result<(), ExecError> {
        let Ok(StepSpec::Job(spec)) = step.spec() else {
            return Ok(());
        };
        let w = ctx.workflow;
        let (given, value) = match &spec.resource.flavor {
            Some(Val::Obj(p)) if p.is_placeholder() => (
                format!("-p {}", w.shown_key(&value_key(p))),
                ctx.values.get(&value_key(p)),
            ),
            Some(other) => (format!("step `{}`", step.name), Some(other)),
            None => return Ok(()),
        };
        let id = match value {
            None | Some(Val::Obj(_)) => return Ok(()),
            Some(v) => flavor_ref(v).map_err(|e| ExecError::Usage(format!("{given}: {e}")))?,
        };
        if let Some((pool, flavor)) = crate::pools::split_ref(&id) {
            let store = crate::store::Store::open(ctx.home)?;
            let pool = crate::pools::named(&store, pool)
                .map_err(|e| ExecError::Usage(format!("{given}: {e}")))?;
            pool.flavor(flavor).map_err(|e| match e {
                crate::pools::FlavorError::Unreachable(e) => {
                    ExecError::Refused(format!("{given}: {e}"))
                }
                crate::pools::FlavorError::Unknown(e) => ExecError::Usage(format!("{given}: {e}")),
            })?;
            return Ok(());
        }
        if ctx.machine.flavor(&id).is_none() {
            return Err(ExecError::Usage(format!(
                "{given}: no flavor `{id}` on this machine; its flavors are: {} (`wf flavors` lists them)",
                ctx.machine.flavor_ids()
            )));
        }
        Ok(())
    }

    fn writes_log(&self) -> bool {
        true
    }

    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let values = &ctx.values;
        let spec = match super::args::spec(step)? {
            StepSpec::Job(j) => j,
            other => return Err(super::args::wrong_kind(step, other).into()),
        };
        let algo = &spec.algorithm;
        let mut a = algorithm(&algo.source, ctx)?;
        // Hyperparameters given on the step's algorithm override a registered algorithm's.
        for p in &algo.parameters {
            let value = values.text(&p.value)?;
            a.parameters.retain(|(n, _)| *n != p.name);
            a.parameters.push((p.name.clone(), value));
        }
        for (k, v) in &algo.environments {
            a.environments.push((k.clone(), values.text(v)?));
        }
        let mut argv: Vec<String> = match (&a.boot_file, &a.command) {
            (Some(b), _) => {
                let path = if Path::new(b).is_absolute() {
                    PathBuf::from(b)
                } else {
                    a.code_dir.join(b)
                };
                let p = path.to_string_lossy().into_owned();
                match path.extension().and_then(|e| e.to_str()) {
                    Some("py") => vec!["python3".into(), p],
                    Some("sh") => vec!["bash".into(), p],
                    _ => vec![p],
                }
            }
            (None, Some(c)) => vec!["sh".into(), "-c".into(), c.clone(), step.name.clone()],
            (None, None) => {
                return Err("the algorithm has neither `boot_file` nor `command`".into())
            }
        };
        let mut env = base_env(ctx, step);
        pass_params(&a.parameters, &mut argv, &mut env);
        let inputs = pass_inputs(&spec.inputs, ctx, &mut argv, &mut env)?;
        let mut outputs = IndexMap::new();
        let mut metrics_files = Vec::new();
        for out in &spec.outputs {
            let name = out.name.clone();
            let path = output_path(&out.to, &name, step, ctx, &mut metrics_files)?;
            let p = path.to_string_lossy().into_owned();
            argv.push(format!("--{name}={p}"));
            env.push((env_name("WF_OUTPUT_", &name), p.clone()));
            outputs.insert(name, json!({ "path": p }));
        }
        env.extend(a.environments);
        let mut pool_id = None;
        let flavor_id = match values.value(spec.resource.flavor.as_ref().unwrap_or(&Val::Null))? {
            Val::Str(s) => match crate::pools::split_ref(&s) {
                Some((pool, f)) => {
                    pool_id = Some(pool.to_string());
                    f.to_string()
                }
                None => s.to_string(),
            },
            Val::Map(m) => {
                pool_id = m.get("pool_id").and_then(Val::as_str).map(str::to_string);
                m.get("flavor_id")
                    .and_then(Val::as_str)
                    .unwrap_or("")
                    .to_string()
            }
            other => {
                return Err(format!("the flavor is {}, not a flavor id", other.describe()).into())
            }
        };
        let nodes = match values.value(&spec.resource.node_count)? {
            Val::Int(n) if n >= 1 => n as u32,
            other => {
                return Err(format!(
                    "`node_count` is {}, not a count of at least 1",
                    other.describe()
                )
                .into())
            }
        };
        let log_export = match &spec.log_export {
            Some(v) => Some(values.path(v)?),
            None => None,
        };
        if let Some(pool) = pool_id {
            let remote = remote_plan(
                step,
                ctx,
                &pool,
                &flavor_id,
                Placed {
                    code_dir: a.code_dir,
                    argv,
                    env,
                    nodes,
                    inputs: &inputs,
                    outputs: &outputs,
                },
            )?;
            let slot = Flavor {
                id: format!("{pool}:{flavor_id}"),
                cpu: remote.flavor.cpu,
                // It takes a slot (`--max-parallel`) but nothing of this machine.
                memory_mib: 0,
                gpu: 0,
                description: remote.flavor.description.clone(),
            };
            return Ok(Plan {
                inputs,
                flavor: Some(slot),
                work: Arc::new(JobWork {
                    run: Runner::Remote(Box::new(remote)),
                    outputs,
                    metrics_files,
                    log_export,
                }),
            });
        }
        let flavor = ctx.machine.flavor(&flavor_id).ok_or_else(|| {
            format!(
                "unknown flavor `{flavor_id}`; this machine's are: {}",
                ctx.machine.flavor_ids()
            )
        })?;
        let owned = owner::owner_program().map(|program| {
            let row = ctx
                .store
                .steps(ctx.exec_id())
                .ok()
                .and_then(|rows| rows.into_iter().find(|r| r.name == step.name));
            let recorded = row.as_ref().and_then(|row| {
                (row.status == crate::model::status::Status::Running)
                    .then(|| owner::recorded(&row.detail).map(|(_, k)| k))
                    .flatten()
            });
            let ended = row.as_ref().and_then(|row| {
                matches!(
                    row.status,
                    crate::model::status::Status::Failed | crate::model::status::Status::Stopped
                )
                .then(|| owner::recorded(&row.detail).map(|(_, k)| k))
                .flatten()
            });
            OwnedPlan {
                program,
                step_dir: owner::step_dir(ctx.home(), ctx.exec_id(), &step.name),
                recorded: std::sync::Mutex::new(recorded),
                ended,
                read_only: vec![
                    crate::datasets::datasets_dir(ctx.home()),
                    crate::models::models_dir(ctx.home()),
                ],
            }
        });
        Ok(Plan {
            inputs,
            flavor: Some(flavor),
            work: Arc::new(JobWork {
                run: Runner::Local(
                    JobRun {
                        cwd: a.code_dir,
                        argv,
                        env,
                        log: ctx.log(&step.name),
                        nodes,
                    },
                    owned,
                ),
                outputs,
                metrics_files,
                log_export,
            }),
        })
    }

    fn clean_up(&self, exec_id: &str, step: &str, detail: &Map<String, Value>) {
        if remote::is_remote(detail) {
            remote::clean_up(detail);
            return;
        }
        if let Some((dir, attempt)) = owner::recorded(detail) {
            owner::stop_attempt(&dir, attempt);
        }
        end_recorded(exec_id, step, detail);
    }

    fn sweep(&self, exec_id: &str) {
        process::sweep(exec_id);
    }

    /// A job on a pool, or a local job's owner, goes on without its runner: the next
    /// runner follows it.
    fn reattaches(&self, detail: &Map<String, Value>) -> bool {
        remote::is_remote(detail) || owner::recorded(detail).is_some()
    }
}

/// What a job on a pool is given: the same command line and variables as a local one.
struct Placed<'a> {
    code_dir: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    nodes: u32,
    inputs: &'a Map<String, Value>,
    outputs: &'a IndexMap<String, Value>,
}

/// A job for the pool `pool`, refused when the pool or its flavor is unknown, or a path it
/// is given is not one its nodes see.
fn remote_plan(
    step: &Step,
    ctx: &PlanCtx,
    pool: &str,
    flavor_id: &str,
    placed: Placed,
) -> Result<RemoteJob, StepError> {
    let pool = crate::pools::named(ctx.store, pool).map_err(|e| e.to_string())?;
    let flavor = pool.flavor(flavor_id).map_err(|e| e.to_string())?;
    let path_of = |v: &Value| v["path"].as_str().map(PathBuf::from);
    for (name, v) in placed.inputs {
        if let Some(p) = path_of(v) {
            pool.check_visible(&format!("input `{name}`"), &p)?;
        }
    }
    for (name, v) in placed.outputs {
        if let Some(p) = path_of(v) {
            pool.check_visible(&format!("output `{name}`"), &p)?;
        }
    }
    let spool = ctx.home().join("pools").join(ctx.exec_id());
    // The cluster runs in other folders (and on other nodes): every path it gets is absolute.
    let spool = std::path::absolute(&spool).unwrap_or(spool);
    if matches!(pool.kind, crate::pools::PoolKind::Slurm { .. }) {
        // Slurm runs in the code folder as it is and writes its output into the home.
        pool.check_visible("the code folder", &placed.code_dir)?;
        pool.check_visible("the job's output folder", &spool)?;
    }
    let mut existing = None;
    if let Ok(rows) = ctx.store.steps(ctx.exec_id()) {
        if let Some(row) = rows.into_iter().find(|r| r.name == step.name) {
            let same_pool = row.detail.get("pool").and_then(Value::as_str) == Some(&pool.name);
            if row.status == crate::model::status::Status::Running && same_pool {
                existing = Some(row.detail);
            }
        }
    }
    Ok(RemoteJob {
        flavor,
        exec_id: ctx.exec_id().to_string(),
        step: step.name.clone(),
        code_dir: placed.code_dir,
        argv: placed.argv,
        env: placed.env,
        nodes: placed.nodes,
        log: ctx.log(&step.name),
        spool,
        home: ctx.home().to_path_buf(),
        attach: std::sync::Mutex::new(existing),
        pool,
    })
}

/// Where an output goes: an OBS folder, a metrics file, or a folder in the home.
fn output_path(
    to: &OutputTo,
    name: &str,
    step: &Step,
    ctx: &PlanCtx,
    metrics_files: &mut Vec<PathBuf>,
) -> Result<PathBuf, StepError> {
    let values = &ctx.values;
    let create = |p: &Path| {
        std::fs::create_dir_all(p)
            .map_err(|e| format!("output `{name}`: cannot create {}: {e}", p.display()))
    };
    match to {
        OutputTo::Obs { path, .. } => {
            let p = values
                .path(path)
                .map_err(|e| format!("output `{name}`: {e}"))?;
            create(&p)?;
            Ok(p)
        }
        OutputTo::Metrics { first } => {
            let first = first
                .as_ref()
                .ok_or("a metrics output without `metric_files`")?;
            let p = values
                .path(first)
                .map_err(|e| format!("output `{name}`: {e}"))?;
            if let Some(parent) = p.parent() {
                create(parent)?;
            }
            metrics_files.push(p.clone());
            Ok(p)
        }
        OutputTo::Home => {
            let p = ctx
                .home()
                .join("outputs")
                .join(ctx.exec_id())
                .join(&step.name)
                .join(name);
            create(&p)?;
            Ok(p)
        }
    }
}

fn algorithm(source: &AlgorithmSource, ctx: &PlanCtx) -> Result<Algorithm, StepError> {
    let values = &ctx.values;
    match source {
        AlgorithmSource::Base {
            code_dir,
            boot_file,
            command,
        } => Ok(Algorithm {
            code_dir: match code_dir {
                Some(v) => values.path(v)?,
                None => values.base_dir.to_path_buf(),
            },
            boot_file: boot_file.as_ref().map(|v| values.text(v)).transpose()?,
            command: command.as_ref().map(|v| values.text(v)).transpose()?,
            parameters: Vec::new(),
            environments: Vec::new(),
        }),
        AlgorithmSource::Registered { id } => {
            let def = ctx
                .store
                .algorithm(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no algorithm `{id}` is registered here; add it with `wf algorithm register {id} ...`"))?;
            let text = |k: &str| def.get(k).and_then(Value::as_str).map(str::to_string);
            let pairs = |key: &str| -> Vec<(String, String)> {
                def.get(key)
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                let text = v.as_str().map(str::to_string);
                                (k.clone(), text.unwrap_or_else(|| v.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Ok(Algorithm {
                code_dir: text("code_dir")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| values.base_dir.to_path_buf()),
                boot_file: text("boot_file"),
                command: text("command"),
                parameters: pairs("parameters"),
                environments: pairs("environments"),
            })
        }
        AlgorithmSource::Other { class } => Err(format!("a `{class}` is not an algorithm").into()),
    }
}

impl Work for JobWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let header = format!("== {}: attempt {} ==\n", attempt.step, attempt.number);
            let started = Instant::now();
            let end = match &self.run {
                Runner::Local(run, Some(o)) => {
                    let recorded = o.recorded.lock().unwrap_or_else(|p| p.into_inner()).take();
                    owner::run(
                        owner::Owned {
                            program: &o.program,
                            step_dir: o.step_dir.clone(),
                            attempt: attempt.number,
                            recorded,
                            ended: o.ended,
                            read_only: o.read_only.clone(),
                        },
                        run,
                        &header,
                        &attempt.cancel,
                        |detail| attempt.record_detail(detail),
                        |text| attempt.say(text),
                    )
                    .await
                }
                Runner::Local(run, None) => {
                    process::run(run, &header, &attempt.cancel, |groups| {
                        attempt.record_detail(json!({ "groups": groups }));
                    })
                    .await
                }
                Runner::Remote(job) => match job.run(&attempt, &header).await {
                    RemoteEnd::Succeeded => JobEnd::Succeeded,
                    RemoteEnd::Stopped => JobEnd::Stopped,
                    RemoteEnd::Failed(why) => {
                        self.export_log(&attempt.step);
                        return StepEnd::Failed(format!(
                            "{why}; the log ends with:\n{}",
                            log_tail(self.log(), 10)
                        ));
                    }
                },
            };
            self.export_log(&attempt.step);
            match end {
                JobEnd::Succeeded => match self.metrics() {
                    Ok(metrics) => StepEnd::Executed {
                        outputs: self.outputs.clone(),
                        metrics,
                        detail: Map::new(),
                        note: None,
                    },
                    // An invalid metrics file is read the same on a retry.
                    Err(e) => StepEnd::Permanent(e.to_string()),
                },
                JobEnd::Stopped => StepEnd::Stopped,
                JobEnd::NotStarted(e) => StepEnd::Failed(e),
                JobEnd::Failed(code) => StepEnd::Failed(format!(
                    "{} after {:.1}s; the log ends with:\n{}",
                    match code {
                        Some(c) => format!("exited with status {c}"),
                        None => "was killed by a signal".to_string(),
                    },
                    started.elapsed().as_secs_f64(),
                    log_tail(self.log(), 10)
                )),
            }
        })
    }
}

impl JobWork {
    fn log(&self) -> &Path {
        match &self.run {
            Runner::Local(run, _) => &run.log,
            Runner::Remote(job) => &job.log,
        }
    }

    fn metrics(&self) -> Result<IndexMap<String, f64>, StepError> {
        let mut all = IndexMap::new();
        for f in &self.metrics_files {
            let m = read_metrics(f).map_err(|e| e.to_string())?;
            all.extend(m.scalars);
        }
        Ok(all)
    }

    fn export_log(&self, step: &str) {
        if let Some(dest) = &self.log_export {
            let target = if dest.extension().is_some() {
                dest.clone()
            } else {
                dest.join(format!("{step}.log"))
            };
            if let Some(parent) = target.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::copy(self.log(), target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::env_name;

    #[test]
    fn environment_names_are_upper_case_with_underscores() {
        assert_eq!(
            env_name("WF_PARAM_", "learning-rate"),
            "WF_PARAM_LEARNING_RATE"
        );
        assert_eq!(env_name("WF_INPUT_", "data.v2"), "WF_INPUT_DATA_V2");
    }
}
