//! Resource pools: existing clusters that job steps run on (README, "Growing beyond one machine"). A pool is a Ray
//! cluster (its dashboard's Jobs API) or a Slurm cluster (the `sbatch`, `squeue`, `scancel`
//! on PATH), registered in the home by name; a job whose flavor is `POOL:FLAVOR` (or
//! `{"flavor_id": F, "pool_id": POOL}`) is handed to it instead of running here.
//!
//! | file       | what                                                                  |
//! |------------|-----------------------------------------------------------------------|
//! | `mod.rs`   | the registry (`wf pool add|list|show|remove`), flavor references, paths |
//! | `flavors.rs` | this machine's resource flavors (the local pool), detected once     |
//! | `ray.rs`   | the Ray Jobs REST API: packages, submit, status, logs, stop, resources  |
//! | `slurm.rs` | Slurm through its commands: partitions, batch scripts, state, cancel  |
//! | `spark.rs` | the Spark clusters of MRS steps (`wf cluster`), their spark-submit    |
//! | `zip.rs`   | a stored (uncompressed) zip of a code folder, the same bytes each time |
//!
//! What runs where is the job backend's (`backends::job::remote`); this module only talks to
//! the clusters and keeps the registry. It imports nothing above the store.

pub mod flavors;
pub mod ray;
pub mod slurm;
pub mod spark;
pub mod zip;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::store::{Classify, ErrorKind, Store};

/// What kind of cluster a pool is, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolKind {
    /// The dashboard's address, `http://HOST:8265`.
    Ray { url: String },
    /// The partition jobs go to (the cluster's default when `None`).
    Slurm { partition: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub kind: PoolKind,
    /// Path prefixes the pool's nodes see; empty when they see every path this machine does.
    pub shared: Vec<String>,
    pub created_at: String,
}

/// A flavor of a pool: what one worker of a job gets there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolFlavor {
    pub id: String,
    pub cpu: u32,
    pub memory_mib: u64,
    pub gpu: u32,
    pub description: String,
}

/// Why a pool command was refused, or a pool cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A name, an address or a prefix that does not fit: nothing changed.
    #[error("{0}")]
    Invalid(String),
    #[error("no pool `{name}`; {}", if known.is_empty() {
        "none is registered: `wf pool add NAME --ray URL` or `--slurm` adds one".to_string()
    } else {
        format!("the pools are {}", known.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))
    })]
    NotFound { name: String, known: Vec<String> },
    #[error("a pool `{name}` is already registered; `wf pool remove {name}` first to change it")]
    Exists { name: String },
    /// A step of an execution that has not ended runs on the pool.
    #[error("pool `{name}` runs step `{step}` of execution {exec}; stop it (`wf stop {exec}`) or let it end before removing the pool")]
    Busy {
        name: String,
        exec: String,
        step: String,
    },
    /// The cluster does not answer, or its commands fail.
    #[error("pool `{name}` ({kind} at {address}) cannot be reached: {source}")]
    Unreachable {
        name: String,
        kind: &'static str,
        address: String,
        source: Box<ClusterError>,
    },
    /// A path a job needs is not one the pool's nodes see.
    #[error("{what}: {} is not on a path the nodes of pool `{name}` see ({}); put it under one of \
             them, or add the pool again with `--shared PREFIX`", path.display(), shared.join(", "))]
    NotVisible {
        what: String,
        path: std::path::PathBuf,
        name: String,
        shared: Vec<String>,
    },
    #[error("the records: {0}")]
    Records(#[from] rusqlite::Error),
}

impl PoolError {
    /// A usage error (exit 2): what was asked cannot be done as asked; anything else is a
    /// failure (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PoolError::Invalid(_) | PoolError::NotFound { .. } | PoolError::Exists { .. }
        )
    }
}

impl Classify for PoolError {
    fn kind(&self) -> ErrorKind {
        match self {
            PoolError::Invalid(_) | PoolError::NotVisible { .. } => ErrorKind::Invalid,
            PoolError::NotFound { .. } => ErrorKind::NotFound,
            PoolError::Exists { .. } | PoolError::Busy { .. } => ErrorKind::Conflict,
            PoolError::Unreachable { .. } => ErrorKind::Unavailable,
            PoolError::Records(_) => ErrorKind::Internal,
        }
    }
}

/// A pool's error in JSON (`wf pool show --json`, the console) is its message.
impl Serialize for PoolError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// For callers that still carry failures as their message.
impl From<PoolError> for String {
    fn from(e: PoolError) -> String {
        e.to_string()
    }
}

