//! MrsJobStep: `spark-submit` against a registered cluster or the built-in `local`
//! (README, "Models and services").
//!
//! Planning picks the cluster (`cluster_id`: a name registered with `wf cluster add`, or
//! `local`, which is `local[*]` and the default), finds its `spark-submit` (the cluster's
//! Spark folder, else `$SPARK_HOME`, else `PATH`, else an installed `pyspark`) and a Java
//! runtime, and builds the command line:
//!
//! ```text
//! spark-submit --master MASTER --name STEP [run_args…] BOOT_FILE [app_args…]
//!              [--PARAM=VALUE…] [--INPUT=PATH…] [--OUTPUT=PATH…]
//! ```
//!
//! The reference passes `run_args` and `app_args` as `AlgorithmParameters` of the
//! `MrsJobAlgorithm`, each one text of comma-separated words (`"--master,yarn-cluster"`,
//! `"--param_a=3,--param_b=4"`); text without a comma is split at spaces. The cluster decides
//! where the job runs: a `--master` among the `run_args` gives way to the cluster's (the
//! reference's default `yarn-cluster` means "on the cluster"), noted in the log and the
//! record. Other parameters, inputs and outputs are the application's `--NAME=VALUE`
//! arguments and `WF_PARAM_`/`WF_INPUT_`/`WF_OUTPUT_` variables, as for a job; `environments`
//! are the driver's environment.
//!
//! Running starts `spark-submit` as the leader of its own process group with its output in the
//! step's log; a stop or a timeout ends the group (`SIGTERM`, so that Spark removes its
//! temporary folders, then `SIGKILL`) and whatever else carries the step's environment (PySpark's
//! worker daemon makes its own group). The driver's exit status decides the step.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::job::{end_recorded, env_name, kill_by_environment, open_log, signal_group, Group};
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, StepError, Work};
use crate::exec::metrics::read_metrics;
use crate::model::spec::{OutputTo, StepSpec};
use crate::model::val::Val;
use crate::model::workflow::Step;
use crate::store::logs::log_tail;

pub struct MrsBackend;

pub use crate::pools::spark::{
    add_cluster, check_master, check_name, clusters, find_cluster, find_spark_submit,
    remove_cluster, Cluster, ClusterError, SparkSubmit, INSTALL_HINT, LOCAL, LOCAL_MASTER,
};
use crate::pools::spark::{is_local, java_missing, HomeEnv};

// ---------------------------------------------------------------------------------------------
// run_args and app_args

/// spark-submit's options that take no value; every other one takes one.
const SWITCHES: [&str; 7] = [
    "--verbose",
    "-v",
    "--supervise",
    "--help",
    "-h",
    "--version",
    "--usage-error",
];

/// Options whose values are files (comma-separated): `obs://` ones map into the home.
const FILE_OPTIONS: [&str; 5] = [
    "--py-files",
    "--files",
    "--jars",
    "--archives",
    "--properties-file",
];

