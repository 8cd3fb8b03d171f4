//! Reading and acting on records: `wf executions`, `wf show`, `wf logs`, `wf stop`,
//! `wf flavors`, `wf algorithm`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::exit;
use crate::exec::engine::{Engine, Stopping};
use crate::exec::flavors::Machine;
use crate::exec::metrics::metrics_line;
use crate::model::status::{ExecStatus, Status};
use crate::store::{home_dir, Store};

/// The records, for a command that only reads them: a home that has none is not created.
fn open_records(home: Option<&Path>) -> Result<Option<Store>, i32> {
    let dir = home_dir(home);
    if (!dir.exists() || dir.is_dir()) && !dir.join("wf.db").exists() {
        return Ok(None);
    }
    super::open_store(home).map(Some)
}

/// What a reading command says when the home holds no records.
fn no_records(home: Option<&Path>, asked: &str) -> i32 {
    errln!(
        "error: no execution `{asked}`: `{}` holds no executions yet; `wf run SCRIPT` starts one",
        home_dir(home).display()
    );
    exit::FAILED
}

macro_rules! tryx {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => {
                errln!("error: {e}");
                return exit::FAILED;
            }
        }
    };
}

#[derive(Args, Debug)]
pub struct ExecutionsArgs {
    /// Only executions of this workflow
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only executions with this status (running, awaiting_input, executed, failed, stopped)
    #[arg(long)]
    pub status: Option<String>,
    /// Only executions of this experiment
    #[arg(long)]
    pub experiment: Option<String>,
    /// An array of execution records, newest first
    #[arg(long)]
    pub json: bool,
}

pub fn executions(home: Option<&Path>, a: ExecutionsArgs) -> i32 {
    let status = match a.status.as_deref().map(ExecStatus::parse).transpose() {
        Ok(s) => s,
        Err(_) => {
            let all: Vec<&str> = ExecStatus::ALL.iter().map(|s| s.as_str()).collect();
            errln!(
                "error: --status {}: a status is one of {}",
                a.status.as_deref().unwrap_or(""),
                all.join(", ")
            );
            return exit::USAGE;
        }
    };
    let store = match open_records(home) {
        Ok(Some(s)) => s,
        Ok(None) if a.json => {
            outln!("[]");
            return exit::OK;
        }
        Ok(None) => {
            errln!("no executions yet: `wf run SCRIPT` starts one");
            return exit::OK;
        }
        Err(c) => return c,
    };
    let rows = tryx!(store.list(a.workflow.as_deref(), status, a.experiment.as_deref()));
    if a.json {
        let records: Vec<Value> = rows
            .iter()
            .filter_map(|r| store.record(&r.id).ok())
            .map(|r| r.to_json())
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&records).unwrap_or_default()
        );
        return exit::OK;
    }
    if rows.is_empty() {
        errln!("no executions yet: `wf run SCRIPT` starts one");
        return exit::OK;
    }
    let mut cells = vec![vec![
        "EXECUTION".to_string(),
        "WORKFLOW".into(),
        "STATUS".into(),
        "STARTED".into(),
        "DURATION".into(),
    ]];
    let mut interrupted = 0;
    for r in rows {
        let status = shown_status(&store, &r.id, r.status);
        interrupted += usize::from(status == INTERRUPTED);
        cells.push(vec![
            r.id,
            truncate(&r.workflow, 32),
            status.to_string(),
            short_time(&r.created_at),
            duration(&r.created_at, r.ended_at.as_deref()),
        ]);
    }
    let (lines, _) = table("", &cells, &[4]);
    for l in lines {
        outln!("{l}");
    }
    if interrupted > 0 {
        errln!("interrupted: its runner died before it ended; `wf resume EXEC` carries it on");
    }
    exit::OK
}

