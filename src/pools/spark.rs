//! The Spark clusters MRS job steps submit to (`wf cluster add|list|show|remove`): the
//! registry in the home's records, the built-in `local`, and where each cluster's
//! `spark-submit` and a Java runtime are found. What a step runs on a cluster is the MRS
//! backend's (`backends::mrs`); this module imports nothing above the store.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use rusqlite::OptionalExtension;
use serde_json::{json, Value};

use crate::store::Store;

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
            "problem": submit.err().map(|e| e.to_string()),
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

impl std::error::Error for ClusterError {}

impl crate::store::Classify for ClusterError {
    fn kind(&self) -> crate::store::ErrorKind {
        match self {
            ClusterError::Usage(_) => crate::store::ErrorKind::Invalid,
            ClusterError::Failed(_) => crate::store::ErrorKind::Unavailable,
        }
    }
}

/// A cluster name: a letter or digit, then letters, digits, `_`, `-`, `.`; 64 at most.
pub fn check_name(name: &str) -> Result<(), ClusterError> {
    crate::pools::check_cluster_name("cluster", name)
        .map_err(|e| ClusterError::Usage(e.to_string()))
}

/// A master URL spark-submit takes: `local`, `local[N]`, `local[*]`, `local[N,F]`,
/// `local-cluster[N,C,M]`, `spark://HOST:PORT[,HOST:PORT…]`, `yarn`, `k8s://URL`.
pub fn check_master(master: &str) -> Result<(), ClusterError> {
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
    Err(ClusterError::Usage(format!(
        "`{master}` is not a Spark master{hint}; use local[*], local[N], spark://HOST:PORT, yarn or k8s://URL"
    )))
}

/// Whether a master runs everything in one process on this machine.
pub fn is_local(master: &str) -> bool {
    master == "local" || master.starts_with("local[") || master.starts_with("local-cluster[")
}

fn db<E: std::fmt::Display>(e: E) -> ClusterError {
    ClusterError::Failed(format!("the records: {e}"))
}

/// Every cluster, the built-in `local` first, then the registered ones by name.
pub fn clusters(store: &Store) -> Result<Vec<Cluster>, ClusterError> {
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
pub fn find_cluster(store: &Store, name: &str) -> Result<Option<Cluster>, ClusterError> {
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
    check_name(name)?;
    if name == LOCAL {
        return Err(ClusterError::Usage(format!(
            "`{LOCAL}` is built in ({LOCAL_MASTER}) and cannot be added; choose another name"
        )));
    }
    check_master(master)?;
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
        .map_err(db)?;
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
        .map_err(db)?;
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
pub enum HomeEnv {
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
    pub home: HomeEnv,
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
pub fn find_spark_submit(cluster: &Cluster) -> Result<SparkSubmit, ClusterError> {
    if let Some(home) = &cluster.spark_home {
        let p = home.join("bin/spark-submit");
        if is_executable(&p) {
            return Ok(SparkSubmit {
                program: p,
                home: HomeEnv::Set(home.clone()),
            });
        }
        return Err(ClusterError::Failed(format!(
            "cluster `{}`'s Spark folder {} has no bin/spark-submit",
            cluster.name,
            home.display()
        )));
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
    Err(ClusterError::Failed(format!(
        "no spark-submit for cluster `{}`: none in $SPARK_HOME, on PATH or in an installed pyspark; {INSTALL_HINT}, or register a Spark folder with `wf cluster add NAME --master {} --spark-home DIR`",
        cluster.name, cluster.master
    )))
}

/// Why `spark-submit` could not start a JVM with this environment, if it could not.
pub fn java_missing(env: &[(String, String)]) -> Option<String> {
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
