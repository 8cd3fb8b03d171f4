//! `wf algorithm`: the local algorithm registry.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};

use super::error::{Error, Result};
use crate::present::term::short_time;

#[derive(Subcommand, Debug)]
pub enum AlgorithmCommand {
    /// Register an algorithm that `wf.Algorithm(#{ algorithm_id })` and `wf.AIGalleryAlgorithm(#{ subscription_id })` name
    Register {
        /// Its id
        id: String,
        /// The folder of its code
        #[arg(long)]
        code_dir: PathBuf,
        /// A boot file in that folder (.py runs with python3, .sh with bash)
        #[arg(long, conflicts_with = "command")]
        boot_file: Option<String>,
        /// Or a shell command
        #[arg(long)]
        command: Option<String>,
        /// A default hyperparameter (repeatable)
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// An environment variable (repeatable)
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
        envs: Vec<String>,
    },
    /// List registered algorithms
    List,
    /// Show one
    Show { id: String },
}

pub fn algorithm(home: Option<&Path>, c: AlgorithmCommand) -> Result {
    let store = super::records::open(home)?;
    match c {
        AlgorithmCommand::Register {
            id,
            code_dir,
            boot_file,
            command,
            params,
            envs,
        } => {
            if boot_file.is_none() && command.is_none() {
                return Err(Error::usage("give --boot-file or --command"));
            }
            let dir = match code_dir.canonicalize() {
                Ok(d) if d.is_dir() => d,
                _ => {
                    return Err(Error::usage(format!(
                        "--code-dir {} is not a folder",
                        code_dir.display()
                    )))
                }
            };
            let kv = |list: &[String], what: &str| -> Result<serde_json::Map<String, Value>> {
                list.iter()
                    .map(|t| {
                        t.split_once('=')
                            .filter(|(k, _)| !k.is_empty())
                            .map(|(k, v)| (k.to_string(), json!(v)))
                            .ok_or_else(|| Error::usage(format!("{what} `{t}`: write NAME=VALUE")))
                    })
                    .collect()
            };
            let (p, e) = (kv(&params, "-p")?, kv(&envs, "-e")?);
            let def = json!({ "code_dir": dir.to_string_lossy(), "boot_file": boot_file, "command": command, "parameters": p, "environments": e });
            store.put_algorithm(&id, &def)?;
            errln!("registered algorithm `{id}`");
            Ok(())
        }
        AlgorithmCommand::List => {
            let all = store.algorithms()?;
            if all.is_empty() {
                errln!("no algorithms registered yet: `wf algorithm register ID --code-dir DIR --boot-file FILE` adds one");
            }
            for (id, def, at) in all {
                let how = def
                    .get("boot_file")
                    .and_then(Value::as_str)
                    .or(def.get("command").and_then(Value::as_str))
                    .unwrap_or("");
                outln!("{id:<24}  {how:<30}  {}", short_time(&at));
            }
            Ok(())
        }
        AlgorithmCommand::Show { id } => match store.algorithm(&id)? {
            Some(def) => {
                outln!("{}", serde_json::to_string_pretty(&def).unwrap_or_default());
                Ok(())
            }
            None => Err(Error::failed(format!(
                "no algorithm `{id}` is registered; `wf algorithm list` shows them"
            ))),
        },
    }
}