/// A recorded parameter as a person reads it: a data object as its natural text (an OBS path,
/// `dataset@version`, `dataset/task`), anything else as JSON.
fn parameter_text(v: &Value) -> String {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    match v.get("$class").and_then(Value::as_str) {
        Some("wf.data.OBSPath") => field("obs_path").to_string(),
        Some("wf.data.Dataset") => match field("version_name") {
            "" => field("dataset_name").to_string(),
            version => format!("{}@{version}", field("dataset_name")),
        },
        Some("wf.data.LabelTask") => format!("{}/{}", field("dataset_name"), field("task_name")),
        Some("wf.data.ServiceData") => field("service_id").to_string(),
        Some("wf.data.SWRImage") => field("swr_path").to_string(),
        Some(class) => class.to_string(),
        None => v.to_string(),
    }
}

const INTERRUPTED: &str = "interrupted";

/// An execution recorded as running whose runner is gone is shown as interrupted.
fn shown_status(store: &Store, id: &str, status: ExecStatus) -> &'static str {
    if status == ExecStatus::Running && !crate::exec::lock::is_held(&store.home, id) {
        INTERRUPTED
    } else {
        status.as_str()
    }
}

/// `s` in at most `n` terminal columns, ending in `…` when cut.
fn truncate(s: &str, n: usize) -> String {
    if text_width(s) <= n {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > n {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// The columns `s` takes in a terminal: a Chinese or Japanese character takes two.
fn text_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `w` terminal columns (on the right, or on the left when
/// `right` aligns it right).
fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(text_width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Rows as columns sized from their content (the heading included) by display width, two
/// spaces apart; the last column is not padded. Columns in `right` are aligned right.
/// Returns the lines and the width of each column.
fn table(indent: &str, rows: &[Vec<String>], right: &[usize]) -> (Vec<String>, Vec<usize>) {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| text_width(c))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i + 1 == r.len() {
                        c.clone()
                    } else {
                        pad(c, widths[i], right.contains(&i))
                    }
                })
                .collect();
            format!("{indent}{}", cells.join("  "))
                .trim_end()
                .to_string()
        })
        .collect();
    (lines, widths)
}

fn short_time(t: &str) -> String {
    t.replace('T', " ").chars().take(19).collect()
}

fn duration(start: &str, end: Option<&str>) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(start), end.and_then(parse)) {
        (Some(a), Some(b)) => {
            let ms = (b - a).num_milliseconds().max(0);
            if ms < 60_000 {
                format!("{:.1}s", ms as f64 / 1000.0)
            } else {
                format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
            }
        }
        _ => "-".into(),
    }
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The execution (a unique prefix of its id, or `latest`)
    pub execution: String,
    /// The execution record as JSON
    #[arg(long)]
    pub json: bool,
}

/// `wf show` into a buffer (the REPL's `:status`).
pub fn show_to(out: &mut Vec<u8>, home: &Path, id: &str) {
    let Ok(store) = Store::open(home) else { return };
    let Ok(steps) = store.steps(id) else { return };
    let e = store.execution(id).ok();
    if let Some(e) = e {
        let _ = writeln!(
            out,
            "execution {}  workflow {}  {}",
            e.id, e.workflow, e.status
        );
    }
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let detail = s
                .result()
                .map(|r| format!("result {r}"))
                .or(s.reason.clone())
                .unwrap_or_default();
            vec![
                s.name.clone(),
                s.kind.as_str().to_string(),
                s.status.as_str().to_string(),
                detail.lines().next().unwrap_or("").to_string(),
            ]
        })
        .collect();
    for line in table("  ", &rows, &[]).0 {
        let _ = writeln!(out, "{line}");
    }
}

