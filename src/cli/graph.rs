//! `wf graph`: the definition as JSON, or the DAG as dot or Mermaid.

use std::path::PathBuf;

use clap::Args;

use super::load::load_and_check;
use super::{exit, stderr_color, GraphFormat};
use crate::model::{definition, graph};
use crate::script::diag::render;
use crate::script::engine::LoadOptions;

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// The script (.rhai) or definition (.json)
    pub script: PathBuf,
    /// What to print
    #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
    pub format: GraphFormat,
    /// Which workflow, when the script binds several (variable or workflow name)
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
}

pub fn run(args: GraphArgs) -> i32 {
    let opts = LoadOptions {
        workflow: args.workflow,
        command: "wf graph",
        ..LoadOptions::default()
    };
    let checked = load_and_check(&args.script, &opts);
    err!(
        "{}",
        render(&checked.diags, &checked.sources, stderr_color())
    );
    let errors = checked.errors();
    if errors > 0 {
        errln!(
            "error: `{}` is not a valid workflow: {errors} error{}",
            args.script.display(),
            if errors == 1 { "" } else { "s" }
        );
        return exit::FAILED;
    }
    let Some(w) = checked.workflow else {
        return exit::FAILED;
    };
    match args.format {
        GraphFormat::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&definition::to_json(&w)).unwrap_or_default()
            )
        }
        GraphFormat::Dot => out!("{}", graph::to_dot(&w)),
        GraphFormat::Mermaid => out!("{}", graph::to_mermaid(&w)),
    }
    exit::OK
}
