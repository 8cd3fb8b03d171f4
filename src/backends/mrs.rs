//! MrsJobStep: `spark-submit` against a registered cluster or the built-in `local`
//! (CONTRACT §7).
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
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rusqlite::OptionalExtension;
use serde_json::{json, Map, Value};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::job::{env_name, kill_by_environment, kill_groups, log_tail, Group};
use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, Work};
use crate::exec::metrics::read_metrics;
use crate::model::val::{Obj, Val};
use crate::model::workflow::Step;
use crate::store::Store;

pub struct MrsBackend;

/// The built-in cluster: this machine, every core.
pub const LOCAL: &str = "local";
pub const LOCAL_MASTER: &str = "local[*]";

/// How to get Spark and Java here, for messages.
pub const INSTALL_HINT: &str = "install PySpark, which ships spark-submit (`python3 -m pip install pyspark`), and a Java 17 runtime (`apt-get install openjdk-17-jre-headless`)";

// ---------------------------------------------------------------------------------------------
// Clusters

/// A Spark cluster MRS steps submit to.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub master: String,
    /// The Spark folder whose `bin/spark-submit` submits to it; `None`: found as for `local`.
    pub spark_home: Option<PathBuf>,
    /// `local`, which is not in the records.
    pub builtin: bool,
    pub created_at: Option<String>,
}

impl Cluster {
    pub fn local() -> Cluster {
        Cluster {
            name: LOCAL.into(),
            master: LOCAL_MASTER.into(),
            spark_home: None,
            builtin: true,
            created_at: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let submit = find_spark_submit(self);
        json!({
            "name": self.name,
            "master": self.master,
            "spark_home": self.spark_home.as_ref().map(|p| p.to_string_lossy()),
            "builtin": self.builtin,
            "created_at": self.created_at,
            "spark_submit": submit.as_ref().ok().map(|s| s.program.to_string_lossy().into_owned()),
            "problem": submit.err(),
        })
    }
}

/// What `wf cluster add|remove` can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterError {
    /// A bad name, master or folder: the command was given wrong input.
    Usage(String),
    /// The name is taken, or not there, or the records failed.
    Failed(String),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Usage(m) | ClusterError::Failed(m) => f.write_str(m),
        }
    }
}

/// A cluster name: a letter or digit, then letters, digits, `_`, `-`, `.`; 64 at most.
pub fn check_name(name: &str) -> Result<(), String> {
    crate::pools::check_cluster_name("cluster", name).map_err(|e| e.to_string())
}

/// A master URL spark-submit takes: `local`, `local[N]`, `local[*]`, `local[N,F]`,
/// `local-cluster[N,C,M]`, `spark://HOST:PORT[,HOST:PORT…]`, `yarn`, `k8s://URL`.
pub fn check_master(master: &str) -> Result<(), String> {
    let bracket = |rest: &str, parts: &[usize]| -> bool {
        let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
            return false;
        };
        let items: Vec<&str> = inner.split(',').map(str::trim).collect();
        parts.contains(&items.len())
            && items.iter().enumerate().all(|(i, x)| {
                (i == 0 && *x == "*") || (!x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
            })
    };
    let host_ports = |rest: &str| {
        !rest.is_empty()
            && rest.split(',').all(|hp| match hp.rsplit_once(':') {
                Some((h, p)) => !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0),
                None => false,
            })
    };
    let ok = master == "local"
        || master == "yarn"
        || master
            .strip_prefix("local-cluster")
            .is_some_and(|r| bracket(r, &[3]) && !r.contains('*'))
        || master
            .strip_prefix("local")
            .is_some_and(|r| bracket(r, &[1, 2]))
        || master.strip_prefix("spark://").is_some_and(host_ports)
        || master
            .strip_prefix("k8s://")
            .is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace));
    if ok {
        return Ok(());
    }
    let hint = if master.starts_with("yarn-") {
        " (`yarn-cluster` and `yarn-client` are old spellings: the master is `yarn`, and `--deploy-mode` goes in the step's run_args)"
    } else {
        ""
    };
    Err(format!(
        "`{master}` is not a Spark master{hint}; use local[*], local[N], spark://HOST:PORT, yarn or k8s://URL"
    ))
}