pub fn show(home: Option<&Path>, a: ShowArgs) -> i32 {
    let store = match open_records(home) {
        Ok(Some(s)) => s,
        Ok(None) => return no_records(home, &a.execution),
        Err(c) => return c,
    };
    let id = tryx!(store.resolve_id(&a.execution));
    let record = tryx!(store.record(&id));
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&record).unwrap_or_default()
        );
        return exit::OK;
    }
    let e = tryx!(store.execution(&id));
    let status = shown_status(&store, &e.id, e.status);
    outln!("execution {}  workflow {}  {}", e.id, e.workflow, status);
    if status == INTERRUPTED {
        outln!(
            "  its runner died before it ended: `wf resume {}` carries it on",
            e.id
        );
    }
    if let Some(r) = &e.reason {
        outln!("  {r}");
    }
    outln!(
        "  started {}  duration {}",
        short_time(&e.created_at),
        duration(&e.created_at, e.ended_at.as_deref())
    );
    if let Some(x) = &e.experiment {
        outln!("  experiment {x}");
    }
    if let Some(m) = e.parameters.as_object().filter(|m| !m.is_empty()) {
        let ps: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{k}={}", parameter_text(v)))
            .collect();
        outln!("  parameters {}", ps.join(" "));
    }
    if let Some(m) = e.reused.as_object().filter(|m| !m.is_empty()) {
        for (k, v) in m {
            outln!(
                "  outputs of `{k}` reused from execution {}",
                v.as_str().unwrap_or("")
            );
        }
    }
    outln!();
    let steps = tryx!(store.steps(&id));
    let mut cells = vec![vec![
        "STEP".to_string(),
        "TYPE".into(),
        "STATUS".into(),
        "DURATION".into(),
        "DETAIL".into(),
    ]];
    // The lines after a step's row: the rest of its error (the log's end).
    let mut more: Vec<Vec<String>> = vec![Vec::new()];
    for s in steps {
        let mut detail = s.reason.clone().unwrap_or_default();
        if let Some(r) = s.result() {
            detail = format!("result {r}");
        }
        if let Some(ms) = metrics_line(s.metrics.as_ref()) {
            detail = format!("{detail} {ms}").trim().to_string();
        }
        if let Some(pool) = s.detail.get("pool").and_then(Value::as_str) {
            let job = s.detail.get("remote_id").and_then(Value::as_str);
            let job = job.map(|j| format!(", job {j}")).unwrap_or_default();
            detail = format!("{detail} (pool {pool}{job})").trim().to_string();
        }
        if s.attempt > 1 {
            detail = format!("{detail} (attempt {})", s.attempt)
                .trim()
                .to_string();
        }
        let dur = match &s.started_at {
            Some(st) => duration(st, s.ended_at.as_deref()),
            None => "-".into(),
        };
        cells.push(vec![
            s.name.clone(),
            s.kind.as_str().to_string(),
            s.status.as_str().to_string(),
            dur,
            detail.lines().next().unwrap_or("").to_string(),
        ]);
        // The error's first line is the detail above; the rest (the log's end) follows.
        more.push(
            s.error
                .iter()
                .flat_map(|err| err.lines().skip(1))
                .map(str::to_string)
                .collect(),
        );
    }
    let (lines, widths) = table("  ", &cells, &[3]);
    let name_w = widths.first().copied().unwrap_or(4);
    for (line, after) in lines.iter().zip(&more) {
        outln!("{line}");
        for l in after {
            outln!("  {}    {l}", " ".repeat(name_w));
        }
    }
    exit::OK
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    pub execution: String,
    pub step: String,
    /// Keep printing as the log grows, until the step ends
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub fn logs(home: Option<&Path>, a: LogsArgs) -> i32 {
    let store = match open_records(home) {
        Ok(Some(s)) => s,
        Ok(None) => return no_records(home, &a.execution),
        Err(c) => return c,
    };
    let id = tryx!(store.resolve_id(&a.execution));
    let steps = tryx!(store.steps(&id));
    let Some(step) = steps.iter().find(|s| s.name == a.step) else {
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        errln!(
            "error: execution {id} has no step `{}`; its steps are: {}",
            a.step,
            names.join(", ")
        );
        return exit::FAILED;
    };
    let path: PathBuf = store.logs_dir(&id).join(format!("{}.log", step.name));
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
                        return exit::OK;
                    }
                }
            }
        } else if !a.follow {
            let why = match step.status {
                Status::Waiting | Status::AwaitingInput | Status::Skipped => {
                    format!("it has not run: it is {}", step.status)
                }
                _ if step.kind == crate::model::kind::StepKind::Job => {
                    "it was never written".to_string()
                }
                _ => format!("{} steps write none", step.kind),
            };
            errln!("step `{}` has no log: {why}", step.name);
            return exit::OK;
        }
        if !a.follow {
            return exit::OK;
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
            return exit::OK;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[derive(Args, Debug)]
pub struct StopArgs {
    pub execution: String,
    /// Only this step
    pub step: Option<String>,
}

pub fn stop(home: Option<&Path>, a: StopArgs) -> i32 {
    let engine = Engine::new(&home_dir(home), crate::backends::backend);
    match engine.stop(&a.execution, a.step.as_deref()) {
        Ok((id, Stopping::AlreadyEnded(status))) => {
            errln!("execution {id} already ended: {status}");
            exit::OK
        }
        Ok((id, Stopping::Asked)) => {
            errln!(
                "asked the runner of {id} to stop {}",
                a.step.map(|s| format!("step `{s}`")).unwrap_or("it".into())
            );
            exit::OK
        }
        Ok((id, Stopping::Recorded)) => {
            errln!("stopped {id}");
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
            e.code()
        }
    }
}

#[derive(Args, Debug)]
pub struct FlavorsArgs {
    /// An array of objects with id, cpu, memory_mib, gpu
    #[arg(long)]
    pub json: bool,
}

/// Each registered pool with its flavors read from the cluster, or why they cannot be.
type PoolFlavors = Vec<(
    crate::pools::Pool,
    Result<Vec<crate::pools::PoolFlavor>, String>,
)>;

fn pool_flavors(home: Option<&Path>) -> Result<PoolFlavors, i32> {
    let Some(store) = open_records(home)? else {
        return Ok(Vec::new());
    };
    let pools = tryx_pools(crate::pools::list(&store).map_err(String::from))?;
    Ok(pools
        .into_iter()
        .map(|p| {
            let f = p.flavors().map_err(String::from);
            (p, f)
        })
        .collect())
}

fn tryx_pools<T>(r: Result<T, String>) -> Result<T, i32> {
    r.map_err(|e| {
        errln!("error: {e}");
        exit::FAILED
    })
}

pub fn flavors(home: Option<&Path>, a: FlavorsArgs) -> i32 {
    let m = Machine::detect();
    let fs = m.flavors();
    let pools = match pool_flavors(home) {
        Ok(p) => p,
        Err(code) => return code,
    };
    for (_, f) in &pools {
        if let Err(e) = f {
            errln!("warning: {e}");
        }
    }
    if a.json {
        let mut all: Vec<Value> = fs
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or_default())
            .collect();
        for (p, f) in &pools {
            for f in f.iter().flatten() {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                v["id"] = json!(format!("{}:{}", p.name, f.id));
                v["pool"] = json!(p.name);
                v["flavor_id"] = json!(f.id);
                all.push(v);
            }
        }
        outln!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return exit::OK;
    }
    outln!(
        "this machine: {} CPUs, {} MiB, {} GPUs",
        m.cpus,
        m.memory_mib,
        m.gpus
    );
    outln!(
        "{:<10}  {:>4}  {:>10}  {:>4}  DESCRIPTION",
        "ID",
        "CPU",
        "MEMORY_MIB",
        "GPU"
    );
    for f in fs {
        outln!(
            "{:<10}  {:>4}  {:>10}  {:>4}  {}",
            f.id,
            f.cpu,
            f.memory_mib,
            f.gpu,
            f.description
        );
    }
    for (p, f) in &pools {
        let Ok(f) = f else { continue };
        outln!();
        outln!("pool {} ({} at {}):", p.name, p.kind_name(), p.address());
        let w = f
            .iter()
            .map(|x| p.name.len() + 1 + x.id.len())
            .fold(10, usize::max);
        for x in f {
            outln!(
                "{:<w$}  {:>4}  {:>10}  {:>4}  {}",
                format!("{}:{}", p.name, x.id),
                x.cpu,
                x.memory_mib,
                x.gpu,
                x.description
            );
        }
    }
    exit::OK
}

