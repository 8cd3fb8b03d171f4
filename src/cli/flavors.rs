//! `wf flavors`: this machine's resource flavors and each registered pool's.

use std::path::Path;

use clap::Args;
use serde_json::{json, Value};

use super::error::{Error, Result};
use super::records::open_records;
use crate::pools::flavors::Machine;

#[derive(Args, Debug)]
pub struct FlavorsArgs {
    /// An array of objects with id, cpu, memory_mib, gpu
    #[arg(long)]
    pub json: bool,
}

/// Each registered pool with its flavors read from the cluster, or why they cannot be.
type PoolFlavors = Vec<(
    crate::pools::Pool,
    std::result::Result<Vec<crate::pools::PoolFlavor>, crate::pools::PoolError>,
)>;

fn pool_flavors(home: Option<&Path>) -> Result<PoolFlavors> {
    let Some(store) = open_records(home)? else {
        return Ok(Vec::new());
    };
    let pools = crate::pools::list(&store).map_err(Error::failed)?;
    Ok(pools
        .into_iter()
        .map(|p| {
            let f = p.flavors();
            (p, f)
        })
        .collect())
}

pub fn flavors(home: Option<&Path>, a: FlavorsArgs) -> Result {
    let m = Machine::detect();
    let fs = m.flavors();
    let pools = pool_flavors(home)?;
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
        return Ok(());
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
    Ok(())
}
