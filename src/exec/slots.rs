//! Room on this machine, shared by every execution of a home: a ledger of what running
//! steps hold (`HOME/slots/held.json`, changed under `HOME/slots/lock`), so that twenty
//! executions started at once through `wf serve` fit the machine together as one would.
//!
//! A step holds its flavor's memory and GPUs, and its CPUs unless its flavor is `cpu.small`
//! (light steps share CPUs by time). A job on a pool holds nothing here. An entry names the
//! process that took it (its pid and start time): one whose process is gone is dropped, so a
//! runner killed with `kill -9` never keeps room.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pools::flavors::{Flavor, Machine};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    pid: u32,
    /// The process's start, in clock ticks after boot: a reused pid is not the holder.
    start: u64,
    exec: String,
    step: String,
    cpu: u32,
    memory_mib: u64,
    gpu: u32,
}

/// What a flavor holds of this machine: CPUs, MiB, GPUs.
pub fn weight(f: &Flavor) -> (u32, u64, u32) {
    if f.id.contains(':') {
        // A pool's flavor: its job runs on the cluster.
        return (0, 0, 0);
    }
    let cpu = if f.id == "cpu.small" { 0 } else { f.cpu };
    (cpu, f.memory_mib, f.gpu)
}

/// Whether `f` fits this machine when nothing else runs.
pub fn fits_empty(m: &Machine, f: &Flavor) -> bool {
    let (cpu, mem, gpu) = weight(f);
    cpu <= m.cpus && mem <= m.memory_mib && gpu <= m.gpus
}

pub struct Ledger {
    home: PathBuf,
    dir: PathBuf,
}

use crate::store::procs::start_ticks as start_of;

fn me() -> (u32, u64) {
    static ME: std::sync::OnceLock<(u32, u64)> = std::sync::OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        (pid, start_of(pid).unwrap_or(0))
    })
}

impl Ledger {
    pub fn new(home: &Path) -> Ledger {
        Ledger {
            home: home.to_path_buf(),
            dir: home.join("slots"),
        }
    }

    /// Runs `change` on the live entries under the lock, and keeps what it leaves.
    fn with<T>(&self, change: impl FnOnce(&mut Vec<Entry>) -> T) -> std::io::Result<T> {
        crate::store::private_dir(&self.dir)?;
        let mut f = crate::store::private_file(&self.dir.join("held.json"), false)?;
        f.lock()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let mut entries: Vec<Entry> = serde_json::from_str(&text).unwrap_or_default();
        let before = entries.len();
        // Held while its process lives, or while the job it started does (a local job's
        // owner outlives a runner killed with `kill -9`).
        let (pid, start) = me();
        entries.retain(|e| {
            (e.pid == pid && e.start == start)
                || start_of(e.pid) == Some(e.start)
                || crate::store::lock_held(
                    &crate::store::job_dir(&self.home, &e.exec, &e.step).join("lock"),
                )
        });
        let was = entries.clone();
        let out = change(&mut entries);
        if entries != was || entries.len() != before {
            let bytes = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(&bytes)?;
        }
        Ok(out)
    }

    /// Takes room for `step` of `exec` if the machine has it now, counting what every
    /// execution of the home holds. `already_running`: its job runs already (a runner
    /// re-attaching to it), so the room is taken whatever else holds.
    pub fn take(
        &self,
        m: &Machine,
        exec: &str,
        step: &str,
        f: &Flavor,
        already_running: bool,
    ) -> std::io::Result<bool> {
        let (cpu, memory_mib, gpu) = weight(f);
        if (cpu, memory_mib, gpu) == (0, 0, 0) {
            return Ok(true);
        }
        let (pid, start) = me();
        self.with(|entries| {
            entries.retain(|e| !(e.exec == exec && e.step == step));
            let used = entries.iter().fold((0u32, 0u64, 0u32), |a, e| {
                (a.0 + e.cpu, a.1 + e.memory_mib, a.2 + e.gpu)
            });
            let fits = already_running
                || used.0 + cpu <= m.cpus
                    && used.1 + memory_mib <= m.memory_mib
                    && used.2 + gpu <= m.gpus;
            if fits {
                entries.push(Entry {
                    pid,
                    start,
                    exec: exec.to_string(),
                    step: step.to_string(),
                    cpu,
                    memory_mib,
                    gpu,
                });
            }
            fits
        })
    }

    /// Gives back what `step` of `exec` held.
    pub fn give_back(&self, exec: &str, step: &str) {
        let _ = self.with(|entries| entries.retain(|e| !(e.exec == exec && e.step == step)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Machine {
        Machine {
            cpus: 2,
            memory_mib: 24 * 1024,
            gpus: 0,
        }
    }

    #[test]
    fn cpus_are_shared_by_every_execution_of_the_home_and_given_back() {
        let home = tempfile::tempdir().unwrap();
        let one = m().flavor("cpu.1").unwrap();
        let a = Ledger::new(home.path());
        let b = Ledger::new(home.path());
        assert!(a.take(&m(), "e1", "j", &one, false).unwrap());
        assert!(b.take(&m(), "e2", "j", &one, false).unwrap());
        assert!(
            !a.take(&m(), "e3", "j", &one, false).unwrap(),
            "a third cpu.1 on 2 CPUs"
        );
        // Light steps share CPUs by time.
        let small = m().flavor("cpu.small").unwrap();
        assert!(a.take(&m(), "e4", "j", &small, false).unwrap());
        b.give_back("e2", "j");
        assert!(a.take(&m(), "e3", "j", &one, false).unwrap());
    }

    #[test]
    fn a_dead_holder_keeps_no_room() {
        let home = tempfile::tempdir().unwrap();
        let l = Ledger::new(home.path());
        let dead = Entry {
            pid: u32::MAX - 1,
            start: 1,
            exec: "gone".into(),
            step: "j".into(),
            cpu: 2,
            memory_mib: 0,
            gpu: 0,
        };
        crate::store::private_dir(&l.dir).unwrap();
        std::fs::write(
            l.dir.join("held.json"),
            serde_json::to_vec(&[dead]).unwrap(),
        )
        .unwrap();
        let one = m().flavor("cpu.2").unwrap();
        assert!(l.take(&m(), "e1", "j", &one, false).unwrap());
    }
}