#[derive(Subcommand, Debug)]
pub enum AlgorithmCommand {
    /// Register an algorithm that `wf.Algorithm(#{ algorithm_id })` and `wf.AIGalleryAlgorithm(#{ subscription_id })` name
    Register {
        /// Its id
        id: String,
        /// The folder of its code
        #[arg(long)]
        code_dir: PathBuf,
        /// A boot file in that folder (.py runs with python3, .sh with bash)
        #[arg(long, conflicts_with = "command")]
        boot_file: Option<String>,
        /// Or a shell command
        #[arg(long)]
        command: Option<String>,
        /// A default hyperparameter (repeatable)
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// An environment variable (repeatable)
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
        envs: Vec<String>,
    },
    /// List registered algorithms
    List,
    /// Show one
    Show { id: String },
}

pub fn algorithm(home: Option<&Path>, c: AlgorithmCommand) -> i32 {
    let store = match super::open_store(home) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match c {
        AlgorithmCommand::Register {
            id,
            code_dir,
            boot_file,
            command,
            params,
            envs,
        } => {
            if boot_file.is_none() && command.is_none() {
                errln!("error: give --boot-file or --command");
                return exit::USAGE;
            }
            let dir = match code_dir.canonicalize() {
                Ok(d) if d.is_dir() => d,
                _ => {
                    errln!("error: --code-dir {} is not a folder", code_dir.display());
                    return exit::USAGE;
                }
            };
            let kv =
                |list: &[String], what: &str| -> Result<serde_json::Map<String, Value>, String> {
                    list.iter()
                        .map(|t| {
                            t.split_once('=')
                                .filter(|(k, _)| !k.is_empty())
                                .map(|(k, v)| (k.to_string(), json!(v)))
                                .ok_or_else(|| format!("{what} `{t}`: write NAME=VALUE"))
                        })
                        .collect()
                };
            let (p, e) = match (kv(&params, "-p"), kv(&envs, "-e")) {
                (Ok(p), Ok(e)) => (p, e),
                (Err(m), _) | (_, Err(m)) => {
                    errln!("error: {m}");
                    return exit::USAGE;
                }
            };
            let def = json!({ "code_dir": dir.to_string_lossy(), "boot_file": boot_file, "command": command, "parameters": p, "environments": e });
            tryx!(store.put_algorithm(&id, &def));
            errln!("registered algorithm `{id}`");
            exit::OK
        }
        AlgorithmCommand::List => {
            let all = tryx!(store.algorithms());
            if all.is_empty() {
                errln!("no algorithms registered yet: `wf algorithm register ID --code-dir DIR --boot-file FILE` adds one");
            }
            for (id, def, at) in all {
                let how = def
                    .get("boot_file")
                    .and_then(Value::as_str)
                    .or(def.get("command").and_then(Value::as_str))
                    .unwrap_or("");
                outln!("{id:<24}  {how:<30}  {}", short_time(&at));
            }
            exit::OK
        }
        AlgorithmCommand::Show { id } => match tryx!(store.algorithm(&id)) {
            Some(def) => {
                outln!("{}", serde_json::to_string_pretty(&def).unwrap_or_default());
                exit::OK
            }
            None => {
                errln!("error: no algorithm `{id}` is registered; `wf algorithm list` shows them");
                exit::FAILED
            }
        },
    }
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Two or more executions (unique id prefixes, or `latest`)
    #[arg(required = true, num_args = 2..)]
    pub executions: Vec<String>,
    /// The comparison as JSON: one object per execution
    #[arg(long)]
    pub json: bool,
}

