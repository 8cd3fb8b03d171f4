//! `wf graph`: the definition as JSON, or the DAG as dot or Mermaid.

use std::path::PathBuf;

use clap::Args;

use super::error::{Error, Result};
use super::{exit, stderr_color, GraphFormat};
use crate::diag::render;
use crate::loader::load_and_check;
use crate::loader::LoadOptions;
use crate::model::{definition, graph};

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

pub fn run(args: GraphArgs) -> Result {
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
        return Err(Error::failed(format!(
            "`{}` is not a valid workflow: {errors} error{}",
            args.script.display(),
            if errors == 1 { "" } else { "s" }
        )));
    }
    let Some(w) = checked.workflow else {
        return Err(Error::status(exit::FAILED));
    };
    // A drawing of tens of thousands of edges helps no one and takes gigabytes to lay out.
    const MAX_DRAWN_EDGES: usize = 20_000;
    let edges: usize = w.steps.iter().map(|s| s.deps.len()).sum();
    if edges > MAX_DRAWN_EDGES && !matches!(args.format, GraphFormat::Json) {
        return Err(Error::failed(format!(
            "`{}` has {edges} dependencies; a drawing shows at most {MAX_DRAWN_EDGES}: use `--format json`, or `wf check` for a summary",
            w.name
        )));
    }
    match args.format {
        GraphFormat::Json => {
            // Written as it is serialised: a large definition is not held twice as text.
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut out, &definition::Definition(&w))
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out))
                .and_then(|_| out.flush());
            if let Err(e) = written {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(Error::failed(format!("cannot write the definition: {e}")));
                }
            }
        }
        GraphFormat::Dot => out!("{}", graph::to_dot(&w)),
        GraphFormat::Mermaid => out!("{}", graph::to_mermaid(&w)),
    }
    Ok(())
}
