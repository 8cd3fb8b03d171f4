//! `wf kernel`: the Jupyter kernel (`--connection-file F`, as a notebook server starts it) and
//! `wf kernel install`, which tells Jupyter how to start it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::error::{from_status, Error, Result};
use crate::kernel::install::{install, Place};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct KernelArgs {
    #[command(subcommand)]
    pub command: Option<KernelCommand>,
    /// The connection file Jupyter wrote for this kernel (ports and key)
    #[arg(long, value_name = "FILE")]
    pub connection_file: Option<PathBuf>,
    /// The root folder of a storage, for runs started from the notebook (repeatable)
    #[arg(long, value_name = "NAME=ROOT")]
    pub storage: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum KernelCommand {
    /// Install the kernel spec `wf` (kernel.json and logos) where Jupyter finds it
    #[command(
        after_help = "Without a flag the spec goes system-wide, to /usr/local/share/jupyter/kernels/wf.\n\nExamples:\n  wf kernel install --user\n  wf kernel install --sys-prefix\n  jupyter console --kernel wf"
    )]
    Install(InstallArgs),
}

#[derive(Args, Debug)]
#[group(multiple = false)]
pub struct InstallArgs {
    /// For this user: $JUPYTER_DATA_DIR/kernels/wf, else ~/.local/share/jupyter/kernels/wf
    #[arg(long)]
    pub user: bool,
    /// Into the prefix of `python3` (a virtual environment's): sys.prefix/share/jupyter/kernels/wf
    #[arg(long)]
    pub sys_prefix: bool,
    /// Into DIR/share/jupyter/kernels/wf
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
}

pub fn run(home: Option<&std::path::Path>, args: KernelArgs) -> Result {
    match args.command {
        Some(KernelCommand::Install(a)) => {
            let place = if a.user {
                Place::User
            } else if a.sys_prefix {
                Place::SysPrefix
            } else if let Some(dir) = a.prefix {
                Place::Prefix(dir)
            } else {
                Place::System
            };
            let dir = install(&place).map_err(Error::failed)?;
            errln!(
                "installed the kernel spec `wf` in {}\nstart it with: jupyter notebook (kernel \"wf (Rhai)\") or jupyter console --kernel wf",
                dir.display()
            );
            Ok(())
        }
        None => match args.connection_file {
            Some(file) => {
                let home = crate::store::home_dir(home);
                from_status(crate::kernel::run(&home, &file, args.storage))
            }
            None => Err(Error::usage(
                "`wf kernel` needs `--connection-file FILE` (Jupyter starts it so); `wf kernel install` installs the spec that does",
            )),
        },
    }
}