/// `wf compare`: executions side by side, their parameters and every metric (reference §3.3).
pub fn compare(home: Option<&Path>, a: CompareArgs) -> i32 {
    let store = match open_records(home) {
        Ok(Some(s)) => s,
        Ok(None) => return no_records(home, a.executions.first().map_or("", String::as_str)),
        Err(c) => return c,
    };
    let mut cols: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut records = Vec::new();
    for given in &a.executions {
        let id = tryx!(store.resolve_id(given));
        let e = tryx!(store.execution(&id));
        let mut rows: Vec<(String, String)> = vec![
            ("workflow".into(), e.workflow.clone()),
            ("status".into(), e.status.to_string()),
            ("started".into(), short_time(&e.created_at)[5..].to_string()),
            (
                "duration".into(),
                duration(&e.created_at, e.ended_at.as_deref()),
            ),
        ];
        if let Some(x) = &e.experiment {
            rows.push(("experiment".into(), x.clone()));
        }
        if let Some(m) = e.parameters.as_object() {
            for (k, v) in m {
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                rows.push((format!("param {k}"), text));
            }
        }
        let steps = tryx!(store.steps(&id));
        let mut metrics = serde_json::Map::new();
        for st in &steps {
            if let Some(m) = st.metrics.as_ref().and_then(Value::as_object) {
                for (k, v) in m {
                    let text = v
                        .as_f64()
                        .map(|x| format!("{x:.4}"))
                        .unwrap_or_else(|| v.to_string());
                    rows.push((format!("{}.{k}", st.name), text));
                    metrics.insert(format!("{}.{k}", st.name), v.clone());
                }
            }
        }
        for (k, _) in &rows {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        // The JSON keeps values as they were recorded: numbers stay numbers, unrounded.
        records.push(json!({
            "execution_id": id,
            "workflow": e.workflow,
            "status": e.status,
            "created_at": e.created_at,
            "ended_at": e.ended_at,
            "experiment_id": e.experiment,
            "parameters": e.parameters,
            "metrics": metrics,
        }));
        cols.push((id, rows));
    }
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&records).unwrap_or_default()
        );
        return exit::OK;
    }
    let key_w = keys.iter().map(|k| k.len()).max().unwrap_or(8).clamp(8, 28);
    let col_w = cols
        .iter()
        .map(|(id, rows)| {
            rows.iter()
                .map(|(_, v)| v.len())
                .max()
                .unwrap_or(0)
                .max(id.len())
        })
        .max()
        .unwrap_or(12)
        .clamp(8, 20);
    let differs = |k: &str| {
        let vals: Vec<&str> = cols
            .iter()
            .map(|(_, rows)| {
                rows.iter()
                    .find(|(rk, _)| rk == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("-")
            })
            .collect();
        vals.windows(2).any(|w| w[0] != w[1]) && !matches!(k, "started" | "duration")
    };
    // Keep within 80 columns: as many executions per block as fit.
    let per_block = ((80 - key_w - 2) / (col_w + 2)).max(1);
    for block in cols.chunks(per_block) {
        let mut line = format!("{:key_w$}", "");
        for (id, _) in block {
            line.push_str(&format!("  {:>col_w$}", truncate(id, col_w)));
        }
        outln!("{}", line.trim_end());
        for k in &keys {
            let mut line = format!("{:key_w$}", truncate(k, key_w));
            for (_, rows) in block {
                let v = rows
                    .iter()
                    .find(|(rk, _)| rk == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("-");
                line.push_str(&format!("  {:>col_w$}", truncate(v, col_w)));
            }
            // Mark rows that differ between executions.
            outln!("{}{}", line.trim_end(), if differs(k) { "  *" } else { "" });
        }
        outln!();
    }
    if keys.iter().any(|k| differs(k)) {
        outln!("* differs between executions");
    } else {
        outln!("no differences");
    }
    exit::OK
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn columns_are_sized_by_display_width() {
        let rows = vec![
            vec![
                "STEP".to_string(),
                "TYPE".into(),
                "STATUS".into(),
                "DETAIL".into(),
            ],
            vec![
                "make".into(),
                "create_dataset".into(),
                "executed".into(),
                "ok".into(),
            ],
            vec![
                "数据集".into(),
                "job".into(),
                "failed".into(),
                "データ".into(),
            ],
        ];
        let (lines, widths) = table("  ", &rows, &[]);
        assert_eq!(widths[..3], [6, 14, 8]);
        // Every row's STATUS starts at the same terminal column.
        let status_col = |l: &str, word: &str| text_width(&l[..l.find(word).unwrap()]);
        assert_eq!(status_col(&lines[0], "STATUS"), 2 + 6 + 2 + 14 + 2);
        assert_eq!(status_col(&lines[1], "executed"), 2 + 6 + 2 + 14 + 2);
        assert_eq!(status_col(&lines[2], "failed"), 2 + 6 + 2 + 14 + 2);
        // The last column is not padded.
        assert!(lines[2].ends_with("failed    データ"), "{:?}", lines[2]);
    }

    #[test]
    fn truncation_counts_columns() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("数据集合", 5), "数据…");
        assert_eq!(text_width(&truncate("数据集合", 5)), 5);
        assert_eq!(truncate("数据", 4), "数据");
    }
}
