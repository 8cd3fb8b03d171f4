//! A Slurm cluster through its commands on PATH: `sinfo` for partitions (the flavors),
//! `sbatch` of a generated batch script, `squeue`/`sacct` for a job's state, `scancel`.
//! The batch script writes the job's exit status beside its output, so a job that ended
//! long ago (forgotten by `squeue`, with no accounting) is still read back.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::PoolFlavor;
use crate::store::{Classify, ErrorKind};

/// Why a Slurm command failed, or what it said could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("Slurm's `{cmd}` is not on PATH: a Slurm pool needs the cluster's client commands here (Debian: slurm-client)")]
    Missing { cmd: String },
    #[error("cannot run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    /// The command ran and failed: its command line and what it wrote on stderr.
    #[error("`{line}` failed: {stderr}")]
    Failed { line: String, stderr: String },
    #[error("no partition `{name}`; the cluster's are: {}", known.join(", "))]
    NoPartition { name: String, known: Vec<String> },
    /// What a command printed is not what it should (no partition listed, no job id).
    #[error("{0}")]
    Unexpected(String),
}

impl Classify for SlurmError {
    fn kind(&self) -> ErrorKind {
        match self {
            SlurmError::Missing { .. } | SlurmError::Failed { .. } => ErrorKind::Unavailable,
            SlurmError::NoPartition { .. } => ErrorKind::NotFound,
            SlurmError::Spawn { .. } | SlurmError::Unexpected(_) => ErrorKind::Internal,
        }
    }
}

fn missing(cmd: &str, e: std::io::Error) -> SlurmError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SlurmError::Missing {
            cmd: cmd.to_string(),
        }
    } else {
        SlurmError::Spawn {
            cmd: cmd.to_string(),
            source: e,
        }
    }
}