/// Whether a master runs everything in one process on this machine.
fn is_local(master: &str) -> bool {
    master == "local" || master.starts_with("local[") || master.starts_with("local-cluster[")
}

fn db<E: std::fmt::Display>(e: E) -> String {
    format!("the records: {e}")
}

/// Every cluster, the built-in `local` first, then the registered ones by name.
pub fn clusters(store: &Store) -> Result<Vec<Cluster>, String> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name, master, spark_home, created_at FROM clusters ORDER BY name")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Cluster {
                name: r.get(0)?,
                master: r.get(1)?,
                spark_home: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
                builtin: false,
                created_at: r.get(3)?,
            })
        })
        .map_err(db)?;
    let mut all = vec![Cluster::local()];
    for c in rows {
        all.push(c.map_err(db)?);
    }
    Ok(all)
}

/// The cluster named `name` (`local` included), if there is one.
pub fn find_cluster(store: &Store, name: &str) -> Result<Option<Cluster>, String> {
    if name == LOCAL {
        return Ok(Some(Cluster::local()));
    }
    store
        .conn()
        .query_row(
            "SELECT name, master, spark_home, created_at FROM clusters WHERE name = ?1",
            [name],
            |r| {
                Ok(Cluster {
                    name: r.get(0)?,
                    master: r.get(1)?,
                    spark_home: r.get::<_, Option<String>>(2)?.map(PathBuf::from),
                    builtin: false,
                    created_at: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(db)
}

/// Registers a cluster. Its Spark folder, when given, must hold `bin/spark-submit`.
pub fn add_cluster(
    store: &Store,
    name: &str,
    master: &str,
    spark_home: Option<&Path>,
) -> Result<Cluster, ClusterError> {
    check_name(name).map_err(ClusterError::Usage)?;
    if name == LOCAL {
        return Err(ClusterError::Usage(format!(
            "`{LOCAL}` is built in ({LOCAL_MASTER}) and cannot be added; choose another name"
        )));
    }
    check_master(master).map_err(ClusterError::Usage)?;
    let spark_home = match spark_home {
        None => None,
        Some(dir) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            if !dir.is_dir() {
                return Err(ClusterError::Usage(format!(
                    "the Spark folder {} does not exist",
                    dir.display()
                )));
            }
            if !is_executable(&dir.join("bin/spark-submit")) {
                return Err(ClusterError::Usage(format!(
                    "the Spark folder {} has no bin/spark-submit",
                    dir.display()
                )));
            }
            Some(dir)
        }
    };
    let created_at = crate::store::now();
    let added = store
        .conn()
        .execute(
            "INSERT INTO clusters(name, master, spark_home, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
            rusqlite::params![
                name,
                master,
                spark_home
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
                created_at
            ],
        )
        .map_err(|e| ClusterError::Failed(db(e)))?;
    if added == 0 {
        return Err(ClusterError::Failed(format!(
            "cluster `{name}` exists; `wf cluster remove {name}` first to change it"
        )));
    }
    Ok(Cluster {
        name: name.into(),
        master: master.into(),
        spark_home,
        builtin: false,
        created_at: Some(created_at),
    })
}

/// Forgets a registered cluster. Steps that name it fail from then on, saying so.
pub fn remove_cluster(store: &Store, name: &str) -> Result<(), ClusterError> {
    if name == LOCAL {
        return Err(ClusterError::Usage(format!(
            "`{LOCAL}` is built in and cannot be removed"
        )));
    }
    let gone = store
        .conn()
        .execute("DELETE FROM clusters WHERE name = ?1", [name])
        .map_err(|e| ClusterError::Failed(db(e)))?;
    if gone == 0 {
        return Err(ClusterError::Failed(format!(
            "no cluster `{name}`; `wf cluster list` shows them"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Finding Spark and Java

/// What `SPARK_HOME` the driver gets.
#[derive(Debug, Clone, PartialEq)]
enum HomeEnv {
    /// This folder (the one `spark-submit` belongs to).
    Set(PathBuf),
    /// As it is in `wf`'s environment.
    Keep,
    /// Unset: `wf`'s points at a folder without Spark, which would mislead `spark-submit`.
    Remove,
}

/// The `spark-submit` a cluster's steps run.
#[derive(Debug, Clone, PartialEq)]
pub struct SparkSubmit {
    pub program: PathBuf,
    home: HomeEnv,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(program: &str, path: Option<&str>) -> Option<PathBuf> {
    let path = match path {
        Some(p) => p.into(),
        None => std::env::var_os("PATH")?,
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

/// The folder of the `pyspark` package `python3` imports, asked once per process.
fn pyspark_dir() -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
    })
    .clone()
}

/// Where a cluster's `spark-submit` is: its Spark folder's; else `$SPARK_HOME`'s; else the one
/// on `PATH`; else the installed `pyspark`'s.
pub fn find_spark_submit(cluster: &Cluster) -> Result<SparkSubmit, String> {
    if let Some(home) = &cluster.spark_home {
        let p = home.join("bin/spark-submit");
        if is_executable(&p) {
            return Ok(SparkSubmit {
                program: p,
                home: HomeEnv::Set(home.clone()),
            });
        }
        return Err(format!(
            "cluster `{}`'s Spark folder {} has no bin/spark-submit",
            cluster.name,
            home.display()
        ));
    }
    let env_home = std::env::var_os("SPARK_HOME").filter(|h| !h.is_empty());
    if let Some(h) = &env_home {
        let p = Path::new(h).join("bin/spark-submit");
        if is_executable(&p) {
            return Ok(SparkSubmit {
                program: p,
                home: HomeEnv::Keep,
            });
        }
    }
    let home = if env_home.is_some() {
        HomeEnv::Remove
    } else {
        HomeEnv::Keep
    };
    if let Some(p) = on_path("spark-submit", None) {
        return Ok(SparkSubmit { program: p, home });
    }
    if let Some(dir) = pyspark_dir() {
        let p = dir.join("bin/spark-submit");
        if is_executable(&p) {
            return Ok(SparkSubmit {
                program: p,
                home: HomeEnv::Set(dir),
            });
        }
    }
    Err(format!(
        "no spark-submit for cluster `{}`: none in $SPARK_HOME, on PATH or in an installed pyspark; {INSTALL_HINT}, or register a Spark folder with `wf cluster add NAME --master {} --spark-home DIR`",
        cluster.name, cluster.master
    ))
}

/// Why `spark-submit` could not start a JVM with this environment, if it could not.
fn java_missing(env: &[(String, String)]) -> Option<String> {
    let var = |k: &str| -> Option<String> {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(k).ok())
            .filter(|v| !v.is_empty())
    };
    if let Some(home) = var("JAVA_HOME") {
        let java = Path::new(&home).join("bin/java");
        return (!is_executable(&java)).then(|| {
            format!(
                "JAVA_HOME is {home}, which has no bin/java; Spark needs a Java 17 runtime there"
            )
        });
    }
    match on_path("java", var("PATH").as_deref()) {
        Some(_) => None,
        None => Some(
            "Spark needs a Java 17 runtime: there is no `java` on PATH and JAVA_HOME is not set; install one (`apt-get install openjdk-17-jre-headless`)".to_string(),
        ),
    }
}

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
pub fn parse_run_args(words: &[String]) -> Result<Vec<(String, Option<String>)>, String> {
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
                    return Err(format!("run_args: `{opt}` takes no value, not `{v}`"))
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
                ))
            }
        }
    }
    if let Some(opt) = pending {
        return Err(format!("run_args: `{opt}` needs a value"));
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
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, String> {
        let values = &ctx.values;
        let o = &step.obj;
        let local_path = |t: &str| values.local_path(t).to_string_lossy().into_owned();

        // The cluster.
        let cluster_name = match o.arg("cluster_id") {
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
                ));
            }
        };

        // The algorithm: boot file, run_args, app_args, other parameters, environments.
        let algo = o
            .arg("mrs_algorithm")
            .and_then(Val::as_obj)
            .ok_or("the MRS job has no `mrs_algorithm`")?;
        let boot = algo
            .arg("boot_file")
            .ok_or("the MRS algorithm has no `boot_file`")?;
        let boot = boot_file(boot, ctx)?;
        let mut run_args: Vec<String> = Vec::new();
        let mut app_args: Vec<String> = Vec::new();
        let mut params: Vec<(String, String)> = Vec::new();
        for p in algo
            .arg("parameters")
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
        {
            let name = p.name().to_string();
            let value = values
                .text(p.arg("value").unwrap_or(&Val::Null))
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
        let inputs = crate::backends::job::pass_inputs(step, ctx, &mut app, &mut env)?;
        let mut outputs = IndexMap::new();
        let mut metrics_files = Vec::new();
        for out in o
            .arg("outputs")
            .map(Val::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Val::as_obj)
        {
            let name = out.name().to_string();
            let (path, metric_file) = output_path(out, &name, step, ctx)?;
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
        if let Some(Val::Map(m)) = algo.arg("environments") {
            for (k, v) in m {
                let v = values
                    .text(v)
                    .map_err(|e| format!("environment `{k}`: {e}"))?;
                remove_env.retain(|r| r != k);
                env.push((k.clone(), v));
            }
        }
        if let Some(why) = java_missing(&env) {
            return Err(why);
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
        let groups: Vec<Group> = detail
            .get("groups")
            .and_then(|g| serde_json::from_value(g.clone()).ok())
            .unwrap_or_default();
        kill_groups(&groups);
        kill_by_environment(exec_id, Some(step));
    }

    fn sweep(&self, exec_id: &str) {
        kill_by_environment(exec_id, None);
    }
}

/// The boot file as spark-submit is given it: a local path (relative ones from the script's
/// folder, `obs://` ones in the home), which must exist; a URL of another scheme
/// (`hdfs://`, `s3a://`, `local:`) as it is, for the cluster to read.
fn boot_file(v: &Val, ctx: &PlanCtx) -> Result<String, String> {
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
        ));
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Where an output goes (its folder, created), and its metric file when it names one.
fn output_path(
    out: &Obj,
    name: &str,
    step: &Step,
    ctx: &PlanCtx,
) -> Result<(PathBuf, Option<PathBuf>), String> {
    let values = &ctx.values;
    let (dir, metric) = match out.arg("obs_config").and_then(Val::as_obj) {
        Some(cfg) => {
            let p = values
                .path(cfg.arg("obs_path").unwrap_or(&Val::Null))
                .map_err(|e| format!("output `{name}`: {e}"))?;
            let metric = match cfg.arg("metric_file") {
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
        None => (
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

fn signal_group(pgid: u32, signal: libc::c_int) {
    // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH.
    unsafe {
        libc::killpg(pgid as libc::pid_t, signal);
    }
}

/// How long a stopped driver has to remove its temporary folders before it is killed.
const GRACE: Duration = Duration::from_secs(3);

impl MrsWork {
    fn open_log(&self, header: &str) -> Result<std::fs::File, String> {
        let open = || crate::store::private_file(&self.log, true);
        let log = match open() {
            Ok(f) => f,
            Err(_) => {
                if let Some(dir) = self.log.parent() {
                    crate::store::private_dir(dir).map_err(|e| {
                        format!("cannot create the log folder {}: {e}", dir.display())
                    })?;
                }
                open().map_err(|e| format!("cannot open the log {}: {e}", self.log.display()))?
            }
        };
        let _ = std::io::Write::write_all(&mut &log, header.as_bytes());
        Ok(log)
    }

    /// Runs spark-submit to its end; `started` is given its process group.
    async fn drive(
        &self,
        header: &str,
        cancel: &CancellationToken,
        started: impl FnOnce(Group),
    ) -> DriverEnd {
        let log = match self.open_log(header) {
            Ok(f) => f,
            Err(e) => return DriverEnd::NotStarted(e),
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

    fn metrics(&self) -> Result<IndexMap<String, f64>, String> {
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
                    Err(e) => StepEnd::Failed(e),
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
        let err = parse_run_args(&words("app.py")).unwrap_err();
        assert!(
            err.contains("`app.py` is not a spark-submit option"),
            "{err}"
        );
        let err = parse_run_args(&words("--conf")).unwrap_err();
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
