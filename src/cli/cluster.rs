//! `wf cluster add|list`: the Spark clusters MRS steps submit to.

use std::path::Path;

use clap::Subcommand;

use super::exit;

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// List the clusters
    List,
}

pub fn cluster(_home: Option<&Path>, _c: ClusterCommand) -> i32 {
    exit::FAILED
}
