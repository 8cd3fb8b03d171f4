//! `wf pool add|list|show|remove`: the resource pools job steps run on (README, "Growing beyond one machine").

use std::path::Path;

use clap::Subcommand;
use serde_json::{json, Value};

use super::error::{Error, Result};
use crate::pools::{self, Pool, PoolError, PoolFlavor, PoolKind};

#[derive(Subcommand, Debug)]
pub enum PoolCommand {
    /// Register a Ray or Slurm cluster as a pool; a job step whose flavor is `NAME:FLAVOR` runs there
    #[command(
        after_help = "Examples:\n  wf pool add ray --ray http://127.0.0.1:8265\n  wf pool add hpc --slurm --partition gpu --shared /shared\n\n\
The pool's nodes must see the paths a job is given (inputs, outputs, storages; for Slurm also\n\
the code folder and the home): with --shared, a path outside those prefixes is refused before\n\
the job is submitted.",
        group(clap::ArgGroup::new("kind").required(true).args(["ray", "slurm"]))
    )]
    Add {
        /// Letters, digits, `_`, `-`, `.`
        name: String,
        /// A Ray cluster's dashboard address (its Jobs API), e.g. http://127.0.0.1:8265
        #[arg(long, value_name = "URL")]
        ray: Option<String>,
        /// The Slurm cluster whose sbatch, squeue and scancel are on PATH
        #[arg(long)]
        slurm: bool,
        /// The Slurm partition jobs go to (default: the cluster's)
        #[arg(long, requires = "slurm", value_name = "P")]
        partition: Option<String>,
        /// A path prefix the pool's nodes see (repeatable); none: they see every path
        #[arg(long, value_name = "PREFIX")]
        shared: Vec<String>,
        /// Print the pool as a JSON object
        #[arg(long)]
        json: bool,
    },
    /// List the pools
    List {
        /// Print a JSON array, one object a pool
        #[arg(long)]
        json: bool,
    },
    /// Show a pool and its flavors, read from the cluster
    Show {
        name: String,
        /// Print a JSON object
        #[arg(long)]
        json: bool,
    },
    /// Forget a pool (refused while one of its jobs runs for an execution)
    Remove { name: String },
}

fn refused(e: PoolError) -> Error {
    if e.is_usage() {
        Error::usage(e.to_string())
    } else {
        Error::failed(e.to_string())
    }
}

fn with_flavors(p: &Pool, flavors: &[PoolFlavor]) -> Value {
    let mut v = p.to_json();
    v["flavors"] = json!(flavors
        .iter()
        .map(|f| {
            let mut o = serde_json::to_value(f).unwrap_or_default();
            o["id"] = json!(format!("{}:{}", p.name, f.id));
            o["flavor_id"] = json!(f.id);
            o
        })
        .collect::<Vec<_>>());
    v
}

fn print_flavors(p: &Pool, flavors: &[PoolFlavor]) {
    for f in flavors {
        outln!(
            "  {:<20}  {:>4} CPU  {:>8} MiB  {:>2} GPU  {}",
            format!("{}:{}", p.name, f.id),
            f.cpu,
            f.memory_mib,
            f.gpu,
            f.description
        );
    }
}

pub fn pool(home: Option<&Path>, c: PoolCommand) -> Result {
    let store = super::records::open(home)?;
    match c {
        PoolCommand::Add {
            name,
            ray,
            slurm: _,
            partition,
            shared,
            json,
        } => {
            let kind = match ray {
                Some(url) => PoolKind::Ray { url },
                None => PoolKind::Slurm { partition },
            };
            let wait = pools::ADD_WAIT;
            let waiting = |why: &str| {
                errln!(
                    "pool `{name}`: {why}; waiting up to {} s for it to start…",
                    wait.as_secs()
                );
            };
            match pools::add(&store, &name, kind, &shared, wait, &waiting) {
                Ok((p, flavors)) => {
                    if json {
                        super::print_json(&with_flavors(&p, &flavors));
                    } else {
                        outln!(
                            "added pool {} ({} at {}); its flavors:",
                            p.name,
                            p.kind_name(),
                            p.address()
                        );
                        print_flavors(&p, &flavors);
                    }
                    Ok(())
                }
                Err(e) => Err(refused(e)),
            }
        }
        PoolCommand::List { json } => {
            let all = match pools::list(&store) {
                Ok(a) => a,
                Err(e) => {
                    return Err(Error::failed(e));
                }
            };
            if json {
                super::print_json(&Value::Array(all.iter().map(Pool::to_json).collect()));
                return Ok(());
            }
            if all.is_empty() {
                errln!("no pools yet: `wf pool add NAME --ray URL` or `wf pool add NAME --slurm`");
                return Ok(());
            }
            let wn = all.iter().map(|p| p.name.len()).fold(4, usize::max);
            outln!("{:<wn$}  KIND   ADDRESS", "NAME");
            for p in &all {
                let shared = if p.shared.is_empty() {
                    String::new()
                } else {
                    format!("  (nodes see {})", p.shared.join(", "))
                };
                outln!(
                    "{:<wn$}  {:<5}  {}{shared}",
                    p.name,
                    p.kind_name(),
                    p.address()
                );
            }
            Ok(())
        }
        PoolCommand::Show { name, json } => {
            let p = pools::named(&store, &name).map_err(refused)?;
            let flavors = p.flavors();
            if json {
                let mut v = with_flavors(&p, flavors.as_deref().unwrap_or(&[]));
                if let Err(e) = &flavors {
                    v["error"] = json!(e);
                }
                super::print_json(&v);
            } else {
                outln!("pool {} ({} at {})", p.name, p.kind_name(), p.address());
                if !p.shared.is_empty() {
                    outln!("nodes see: {}", p.shared.join(", "));
                }
                if let Ok(f) = &flavors {
                    outln!("flavors:");
                    print_flavors(&p, f);
                }
            }
            match flavors {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::failed(e)),
            }
        }
        PoolCommand::Remove { name } => match pools::remove(&store, &name) {
            Ok(()) => {
                outln!("removed pool {name}");
                Ok(())
            }
            Err(e) => Err(refused(e)),
        },
    }
}