fn output(cmd: &str, args: &[&str], out: std::process::Output) -> Result<String, SlurmError> {
    if !out.status.success() {
        return Err(SlurmError::Failed {
            line: format!("{cmd} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_sync(cmd: &str, args: &[&str]) -> Result<String, SlurmError> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| missing(cmd, e))?;
    output(cmd, args, out)
}

async fn run(cmd: &str, args: &[&str]) -> Result<String, SlurmError> {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| missing(cmd, e))?;
    output(cmd, args, out)
}

/// One partition, as `sinfo` shows it.
#[derive(Debug, Clone, PartialEq)]
struct Partition {
    name: String,
    default: bool,
    cpus: u32,
    memory_mib: u64,
    gpus: u32,
}

fn parse_sinfo(text: &str) -> Vec<Partition> {
    let mut out: Vec<Partition> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.trim().split('|').collect();
        if f.len() < 4 {
            continue;
        }
        let default = f[0].ends_with('*');
        let name = f[0].trim_end_matches('*').to_string();
        // `4+` when nodes differ: the smallest is what every node has.
        let num = |s: &str| s.trim_end_matches('+').parse::<u64>().unwrap_or(0);
        let gpus = f[3]
            .split(',')
            .filter_map(|g| g.strip_prefix("gpu:"))
            .filter_map(|g| g.split('(').next())
            .filter_map(|g| g.rsplit(':').next())
            .filter_map(|n| n.parse::<u32>().ok())
            .sum();
        let p = Partition {
            name,
            default,
            cpus: num(f[1]) as u32,
            memory_mib: num(f[2]),
            gpus,
        };
        // sinfo prints a line per node state: keep the partition's first.
        if !out.iter().any(|q| q.name == p.name) {
            out.push(p);
        }
    }
    out
}

/// The flavors of the pool's partition (the cluster's default when none is given): one
/// node's `cpu-N` and `gpu-N`, and for each partition a flavor named after it that takes a
/// whole node of it.
pub fn flavors(partition: Option<&str>) -> Result<Vec<PoolFlavor>, SlurmError> {
    let text = run_sync("sinfo", &["-h", "-o", "%P|%c|%m|%G"])?;
    flavors_of(&parse_sinfo(&text), partition)
}

fn flavors_of(parts: &[Partition], partition: Option<&str>) -> Result<Vec<PoolFlavor>, SlurmError> {
    if parts.is_empty() {
        return Err(SlurmError::Unexpected("`sinfo` lists no partition".into()));
    }
    let chosen = match partition {
        Some(p) => parts
            .iter()
            .find(|q| q.name == p)
            .ok_or_else(|| SlurmError::NoPartition {
                name: p.to_string(),
                known: parts.iter().map(|q| q.name.clone()).collect(),
            })?,
        None => parts.iter().find(|q| q.default).unwrap_or(&parts[0]),
    };
    let mut out = super::node_flavors("", chosen.cpus, chosen.memory_mib, chosen.gpus);
    for p in parts
        .iter()
        .filter(|q| partition.is_none_or(|want| want == q.name))
    {
        out.push(PoolFlavor {
            id: p.name.clone(),
            cpu: p.cpus.max(1),
            memory_mib: p.memory_mib,
            gpu: p.gpus,
            description: format!("a whole node of partition {}", p.name),
        });
    }
    Ok(out)
}

/// A batch job to write out.
#[derive(Debug, Clone)]
pub struct Batch {
    pub name: String,
    pub partition: Option<String>,
    pub nodes: u32,
    pub cpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
    pub cwd: PathBuf,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where Slurm writes the job's output, and where the script writes its exit status.
    pub output: PathBuf,
    pub exit_file: PathBuf,
}

/// A word quoted for `sh`.
pub fn sh(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl Batch {
    /// The batch script: one task per node, each given its rank from `SLURM_PROCID`.
    pub fn script(&self) -> String {
        let mut s = String::from("#!/bin/bash\n");
        let mut opt = |o: String| s.push_str(&format!("#SBATCH {o}\n"));
        opt(format!("--job-name={}", self.name));
        if let Some(p) = &self.partition {
            opt(format!("--partition={p}"));
        }
        opt(format!("--nodes={}", self.nodes));
        opt(format!("--ntasks={}", self.nodes));
        opt("--ntasks-per-node=1".into());
        opt(format!("--cpus-per-task={}", self.cpus.max(1)));
        if self.memory_mib > 0 {
            opt(format!("--mem={}M", self.memory_mib));
        }
        if self.gpus > 0 {
            opt(format!("--gres=gpu:{}", self.gpus));
        }
        opt(format!("--output={}", self.output.display()));
        opt("--open-mode=append".into());
        opt(format!("--chdir={}", self.cwd.display()));
        s.push_str(&format!(
            "rm -f {}\n",
            sh(&self.exit_file.to_string_lossy())
        ));
        for (k, v) in &self.env {
            s.push_str(&format!("export {k}={}\n", sh(v)));
        }
        s.push_str("export WORLD_SIZE=\"$SLURM_NTASKS\"\n");
        s.push_str(
            "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null | head -n1)\"\n",
        );
        s.push_str("[ -n \"$MASTER_ADDR\" ] || MASTER_ADDR=127.0.0.1\n");
        s.push_str("export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))\n");
        let argv: Vec<String> = self.argv.iter().map(|a| sh(a)).collect();
        s.push_str(&format!(
            "srun --kill-on-bad-exit=1 bash -c 'export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID; exec \"$@\"' rank {}\n",
            argv.join(" ")
        ));
        s.push_str("rc=$?\n");
        s.push_str(&format!(
            "echo $rc > {}\nexit $rc\n",
            sh(&self.exit_file.to_string_lossy())
        ));
        s
    }
}

/// Submits the script at `path`; gives the job id.
pub async fn submit(path: &Path) -> Result<String, SlurmError> {
    let out = run("sbatch", &["--parsable", &path.to_string_lossy()]).await?;
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SlurmError::Unexpected(format!(
            "`sbatch` gave no job id: {}",
            out.trim()
        )));
    }
    Ok(id)
}

/// The id of a job submitted under `name` that Slurm still knows of.
pub async fn find_by_name(name: &str) -> Result<Option<String>, SlurmError> {
    let out = run("squeue", &["--states=all", "-h", "-n", name, "-o", "%i"]).await?;
    Ok(out.split_whitespace().next().map(str::to_string))
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    /// It ended: well (`exit 0`) or not, with Slurm's word for it.
    Ended {
        ok: bool,
        how: String,
    },
    /// Slurm has forgotten it and it left no exit status.
    Unknown,
}

fn state_word(word: &str, exit_file: &Path) -> JobState {
    let word = word.split_whitespace().next().unwrap_or("");
    match word {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "RESIZING" | "SUSPENDED" => JobState::Pending,
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => JobState::Running,
        "COMPLETED" => JobState::Ended {
            ok: read_exit(exit_file).is_none_or(|c| c == 0),
            how: "completed".into(),
        },
        "" => JobState::Unknown,
        other => JobState::Ended {
            ok: false,
            how: other.to_ascii_lowercase().replace('_', " "),
        },
    }
}

fn read_exit(exit_file: &Path) -> Option<i32> {
    std::fs::read_to_string(exit_file).ok()?.trim().parse().ok()
}

/// The job's state: `squeue` while Slurm remembers it, else `sacct`, else the exit status
/// its script wrote.
pub async fn state(id: &str, exit_file: &Path) -> Result<JobState, SlurmError> {
    if let Ok(out) = run("squeue", &["--states=all", "-h", "-j", id, "-o", "%T"]).await {
        let s = state_word(&out, exit_file);
        if s != JobState::Unknown {
            return Ok(s);
        }
    }
    if let Ok(out) = run("sacct", &["-n", "-P", "-X", "-j", id, "-o", "State"]).await {
        let s = state_word(&out, exit_file);
        if s != JobState::Unknown {
            return Ok(s);
        }
    }
    Ok(match read_exit(exit_file) {
        Some(0) => JobState::Ended {
            ok: true,
            how: "completed".into(),
        },
        Some(c) => JobState::Ended {
            ok: false,
            how: format!("exited with status {c}"),
        },
        None => JobState::Unknown,
    })
}

pub async fn cancel(id: &str) -> Result<(), SlurmError> {
    run("scancel", &[id]).await.map(|_| ())
}

/// `scancel` from synchronous code (cleaning up after a dead runner).
pub fn cancel_now(id: &str) -> Result<(), SlurmError> {
    run_sync("scancel", &[id]).map(|_| ())
}

/// `scancel --name`, for a job whose id was never recorded.
pub fn cancel_named(name: &str) -> Result<(), SlurmError> {
    run_sync("scancel", &["--name", name]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_from_sinfo() {
        let parts = parse_sinfo(
            "debug*|2|24000|(null)\ngpu|8+|64000|gpu:a100:4(S:0)\ngpu|8|64000|gpu:a100:4\n",
        );
        assert_eq!(parts.len(), 2);
        assert!(parts[0].default);
        assert_eq!((parts[1].cpus, parts[1].gpus), (8, 4));
        let ids: Vec<String> = flavors_of(&parts, None)
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["cpu-1", "cpu-2", "debug", "gpu"]);
        let ids: Vec<String> = flavors_of(&parts, Some("gpu"))
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert!(ids.contains(&"gpu-4".to_string()) && ids.contains(&"gpu".to_string()));
        let e = flavors_of(&parts, Some("nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no partition `nope`; the cluster's are: debug, gpu"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn the_batch_script_sets_ranks_and_resources() {
        let b = Batch {
            name: "wf-e1-train-1".into(),
            partition: Some("debug".into()),
            nodes: 2,
            cpus: 4,
            memory_mib: 2048,
            gpus: 1,
            cwd: "/code".into(),
            argv: vec![
                "python3".into(),
                "/code/train.py".into(),
                "--lr=0.1 x".into(),
            ],
            env: vec![("WF_STEP_NAME".into(), "train".into())],
            output: "/home/o.log".into(),
            exit_file: "/home/o.exit".into(),
        };
        let s = b.script();
        for want in [
            "#SBATCH --nodes=2",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=2048M",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --partition=debug",
            "export WF_STEP_NAME=train",
            "RANK=$SLURM_PROCID",
            "python3 /code/train.py '--lr=0.1 x'",
            "echo $rc > /home/o.exit",
        ] {
            assert!(s.contains(want), "no {want:?} in\n{s}");
        }
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
