//! This machine's resource flavors: what a job step's `flavor` names.
//!
//! Processes share CPUs by time, so flavors are fitted by memory and GPUs only: several
//! one-CPU jobs may run on one core, but their memory must fit the machine.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flavor {
    pub id: String,
    pub cpu: u32,
    pub memory_mib: u64,
    pub gpu: u32,
    pub description: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub cpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
}

impl Machine {
    /// This machine, read once per process (a run asks when it prepares and when it starts).
    pub fn detect() -> Machine {
        static MACHINE: std::sync::OnceLock<Machine> = std::sync::OnceLock::new();
        *MACHINE.get_or_init(Machine::read)
    }

    fn read() -> Machine {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| kb / 1024)
            .unwrap_or(4096);
        let gpus = std::fs::read_dir("/dev")
            .map(|d| {
                d.flatten()
                    .filter(|e| {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        n.starts_with("nvidia")
                            && n[6..].chars().all(|c| c.is_ascii_digit())
                            && n.len() > 6
                    })
                    .count() as u32
            })
            .unwrap_or(0);
        Machine {
            cpus,
            memory_mib,
            gpus,
        }
    }

    pub fn flavors(&self) -> Vec<Flavor> {
        let mut out = vec![Flavor {
            id: "cpu.small".into(),
            cpu: 1,
            memory_mib: 256.min(self.memory_mib),
            gpu: 0,
            description: "one CPU, 256 MiB: scripts and light steps".into(),
        }];
        let mut n = 1;
        while n <= self.cpus {
            out.push(Flavor {
                id: format!("cpu.{n}"),
                cpu: n,
                memory_mib: (n as u64 * 1024).min(self.memory_mib),
                gpu: 0,
                description: format!("{n} CPU{}, {} GiB", if n == 1 { "" } else { "s" }, n),
            });
            n *= 2;
        }
        out.push(Flavor {
            id: "cpu.all".into(),
            cpu: self.cpus,
            memory_mib: self.memory_mib * 3 / 4,
            gpu: 0,
            description: "every CPU and three quarters of the memory".into(),
        });
        for g in 1..=self.gpus {
            out.push(Flavor {
                id: format!("gpu.{g}"),
                cpu: self.cpus,
                memory_mib: self.memory_mib / 2,
                gpu: g,
                description: format!("{g} GPU{}", if g == 1 { "" } else { "s" }),
            });
        }
        out
    }

    /// Every flavor's id, in order, joined for a message: `cpu.small, cpu.all, ...`.
    pub fn flavor_ids(&self) -> String {
        self.flavors()
            .into_iter()
            .map(|f| f.id)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn flavor(&self, id: &str) -> Option<Flavor> {
        self.flavors().into_iter().find(|f| f.id == id)
    }
}

/// What running steps hold of the machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub memory_mib: u64,
    pub gpu: u32,
}

impl Usage {
    pub fn fits(&self, m: &Machine, f: &Flavor) -> bool {
        self.memory_mib + f.memory_mib <= m.memory_mib && self.gpu + f.gpu <= m.gpus
    }
    pub fn add(&mut self, f: &Flavor) {
        self.memory_mib += f.memory_mib;
        self.gpu += f.gpu;
    }
    pub fn remove(&mut self, f: &Flavor) {
        self.memory_mib = self.memory_mib.saturating_sub(f.memory_mib);
        self.gpu = self.gpu.saturating_sub(f.gpu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_fit_by_memory_and_gpus() {
        let m = Machine {
            cpus: 2,
            memory_mib: 1024,
            gpus: 0,
        };
        let ids: Vec<String> = m.flavors().into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["cpu.small", "cpu.1", "cpu.2", "cpu.all"]);
        let small = m.flavor("cpu.small").unwrap();
        let mut u = Usage::default();
        for _ in 0..4 {
            assert!(u.fits(&m, &small));
            u.add(&small);
        }
        assert!(
            !u.fits(&m, &small),
            "a fifth 256 MiB job does not fit 1 GiB"
        );
        u.remove(&small);
        assert!(u.fits(&m, &small));
    }
}
