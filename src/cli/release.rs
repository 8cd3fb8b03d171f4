//! `wf release SCRIPT`, `wf workflows`, `wf workflow show`: the registry of released
//! workflows (README, "The running state").

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::error::{Error, Result};
use crate::loader::LoadOptions;
use crate::registry::{self, RegistryError};
use crate::store::home_dir;

fn fail(e: RegistryError) -> Error {
    Error::failed(e)
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  wf release examples/flowers_pipeline.rhai\n  wf workflows")]
pub struct ReleaseArgs {
    /// The script (or JSON definition) to release
    pub script: PathBuf,
    /// Which workflow, when the script binds several
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
}

/// `wf release SCRIPT`.
pub fn release(home: Option<&Path>, a: ReleaseArgs) -> Result {
    let opts = LoadOptions {
        workflow: a.workflow.clone(),
        command: "wf release",
        ..LoadOptions::default()
    };
    let checked = crate::loader::load_and_check(&a.script, &opts);
    if checked.errors() > 0 {
        err!(
            "{}",
            crate::diag::render(&checked.diags, &checked.sources, super::stderr_color())
        );
        return Err(Error::failed(format!(
            "`{}` is not a valid workflow: nothing was released",
            a.script.display()
        )));
    }
    let Some(w) = checked.workflow else {
        return Err(Error::failed(format!(
            "`{}` builds no workflow",
            a.script.display()
        )));
    };
    let store = super::records::open(home)?;
    let base = a
        .script
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    match registry::release(&store, &w, &base, Some(&a.script)) {
        Ok(r) if r.new => {
            errln!("released `{}` as version {}", r.name, r.version);
            Ok(())
        }
        Ok(r) => {
            errln!(
                "`{}` is unchanged: version {} stays the latest",
                r.name,
                r.version
            );
            Ok(())
        }
        Err(e) => Err(fail(e)),
    }
}

#[derive(clap::Args, Debug)]
pub struct WorkflowsArgs {
    /// Only those whose name or description holds this
    #[arg(long)]
    pub search: Option<String>,
    /// Only those with this tag
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn workflows(home: Option<&Path>, a: WorkflowsArgs) -> Result {
    if super::no_records(home) {
        if a.json {
            outln!("[]");
        } else {
            errln!("no released workflows yet; `wf release SCRIPT` releases one");
        }
        return Ok(());
    }
    let store = super::records::open(home)?;
    let list = registry::list(&store, a.search.as_deref(), a.tag.as_deref()).map_err(fail)?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(());
    }
    if list.is_empty() {
        errln!("no released workflows yet; `wf release SCRIPT` releases one");
        return Ok(());
    }
    outln!("{:<32} {:>7} {:>10}  TAGS", "NAME", "VERSION", "EXECUTIONS");
    for w in list {
        let tags: Vec<&str> = w["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        outln!(
            "{:<32} {:>7} {:>10}  {}",
            w["name"].as_str().unwrap_or(""),
            w["latest_version"].as_i64().unwrap_or(0),
            w["executions"].as_i64().unwrap_or(0),
            tags.join(", ")
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum WorkflowCommand {
    /// A released workflow: versions, configuration, definition
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn workflow(home: Option<&Path>, c: WorkflowCommand) -> Result {
    match c {
        WorkflowCommand::Show { name, json } => {
            if super::no_records(home) {
                return Err(Error::failed(format!(
                    "no released workflow `{name}`; `wf release SCRIPT` releases one"
                )));
            }
            let store = super::records::open(home)?;
            let v = registry::show(&store, &name).map_err(fail)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            outln!(
                "{} (version {}): {}",
                name,
                v["latest_version"].as_i64().unwrap_or(0),
                v["description"].as_str().unwrap_or("")
            );
            for x in v["versions"].as_array().cloned().unwrap_or_default() {
                outln!(
                    "  version {:<4} {}  {}",
                    x["version"].as_i64().unwrap_or(0),
                    x["created_at"].as_str().unwrap_or(""),
                    x["source"].as_str().unwrap_or("")
                );
            }
            outln!("configuration: {}", v["configuration"]);
            Ok(())
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Every request needs the token, on 127.0.0.1 too: `Authorization: Bearer TOKEN`,\nor a browser opens the console once at the address `wf serve` prints on start,\nhttp://HOST:PORT/?token=TOKEN (a cookie keeps it). `wf serve --show-token` prints\nthe token. Bound to 0.0.0.0, notifications point at this machine's name; give\n--public-url when the console is reached at another address (a proxy in front).\n\nExamples:\n  wf serve\n  wf serve --bind 0.0.0.0:7878\n  wf serve --bind 0.0.0.0:7878 --public-url https://wf.example.org\n  wf serve --show-token"
)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:7878", value_name = "ADDR")]
    pub bind: String,
    /// Print the API token and exit
    #[arg(long)]
    pub show_token: bool,
    /// Where the console is reached from elsewhere, for the links notifications carry
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

pub fn serve(home: Option<&Path>, a: ServeArgs) -> i32 {
    crate::serve::run(
        &home_dir(home),
        &a.bind,
        a.show_token,
        a.public_url.as_deref(),
    )
}