/// The words of a `run_args` or `app_args` text: comma-separated as in the reference
/// (`--master,yarn-cluster`), or, with no comma, space-separated. Surrounding spaces go.
pub fn split_args(text: &str) -> Vec<String> {
    let words: Vec<&str> = if text.contains(',') {
        text.split(',').collect()
    } else {
        text.split_whitespace().collect()
    };
    words
        .into_iter()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// `run_args` as spark-submit options, each with its value. Comma-separated words are joined
/// back where a value held commas (`--jars,a.jar,b.jar`); `--opt=value` and `--opt value`
/// (one comma-separated word) are accepted.
pub fn parse_run_args(words: &[String]) -> Result<Vec<(String, Option<String>)>, StepError> {
    let mut opts: Vec<(String, Option<String>)> = Vec::new();
    let mut pending: Option<String> = None;
    for w in words {
        if let Some(opt) = pending.take() {
            opts.push((opt, Some(w.clone())));
            continue;
        }
        if w.starts_with('-') {
            let (opt, value) = match w.split_once(char::is_whitespace) {
                Some((o, v)) => (o.to_string(), Some(v.trim().to_string())),
                None => match w.strip_prefix("--").and_then(|r| r.split_once('=')) {
                    Some((o, v)) => (format!("--{o}"), Some(v.to_string())),
                    None => (w.clone(), None),
                },
            };
            match value {
                Some(v) if SWITCHES.contains(&opt.as_str()) => {
                    return Err(format!("run_args: `{opt}` takes no value, not `{v}`").into())
                }
                Some(v) => opts.push((opt, Some(v))),
                None if SWITCHES.contains(&opt.as_str()) => opts.push((opt, None)),
                None => pending = Some(opt),
            }
            continue;
        }
        // A word after a complete option: the rest of a comma-separated value.
        match opts.last_mut() {
            Some((_, Some(v))) => {
                v.push(',');
                v.push_str(w);
            }
            _ => {
                return Err(format!(
                    "run_args: `{w}` is not a spark-submit option (run_args are options such as `--conf,spark.executor.memory=2g`; the application's arguments go in app_args)"
                ).into())
            }
        }
    }
    if let Some(opt) = pending {
        return Err(format!("run_args: `{opt}` needs a value").into());
    }
    Ok(opts)
}

/// The spark-submit options for a cluster: its master first, then the run_args, with what was
/// changed to fit the cluster said in `notes`.
fn submit_options(
    cluster: &Cluster,
    step: &str,
    run_args: Vec<(String, Option<String>)>,
    local_path: &dyn Fn(&str) -> String,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let master = cluster.master.as_str();
    let mut deploy_mode: Option<&str> = None;
    let mut kept: Vec<(String, Option<String>)> = Vec::new();
    for (opt, value) in run_args {
        let v = value.as_deref().unwrap_or("");
        match opt.as_str() {
            "--master" => {
                if master == "yarn" {
                    deploy_mode = match v {
                        "yarn-cluster" => Some("cluster"),
                        "yarn-client" => Some("client"),
                        _ => deploy_mode,
                    };
                }
                if v != master && !(master == "yarn" && v.starts_with("yarn")) {
                    notes.push(format!(
                        "run_args' `--master {v}` gives way to cluster `{}`'s master {master}",
                        cluster.name
                    ));
                }
            }
            "--deploy-mode" if v == "cluster" && is_local(master) => notes.push(format!(
                "run_args' `--deploy-mode cluster` is dropped: a {master} master runs the driver here"
            )),
            o if FILE_OPTIONS.contains(&o) => {
                let files: Vec<String> = v
                    .split(',')
                    .map(|f| {
                        if f.starts_with("obs://") {
                            local_path(f)
                        } else {
                            f.to_string()
                        }
                    })
                    .collect();
                kept.push((opt, Some(files.join(","))));
            }
            _ => kept.push((opt, value)),
        }
    }
    if kept.iter().any(|(o, _)| o == "--deploy-mode") {
        deploy_mode = None;
    }
    let mut out = vec!["--master".to_string(), master.to_string()];
    if let Some(m) = deploy_mode {
        out.extend(["--deploy-mode".to_string(), m.to_string()]);
    }
    if !kept.iter().any(|(o, _)| o == "--name") {
        out.extend(["--name".to_string(), step.to_string()]);
    }
    for (opt, value) in kept {
        out.push(opt);
        out.extend(value);
    }
    out
}

/// An application argument: an `obs://` path in it (alone, or after `=`) maps into the home.
fn app_arg(word: &str, local_path: &dyn Fn(&str) -> String) -> String {
    if word.starts_with("obs://") {
        return local_path(word);
    }
    match word.split_once("=obs://") {
        Some((key, rest)) => format!("{key}={}", local_path(&format!("obs://{rest}"))),
        None => word.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Planning

impl Backend for MrsBackend {
    fn writes_log(&self) -> bool {
        true
    }

    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, StepError> {
        let values = &ctx.values;
        let spec = match super::args::spec(step)? {
            StepSpec::MrsJob(m) => m,
            other => return Err(super::args::wrong_kind(step, other).into()),
        };
        let local_path = |t: &str| values.local_path(t).to_string_lossy().into_owned();

        // The cluster.
        let cluster_name = match &spec.cluster_id {
            None | Some(Val::Null) => String::new(),
            Some(v) => values.text(v).map_err(|e| format!("`cluster_id`: {e}"))?,
        };
        let cluster_name = match cluster_name.trim() {
            "" => LOCAL.to_string(),
            n => n.to_string(),
        };
        let cluster = match find_cluster(ctx.store, &cluster_name)? {
            Some(c) => c,
            None => {
                let known: Vec<String> = clusters(ctx.store)?
                    .into_iter()
                    .map(|c| format!("{} ({})", c.name, c.master))
                    .collect();
                return Err(format!(
                    "unknown cluster `{cluster_name}`: the clusters here are {}; `wf cluster add {cluster_name} --master URL` adds it",
                    known.join(", ")
                ).into());
            }
        };

        // The algorithm: boot file, run_args, app_args, other parameters, environments.
        let boot = spec
            .boot_file
            .as_ref()
            .ok_or("the MRS algorithm has no `boot_file`")?;
        let boot = boot_file(boot, ctx)?;
        let mut run_args: Vec<String> = Vec::new();
        let mut app_args: Vec<String> = Vec::new();
        let mut params: Vec<(String, String)> = Vec::new();
        for p in &spec.parameters {
            let name = p.name.clone();
            let value = values
                .text(&p.value)
                .map_err(|e| format!("parameter `{name}`: {e}"))?;
            match name.as_str() {
                "run_args" => run_args.extend(split_args(&value)),
                "app_args" => app_args.extend(split_args(&value)),
                _ => {
                    params.retain(|(n, _)| *n != name);
                    params.push((name, value));
                }
            }
        }
        let run_args = parse_run_args(&run_args)?;
        let mut notes = Vec::new();
        let options = submit_options(&cluster, &step.name, run_args, &local_path, &mut notes);

        let mut env = crate::backends::job::base_env(ctx, step);
        let mut app: Vec<String> = app_args.iter().map(|w| app_arg(w, &local_path)).collect();
        crate::backends::job::pass_params(&params, &mut app, &mut env);

        // Inputs and outputs: the application's arguments.
        let inputs = crate::backends::job::pass_inputs(&spec.inputs, ctx, &mut app, &mut env)?;
        let mut outputs = IndexMap::new();
        let mut metrics_files = Vec::new();
        for out in &spec.outputs {
            let name = out.name.clone();
            let (path, metric_file) = output_path(&out.to, &name, step, ctx)?;
            metrics_files.extend(metric_file);
            let p = path.to_string_lossy().into_owned();
            app.push(format!("--{name}={p}"));
            env.push((env_name("WF_OUTPUT_", &name), p.clone()));
            outputs.insert(name, json!({ "path": p }));
        }

        // The driver's environment: Spark's, then the algorithm's own.
        let submit = find_spark_submit(&cluster)?;
        let mut remove_env = Vec::new();
        match &submit.home {
            HomeEnv::Set(h) => env.push(("SPARK_HOME".into(), h.to_string_lossy().into_owned())),
            HomeEnv::Keep => {}
            HomeEnv::Remove => remove_env.push("SPARK_HOME".to_string()),
        }
        // The driver's prints reach the log as they happen (`wf logs --follow`), not at its end.
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
        if is_local(&cluster.master) && std::env::var_os("SPARK_LOCAL_IP").is_none() {
            // Everything runs in this machine's JVM: no need to look for a network address.
            env.push(("SPARK_LOCAL_IP".into(), "127.0.0.1".into()));
        }
        for (k, v) in &spec.environments {
            let v = values
                .text(v)
                .map_err(|e| format!("environment `{k}`: {e}"))?;
            remove_env.retain(|r| r != k);
            env.push((k.clone(), v));
        }
        if let Some(why) = java_missing(&env) {
            return Err(StepError::Unavailable(why));
        }

        let mut argv = vec![submit.program.to_string_lossy().into_owned()];
        argv.extend(options);
        argv.push(boot);
        argv.extend(app);

        let flavor = ctx
            .machine
            .flavor("cpu.1")
            .or_else(|| ctx.machine.flavor("cpu.small"));
        Ok(Plan {
            inputs,
            flavor,
            work: Arc::new(MrsWork {
                exec_id: ctx.exec_id().to_string(),
                cluster: cluster.name,
                master: cluster.master,
                cwd: values.base_dir.to_path_buf(),
                argv,
                env,
                remove_env,
                log: ctx.log(&step.name),
                notes,
                outputs,
                metrics_files,
            }),
        })
    }

    fn clean_up(&self, exec_id: &str, step: &str, detail: &Map<String, Value>) {
        end_recorded(exec_id, step, detail);
    }

    fn sweep(&self, exec_id: &str) {
        kill_by_environment(exec_id, None);
    }
}

/// The boot file as spark-submit is given it: a local path (relative ones from the script's
/// folder, `obs://` ones in the home), which must exist; a URL of another scheme
/// (`hdfs://`, `s3a://`, `local:`) as it is, for the cluster to read.
fn boot_file(v: &Val, ctx: &PlanCtx) -> Result<String, StepError> {
    let values = &ctx.values;
    let text = values.text(v).map_err(|e| format!("`boot_file`: {e}"))?;
    if text.trim().is_empty() {
        return Err("the MRS algorithm's `boot_file` is empty".into());
    }
    let scheme = text.split_once(':').map(|(s, _)| s).filter(|s| {
        s.len() > 1
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    if matches!(scheme, Some(s) if s != "obs" && s != "file") {
        return Ok(text);
    }
    let path = values.local_path(text.strip_prefix("file://").unwrap_or(&text));
    if !path.is_file() {
        return Err(format!(
            "the boot file {} does not exist{}",
            path.display(),
            if text.starts_with("obs://") {
                " (obs:// paths are in the home's obs/ folder)"
            } else {
                ""
            }
        )
        .into());
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Where an output goes (its folder, created), and its metric file when it names one.
fn output_path(
    to: &OutputTo,
    name: &str,
    step: &Step,
    ctx: &PlanCtx,
) -> Result<(PathBuf, Option<PathBuf>), StepError> {
    let values = &ctx.values;
    let (dir, metric) = match to {
        OutputTo::Obs { path, metric_file } => {
            let p = values
                .path(path)
                .map_err(|e| format!("output `{name}`: {e}"))?;
            let metric = match metric_file {
                None | Some(Val::Null) => None,
                Some(m) => {
                    let f = values
                        .text(m)
                        .map_err(|e| format!("output `{name}`: `metric_file`: {e}"))?;
                    (!f.is_empty()).then(|| p.join(f))
                }
            };
            (p, metric)
        }
        OutputTo::Metrics { .. } | OutputTo::Home => (
            ctx.home()
                .join("outputs")
                .join(ctx.exec_id())
                .join(&step.name)
                .join(name),
            None,
        ),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("output `{name}`: cannot create {}: {e}", dir.display()))?;
    Ok((dir, metric))
}

// ---------------------------------------------------------------------------------------------
// Running

/// A submission, resolved for this execution.
struct MrsWork {
    exec_id: String,
    cluster: String,
    master: String,
    cwd: PathBuf,
    /// spark-submit and its arguments.
    argv: Vec<String>,
    env: Vec<(String, String)>,
    remove_env: Vec<String>,
    log: PathBuf,
    /// What was changed in the run_args to fit the cluster.
    notes: Vec<String>,
    outputs: IndexMap<String, Value>,
    metrics_files: Vec<PathBuf>,
}

/// How a driver ended.
#[derive(Debug, PartialEq)]
enum DriverEnd {
    Succeeded,
    /// Its exit status, `None` for a signal.
    Failed(Option<i32>),
    Stopped,
    NotStarted(String),
}

/// A word quoted for a shell, for the command line shown in the log.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=/.,:@%+".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

use crate::store::procs::now_ms;

/// How long a stopped driver has to remove its temporary folders before it is killed.
const GRACE: Duration = Duration::from_secs(3);

impl MrsWork {
    /// Runs spark-submit to its end; `started` is given its process group.
    async fn drive(
        &self,
        header: &str,
        cancel: &CancellationToken,
        started: impl FnOnce(Group),
    ) -> DriverEnd {
        let log = match open_log(&self.log, header) {
            Ok(f) => f,
            Err(e) => return DriverEnd::NotStarted(e.to_string()),
        };
        if !self.cwd.is_dir() {
            return DriverEnd::NotStarted(format!(
                "the script's folder {} does not exist",
                self.cwd.display()
            ));
        }
        let (out, err) = match (log.try_clone(), log.try_clone()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return DriverEnd::NotStarted("cannot share the log with spark-submit".into()),
        };
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        for k in &self.remove_env {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return DriverEnd::NotStarted(format!("cannot start `{}`: {e}", self.argv[0]))
            }
        };
        let pgid = child.id().unwrap_or(0);
        started(Group {
            pgid,
            started_ms: Some(now_ms()),
        });
        tokio::select! {
            status = child.wait() => match status {
                Ok(s) if s.success() => DriverEnd::Succeeded,
                Ok(s) => DriverEnd::Failed(s.code()),
                Err(_) => DriverEnd::Failed(None),
            },
            _ = cancel.cancelled() => {
                signal_group(pgid, libc::SIGTERM);
                if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                    signal_group(pgid, libc::SIGKILL);
                    let _ = child.wait().await;
                }
                // The rest of the group, done or not, goes too.
                signal_group(pgid, libc::SIGKILL);
                DriverEnd::Stopped
            }
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
}

/// Spark's own log lines (`25/01/02 10:11:12 INFO SparkContext: …`), which bury the driver's
/// output at the end of a failed run's log.
fn is_spark_chatter(line: &str) -> bool {
    let b = line.as_bytes();
    let stamp = b.len() > 18
        && b[2] == b'/'
        && b[5] == b'/'
        && b[8] == b' '
        && b[11] == b':'
        && b[14] == b':'
        && b[17] == b' ';
    let rest = line.get(18..).unwrap_or("");
    stamp
        && ["INFO ", "WARN ", "DEBUG ", "TRACE "]
            .iter()
            .any(|l| rest.starts_with(l))
        || line.starts_with("WARNING: Using incubator modules")
        || line.starts_with("Using Spark's default log4j profile")
}

/// The last `n` lines of the driver's log that are not Spark's own chatter; the log's last
/// lines when all of it is.
fn driver_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !is_spark_chatter(l) && !l.starts_with("== "))
        .collect();
    if lines.is_empty() {
        return log_tail(log, n);
    }
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Work for MrsWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let mut header = format!(
                "== {}: attempt {} on cluster `{}` ({}) ==\n",
                attempt.step, attempt.number, self.cluster, self.master
            );
            for n in &self.notes {
                header += &format!("note: {n}\n");
            }
            header += "$ ";
            header += &self
                .argv
                .iter()
                .map(|w| shell_word(w))
                .collect::<Vec<_>>()
                .join(" ");
            header += "\n";
            let started = Instant::now();
            let end = self
                .drive(&header, &attempt.cancel, |g| {
                    attempt.record_detail(json!({
                        "groups": [g],
                        "cluster": self.cluster,
                        "master": self.master,
                    }));
                })
                .await;
            if end != DriverEnd::Succeeded {
                // PySpark's worker daemon keeps a group of its own: whatever is left of the
                // step goes by its environment.
                kill_by_environment(&self.exec_id, Some(&attempt.step));
            }
            match end {
                DriverEnd::Succeeded => match self.metrics() {
                    Ok(metrics) => StepEnd::Executed {
                        outputs: self.outputs.clone(),
                        metrics,
                        detail: Map::new(),
                        note: (!self.notes.is_empty()).then(|| self.notes.join("; ")),
                    },
                    // An invalid metrics file is read the same on a retry.
                    Err(e) => StepEnd::Permanent(e.to_string()),
                },
                DriverEnd::Stopped => StepEnd::Stopped,
                DriverEnd::NotStarted(e) => StepEnd::Failed(e),
                DriverEnd::Failed(code) => {
                    let tail = driver_tail(&self.log, 10);
                    let mut msg = format!(
                        "spark-submit {} after {:.1}s; the driver's log ends with:\n{tail}",
                        match code {
                            Some(c) => format!("exited with status {c}"),
                            None => "was killed by a signal".to_string(),
                        },
                        started.elapsed().as_secs_f64(),
                    );
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    if log.contains("FileAlreadyExistsException")
                        || log.contains("PATH_ALREADY_EXISTS")
                    {
                        msg += "\nnote: an output folder exists before the job runs, as on ModelArts: write into a folder inside it, or with mode(\"overwrite\")";
                    }
                    StepEnd::Failed(msg)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_args(s)
    }

    fn opts(s: &str) -> Vec<(String, Option<String>)> {
        parse_run_args(&words(s)).unwrap()
    }

    fn submit(master: &str, run_args: &str) -> (Vec<String>, Vec<String>) {
        let mut c = Cluster::local();
        c.name = "c".into();
        c.master = master.into();
        let mut notes = Vec::new();
        let local = |t: &str| format!("/home/obs/{}", t.trim_start_matches("obs://"));
        let out = submit_options(&c, "step", opts(run_args), &local, &mut notes);
        (out, notes)
    }

    #[test]
    fn args_split_at_commas_or_else_at_spaces() {
        assert_eq!(words("--master,yarn-cluster"), ["--master", "yarn-cluster"]);
        assert_eq!(
            words("--param_a=3, --param_b=4"),
            ["--param_a=3", "--param_b=4"]
        );
        assert_eq!(words("--a 1  --b 2"), ["--a", "1", "--b", "2"]);
        assert!(words("").is_empty());
        assert!(words(" , ").is_empty());
    }

    #[test]
    fn run_args_become_options_with_their_values() {
        assert_eq!(
            opts("--conf,spark.a=1,--jars,a.jar,b.jar,--verbose,--name=job"),
            [
                ("--conf".to_string(), Some("spark.a=1".to_string())),
                ("--jars".to_string(), Some("a.jar,b.jar".to_string())),
                ("--verbose".to_string(), None),
                ("--name".to_string(), Some("job".to_string())),
            ]
        );
        assert_eq!(
            opts("--driver-memory 2g, --conf spark.x=-Dy=1 -Dz=2"),
            [
                ("--driver-memory".to_string(), Some("2g".to_string())),
                (
                    "--conf".to_string(),
                    Some("spark.x=-Dy=1 -Dz=2".to_string())
                ),
            ]
        );
        let err = parse_run_args(&words("app.py")).unwrap_err().to_string();
        assert!(
            err.contains("`app.py` is not a spark-submit option"),
            "{err}"
        );
        let err = parse_run_args(&words("--conf")).unwrap_err().to_string();
        assert!(err.contains("`--conf` needs a value"), "{err}");
    }

    #[test]
    fn the_cluster_decides_the_master() {
        let (out, notes) = submit("local[*]", "--master,yarn-cluster,--deploy-mode,cluster");
        assert_eq!(out, ["--master", "local[*]", "--name", "step"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("`--master yarn-cluster` gives way"),
            "{notes:?}"
        );

        let (out, notes) = submit("yarn", "--master,yarn-cluster,--queue,q");
        assert_eq!(
            out,
            [
                "--master",
                "yarn",
                "--deploy-mode",
                "cluster",
                "--name",
                "step",
                "--queue",
                "q"
            ]
        );
        assert!(notes.is_empty(), "{notes:?}");

        let (out, _) = submit(
            "spark://h:7077",
            "--name,mine,--py-files,obs://b/x.zip,y.zip",
        );
        assert_eq!(
            out,
            [
                "--master",
                "spark://h:7077",
                "--name",
                "mine",
                "--py-files",
                "/home/obs/b/x.zip,y.zip"
            ]
        );
    }

    #[test]
    fn obs_paths_in_app_args_map_into_the_home() {
        let local = |t: &str| format!("/home/obs/{}", t.trim_start_matches("obs://"));
        assert_eq!(app_arg("obs://b/in", &local), "/home/obs/b/in");
        assert_eq!(app_arg("--in=obs://b/in", &local), "--in=/home/obs/b/in");
        assert_eq!(app_arg("--n=3", &local), "--n=3");
    }

    #[test]
    fn names_and_masters_are_checked() {
        for ok in ["prod", "cluster_id_xxx", "4f3c-a1.b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for ok in [
            "local",
            "local[*]",
            "local[4]",
            "local[2,3]",
            "local-cluster[2,1,1024]",
            "spark://host:7077",
            "spark://a:7077,b:7077",
            "yarn",
            "k8s://https://10.0.0.1:6443",
        ] {
            assert!(check_master(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "local[]",
            "local[x]",
            "spark://host",
            "mesos://h:5050",
            "yarn-cluster",
        ] {
            assert!(check_master(bad).is_err(), "{bad}");
        }
        assert!(check_master("yarn-cluster")
            .unwrap_err()
            .to_string()
            .contains("--deploy-mode"));
    }

    #[test]
    fn spark_chatter_is_left_out_of_the_tail() {
        assert!(is_spark_chatter(
            "26/11/29 23:08:56 INFO BlockManager: BlockManager stopped"
        ));
        assert!(!is_spark_chatter(
            "26/11/29 23:08:56 ERROR Executor: Exception in task"
        ));
        assert!(!is_spark_chatter("ValueError: bad input"));
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(
            &log,
            "== s: attempt 1 ==\nTraceback:\nValueError: bad\n26/11/29 23:08:56 INFO SparkContext: stopped\n",
        )
        .unwrap();
        assert_eq!(driver_tail(&log, 10), "Traceback:\nValueError: bad");
    }
}
