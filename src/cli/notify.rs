//! `wf notify add|list|remove|log`: webhooks for a workflow's status changes (README, "The running state").

use std::path::Path;

use clap::Subcommand;

use super::error::{Error, Result};
use crate::store::{home_dir, Store};

#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// POST a workflow's status changes to a URL
    #[command(
        after_help = "Each POST's body: {\"id\", \"workflow\", \"execution_id\", \"step\", \"event\", \"at\", \"console_url\"}.\nWith --secret S it carries `X-Wf-Signature: sha256=<hex HMAC-SHA256 of the body with S>`.\n\nExample:\n  wf notify add flowers-pipeline --url http://127.0.0.1:9000/hook --events executed,failed"
    )]
    Add {
        /// The workflow's name
        workflow: String,
        #[arg(long)]
        url: String,
        /// Which events: awaiting_input, executed, failed (failed includes stopped)
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "awaiting_input,executed,failed"
        )]
        events: Vec<String>,
        /// Sign each body with this secret
        #[arg(long)]
        secret: Option<String>,
    },
    /// The notifications set
    List {
        workflow: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a notification by its id
    Remove { id: i64 },
    /// Deliveries and failures, newest first
    Log {
        workflow: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

pub fn notify(home: Option<&Path>, c: NotifyCommand) -> Result {
    let store = match Store::open(&home_dir(home)) {
        Ok(s) => s,
        Err(e) => {
            return Err(Error::failed(e));
        }
    };
    match c {
        NotifyCommand::Add {
            workflow,
            url,
            events,
            secret,
        } => match crate::notify::add(&store, &workflow, &url, &events, secret.as_deref()) {
            Ok(id) => {
                errln!(
                    "notification {id}: {} of `{workflow}` go to {url}",
                    events.join(", ")
                );
                Ok(())
            }
            Err(e) => Err(Error::usage(e)),
        },
        NotifyCommand::List { workflow, json } => {
            let list = match crate::notify::list(&store, workflow.as_deref()) {
                Ok(l) => l,
                Err(e) => {
                    return Err(Error::failed(e));
                }
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.is_empty() {
                errln!("no notifications; `wf notify add WORKFLOW --url URL` sets one");
            } else {
                for n in list {
                    outln!(
                        "{:>4}  {:<28} {:<40} {}{}",
                        n["id"],
                        n["workflow"].as_str().unwrap_or(""),
                        n["url"].as_str().unwrap_or(""),
                        n["events"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .filter_map(|e| e.as_str())
                                .collect::<Vec<_>>()
                                .join(","))
                            .unwrap_or_default(),
                        if n["signed"] == true {
                            "  (signed)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(())
        }
        NotifyCommand::Remove { id } => match crate::notify::remove(&store, id) {
            Ok(true) => {
                errln!("notification {id} removed");
                Ok(())
            }
            Ok(false) => Err(Error::failed(format!(
                "no notification {id}; `wf notify list` lists them"
            ))),
            Err(e) => Err(Error::failed(e)),
        },
        NotifyCommand::Log {
            workflow,
            limit,
            json,
        } => {
            let list = match crate::notify::log(&store, workflow.as_deref(), limit) {
                Ok(l) => l,
                Err(e) => {
                    return Err(Error::failed(e));
                }
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            if list.is_empty() {
                errln!("no deliveries yet");
            }
            for d in list {
                let b = &d["body"];
                outln!(
                    "{}  {:<9} {} try  {} {} {}{}  -> {}{}",
                    d["updated_at"].as_str().unwrap_or(""),
                    d["status"].as_str().unwrap_or(""),
                    d["attempts"],
                    b["workflow"].as_str().unwrap_or(""),
                    b["execution_id"].as_str().unwrap_or(""),
                    b["event"].as_str().unwrap_or(""),
                    b["step"]
                        .as_str()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default(),
                    d["url"].as_str().unwrap_or(""),
                    d["last_error"]
                        .as_str()
                        .map(|e| format!("  [{e}]"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