/// What a cluster's client said went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Ray(#[from] ray::RayError),
    #[error(transparent)]
    Slurm(#[from] slurm::SlurmError),
}

impl Pool {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Ray { .. } => "ray",
            PoolKind::Slurm { .. } => "slurm",
        }
    }

    /// Where it is, in a few words: the Ray address, or the Slurm partition.
    pub fn address(&self) -> String {
        match &self.kind {
            PoolKind::Ray { url } => url.clone(),
            PoolKind::Slurm { partition } => match partition {
                Some(p) => format!("partition {p}"),
                None => "the default partition".into(),
            },
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "kind": self.kind_name(),
            "shared": self.shared,
            "created_at": self.created_at,
        });
        match &self.kind {
            PoolKind::Ray { url } => v["address"] = json!(url),
            PoolKind::Slurm { partition } => v["partition"] = json!(partition),
        }
        v
    }

    /// The pool's flavors, read from the cluster (once per process and pool).
    pub fn flavors(&self) -> Result<Vec<PoolFlavor>, PoolError> {
        self.flavors_waiting(Duration::ZERO, &|_| {})
    }

    /// `flavors`, waiting up to `wait` for a cluster that is starting (a Ray cluster right
    /// after `ray start` has no alive node for a few seconds); `waiting` is told why, once,
    /// when it starts to wait.
    pub fn flavors_waiting(
        &self,
        wait: Duration,
        waiting: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Vec<PoolFlavor>, PoolError> {
        static SEEN: OnceLock<Mutex<HashMap<String, Vec<PoolFlavor>>>> = OnceLock::new();
        let key = format!("{}|{:?}", self.name, self.kind);
        let seen = SEEN.get_or_init(Default::default);
        if let Some(f) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(f.clone());
        }
        let read = match &self.kind {
            PoolKind::Ray { url } => {
                let ray = ray::Ray::new(url);
                block_on(async move { ray.flavors_when_ready(wait, waiting).await })
                    .map_err(ClusterError::from)
            }
            PoolKind::Slurm { partition } => {
                slurm::flavors(partition.as_deref()).map_err(ClusterError::from)
            }
        }
        .map_err(|source| PoolError::Unreachable {
            name: self.name.clone(),
            kind: self.kind_name(),
            address: self.address(),
            source: Box::new(source),
        })?;
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, read.clone());
        Ok(read)
    }

    /// The flavor `id` of this pool, or why there is none.
    pub fn flavor(&self, id: &str) -> Result<PoolFlavor, FlavorError> {
        let all = self.flavors().map_err(FlavorError::Unreachable)?;
        all.iter().find(|f| f.id == id).cloned().ok_or_else(|| {
            FlavorError::Unknown(NoFlavor {
                pool: self.name.clone(),
                id: id.to_string(),
                known: all.iter().map(|f| f.id.clone()).collect(),
            })
        })
    }

    /// Refuses a path the pool's nodes cannot see (outside every shared prefix it records).
    pub fn check_visible(&self, what: &str, path: &Path) -> Result<(), PoolError> {
        if self.shared.is_empty() || self.shared.iter().any(|s| path.starts_with(s)) {
            return Ok(());
        }
        Err(PoolError::NotVisible {
            what: what.to_string(),
            path: path.to_path_buf(),
            name: self.name.clone(),
            shared: self.shared.clone(),
        })
    }
}

/// Why a pool's flavor cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum FlavorError {
    #[error(transparent)]
    Unreachable(PoolError),
    #[error(transparent)]
    Unknown(NoFlavor),
}

/// A flavor a pool does not have, and those it has.
#[derive(Debug, thiserror::Error)]
#[error("pool `{pool}` has no flavor `{id}`; its flavors are: {} (`wf flavors` lists them)", known.join(", "))]
pub struct NoFlavor {
    pub pool: String,
    pub id: String,
    pub known: Vec<String>,
}

impl Classify for FlavorError {
    fn kind(&self) -> ErrorKind {
        match self {
            FlavorError::Unreachable(e) => e.kind(),
            FlavorError::Unknown(_) => ErrorKind::NotFound,
        }
    }
}

/// `POOL:FLAVOR` → its two parts; `None` for a flavor of this machine. Local flavor ids
/// never hold a `:`.
pub fn split_ref(text: &str) -> Option<(&str, &str)> {
    text.split_once(':')
        .filter(|(p, f)| !p.is_empty() && !f.is_empty())
}

