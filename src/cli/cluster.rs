//! `wf cluster add|list|remove`: the Spark clusters MRS steps submit to (README, "Spark").

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::Value;

use super::error::{Error, Result};
use crate::backends::mrs::{self, Cluster, ClusterError};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Register a Spark cluster that MRS steps name by `cluster_id`
    #[command(
        after_help = "Masters: local[*], local[N], spark://HOST:PORT, yarn, k8s://URL\n\n\
Examples:\n  wf cluster add standalone --master spark://10.0.0.5:7077\n  wf cluster add two-cores --master 'local[2]' --spark-home /opt/spark"
    )]
    Add {
        /// Letters, digits, `_`, `-`, `.` (`local` is built in)
        name: String,
        /// The master URL spark-submit is given
        #[arg(long, value_name = "URL")]
        master: String,
        /// A Spark folder whose bin/spark-submit submits to it (default: as for `local`)
        #[arg(long, value_name = "DIR")]
        spark_home: Option<PathBuf>,
        /// Print the cluster as a JSON object
        #[arg(long)]
        json: bool,
    },
    /// List the clusters, the built-in `local` first
    List {
        /// Print a JSON array, one object a cluster
        #[arg(long)]
        json: bool,
    },
    /// Forget a registered cluster
    Remove { name: String },
}

fn refused(e: ClusterError) -> Error {
    match e {
        ClusterError::Usage(m) => Error::usage(m),
        ClusterError::Failed(m) => Error::failed(m),
    }
}

pub fn cluster(home: Option<&Path>, c: ClusterCommand) -> Result {
    let store = super::records::open(home)?;
    match c {
        ClusterCommand::Add {
            name,
            master,
            spark_home,
            json,
        } => match mrs::add_cluster(&store, &name, &master, spark_home.as_deref()) {
            Ok(c) => {
                if json {
                    super::print_json(&c.to_json());
                } else {
                    outln!("added cluster {}: {}", c.name, c.master);
                    if let Err(why) = mrs::find_spark_submit(&c) {
                        errln!("warning: {why}");
                    }
                }
                Ok(())
            }
            Err(e) => Err(refused(e)),
        },
        ClusterCommand::List { json } => {
            let all = match mrs::clusters(&store) {
                Ok(a) => a,
                Err(e) => {
                    return Err(Error::failed(e));
                }
            };
            if json {
                super::print_json(&Value::Array(all.iter().map(Cluster::to_json).collect()));
            } else {
                list(&all);
            }
            Ok(())
        }
        ClusterCommand::Remove { name } => match mrs::remove_cluster(&store, &name) {
            Ok(()) => {
                outln!("removed cluster {name}");
                Ok(())
            }
            Err(e) => Err(refused(e)),
        },
    }
}

fn list(all: &[Cluster]) {
    let width = |f: &dyn Fn(&Cluster) -> usize, min: usize| all.iter().map(f).fold(min, usize::max);
    let wn = width(&|c| c.name.len(), 4);
    let wm = width(&|c| c.master.len(), 6);
    outln!("{:<wn$}  {:<wm$}  SPARK-SUBMIT", "NAME", "MASTER");
    let mut problems = Vec::new();
    for c in all {
        let submit = match mrs::find_spark_submit(c) {
            Ok(s) => s.program.to_string_lossy().into_owned(),
            Err(why) => {
                problems.push(why.to_string());
                "(none found)".to_string()
            }
        };
        outln!("{:<wn$}  {:<wm$}  {submit}", c.name, c.master);
    }
    for p in problems {
        errln!("note: {p}");
    }
}