/// Runs `fut` to its end from synchronous code, on a thread of its own: a command's own
/// code and the scheduler's planning may already be inside the runtime.
pub fn block_on<T: Send>(fut: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for one request")
                .block_on(fut)
        })
        .join()
        .expect("the request's thread")
    })
}

pub fn check_name(name: &str) -> Result<(), PoolError> {
    check_cluster_name("pool", name)
}

/// A name for a cluster of machines (a pool, a Spark cluster): a letter or digit, then
/// letters, digits, `_`, `-`, `.`; 64 at most.
pub fn check_cluster_name(what: &str, name: &str) -> Result<(), PoolError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(PoolError::Invalid(format!(
            "`{name}` is not a {what} name: use letters, digits, `_`, `-` and `.` (64 at most), starting with a letter or digit"
        )))
    }
}

/// A Ray dashboard address as the Jobs API is reached: `http(s)://HOST:PORT`, no trailing `/`.
pub fn check_ray_url(url: &str) -> Result<String, PoolError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_string())
        }
        _ => Err(PoolError::Invalid(format!(
            "`{url}` is not a Ray dashboard address: write http://HOST:PORT (Ray's dashboard listens on 8265)"
        ))),
    }
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Pool> {
    let kind: String = r.get(1)?;
    let address: Option<String> = r.get(2)?;
    let partition: Option<String> = r.get(3)?;
    let shared: String = r.get(4)?;
    Ok(Pool {
        name: r.get(0)?,
        kind: if kind == "ray" {
            PoolKind::Ray {
                url: address.unwrap_or_default(),
            }
        } else {
            PoolKind::Slurm { partition }
        },
        shared: serde_json::from_str(&shared).unwrap_or_default(),
        created_at: r.get(5)?,
    })
}

const COLUMNS: &str = "name, kind, address, partition, shared, created_at";

/// Every pool, by name.
pub fn list(store: &Store) -> Result<Vec<Pool>, PoolError> {
    let mut stmt = store
        .conn()
        .prepare(&format!("SELECT {COLUMNS} FROM pools ORDER BY name"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub fn find(store: &Store, name: &str) -> Result<Option<Pool>, PoolError> {
    use rusqlite::OptionalExtension;
    store
        .conn()
        .query_row(
            &format!("SELECT {COLUMNS} FROM pools WHERE name = ?1"),
            [name],
            row,
        )
        .optional()
        .map_err(PoolError::from)
}

/// The pool `name`, or an error naming it and the ones there are.
pub fn named(store: &Store, name: &str) -> Result<Pool, PoolError> {
    match find(store, name)? {
        Some(p) => Ok(p),
        None => Err(PoolError::NotFound {
            name: name.to_string(),
            known: list(store)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.name)
                .collect(),
        }),
    }
}

/// How long `add` waits for a cluster that is starting to have a node.
pub const ADD_WAIT: Duration = Duration::from_secs(30);

/// Registers a pool after reading its flavors, so a pool that cannot be reached (a wrong
/// address, Slurm's commands missing) is refused here rather than at a run. A cluster that
/// is starting is waited for, up to `wait`; `waiting` is told when that begins.
pub fn add(
    store: &Store,
    name: &str,
    kind: PoolKind,
    shared: &[String],
    wait: Duration,
    waiting: &(dyn Fn(&str) + Send + Sync),
) -> Result<(Pool, Vec<PoolFlavor>), PoolError> {
    check_name(name)?;
    let kind = match kind {
        PoolKind::Ray { url } => PoolKind::Ray {
            url: check_ray_url(&url)?,
        },
        slurm => slurm,
    };
    let mut prefixes = Vec::new();
    for s in shared {
        let p = std::path::absolute(s).unwrap_or_else(|_| s.into());
        if !p.is_absolute() {
            return Err(PoolError::Invalid(format!("--shared `{s}` is not a path")));
        }
        prefixes.push(p.to_string_lossy().into_owned());
    }
    if find(store, name)?.is_some() {
        return Err(PoolError::Exists {
            name: name.to_string(),
        });
    }
    let pool = Pool {
        name: name.to_string(),
        kind,
        shared: prefixes,
        created_at: crate::store::now(),
    };
    let flavors = pool.flavors_waiting(wait, waiting)?;
    let (address, partition) = match &pool.kind {
        PoolKind::Ray { url } => (Some(url.clone()), None),
        PoolKind::Slurm { partition } => (None, partition.clone()),
    };
    store.conn().execute(
        &format!("INSERT INTO pools({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        rusqlite::params![
            pool.name,
            pool.kind_name(),
            address,
            partition,
            serde_json::to_string(&pool.shared).unwrap_or_else(|_| "[]".into()),
            pool.created_at
        ],
    )?;
    Ok((pool, flavors))
}

/// Forgets a pool. Refused while a step of an execution that has not ended runs on it: that
/// job could then neither be stopped nor re-attached.
pub fn remove(store: &Store, name: &str) -> Result<(), PoolError> {
    named(store, name)?;
    let busy: Vec<String> = {
        let mut stmt = store.conn().prepare(
            "SELECT s.execution_id || ' ' || s.name FROM steps s JOIN executions e ON e.id = s.execution_id \
             WHERE s.status = 'running' AND e.status NOT IN ('executed', 'failed', 'stopped') \
             AND json_extract(s.detail, '$.pool') = ?1",
        )?;
        let rows = stmt.query_map([name], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    if let Some(first) = busy.first() {
        let (exec, step) = first.split_once(' ').unwrap_or((first, ""));
        return Err(PoolError::Busy {
            name: name.to_string(),
            exec: exec.to_string(),
            step: step.to_string(),
        });
    }
    store
        .conn()
        .execute("DELETE FROM pools WHERE name = ?1", [name])?;
    Ok(())
}

/// Flavors of one node with `cpus` CPUs, `memory_mib` and `gpus` GPUs: `cpu-N` for N in
/// 1, 2, 4, … up to its CPUs (and the CPUs themselves), memory in proportion; `gpu-N` for
/// N GPUs with their share of the CPUs and memory.
pub fn node_flavors(prefix: &str, cpus: u32, memory_mib: u64, gpus: u32) -> Vec<PoolFlavor> {
    let mut out = Vec::new();
    let cpus = cpus.max(1);
    let mut sizes = Vec::new();
    let mut n = 1;
    while n < cpus {
        sizes.push(n);
        n *= 2;
    }
    sizes.push(cpus);
    for n in sizes {
        let mem = memory_mib * n as u64 / cpus as u64;
        out.push(PoolFlavor {
            id: format!("{prefix}cpu-{n}"),
            cpu: n,
            memory_mib: mem,
            gpu: 0,
            description: format!("{n} CPU{}, {} MiB", if n == 1 { "" } else { "s" }, mem),
        });
    }
    for g in 1..=gpus {
        let cpu = (cpus * g / gpus).max(1);
        let mem = memory_mib * g as u64 / gpus as u64;
        out.push(PoolFlavor {
            id: format!("{prefix}gpu-{g}"),
            cpu,
            memory_mib: mem,
            gpu: g,
            description: format!(
                "{g} GPU{}, {cpu} CPUs, {mem} MiB",
                if g == 1 { "" } else { "s" }
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_addresses() {
        assert_eq!(split_ref("ray:cpu-2"), Some(("ray", "cpu-2")));
        assert_eq!(split_ref("cpu.small"), None);
        assert_eq!(split_ref(":x"), None);
        assert_eq!(
            check_ray_url("http://127.0.0.1:8265/").unwrap(),
            "http://127.0.0.1:8265"
        );
        assert!(check_ray_url("127.0.0.1:8265").is_err());
        assert!(check_name("gpu-pool.1").is_ok());
        assert!(check_name("-x").is_err());
    }

    #[test]
    fn a_node_gives_cpu_and_gpu_flavors() {
        let ids: Vec<String> = node_flavors("", 6, 6000, 2)
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["cpu-1", "cpu-2", "cpu-4", "cpu-6", "gpu-1", "gpu-2"]);
        let f = &node_flavors("", 4, 4096, 0)[1];
        assert_eq!((f.cpu, f.memory_mib), (2, 2048));
    }

    #[test]
    fn shared_prefixes_refuse_other_paths() {
        let p = Pool {
            name: "c".into(),
            kind: PoolKind::Slurm { partition: None },
            shared: vec!["/shared".into()],
            created_at: String::new(),
        };
        assert!(p.check_visible("x", Path::new("/shared/a/b")).is_ok());
        let e = p
            .check_visible("input `data`", Path::new("/home/me/data"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `data`: /home/me/data is not on a path the nodes of pool `c` see (/shared); \
             put it under one of them, or add the pool again with `--shared PREFIX`"
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(p.check_visible("x", Path::new("/sharedother")).is_err());
    }
}
