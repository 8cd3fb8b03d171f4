//! `wf services` and `wf service show|stop|start|logs|predict`: the local inference
//! services (README, "Models and services"). `wf service-supervisor NAME` (hidden) is the process behind one.

use std::path::Path;

use clap::Subcommand;
use serde_json::Value;

use super::error::{Error, Result};
use crate::services::{self, ServiceError};
use crate::store::home_dir;

fn fail(e: ServiceError) -> Error {
    Error::failed(e)
}

#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    /// Print a JSON array, one object a service
    #[arg(long)]
    pub json: bool,
}

pub fn list(home: Option<&Path>, a: ServicesArgs) -> Result {
    if super::no_records(home) {
        errln!("no services yet; a ServiceStep deploys one");
        return Ok(());
    }
    let store = super::records::open(home)?;
    let names = services::names(&store).map_err(fail)?;
    let mut all = Vec::new();
    for n in names {
        match services::show_json(&store, &n) {
            Ok(v) => all.push(v),
            Err(e) => return Err(fail(e)),
        }
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    if all.is_empty() {
        errln!("no services yet; a ServiceStep deploys one");
        return Ok(());
    }
    outln!("{:<28} {:<12} {:<24} VERSIONS", "NAME", "STATUS", "ADDRESS");
    for s in all {
        let versions: Vec<String> = s["versions"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|v| {
                        format!(
                            "{}@{} {}%",
                            v["model_name"].as_str().unwrap_or(""),
                            v["model_version"].as_str().unwrap_or(""),
                            v["weight"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        outln!(
            "{:<28} {:<12} {:<24} {}",
            s["name"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            s["access_address"].as_str().unwrap_or("-"),
            versions.join(", ")
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// A service: status, address, app code, versions with their processes
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop a service: its model processes end and its address is freed
    Stop { name: String },
    /// Start a stopped service again (or the supervisor of one whose supervisor died)
    Start { name: String },
    /// Print a service's logs: its supervisor's, and each model process's
    Logs {
        name: String,
        /// Only this model version's log (MODEL@VERSION)
        #[arg(long, value_name = "MODEL@VERSION")]
        version: Option<String>,
    },
    /// Send one request to a service and print the answer
    #[command(
        after_help = "Example:\n  wf service predict flowers-serve --data '{\"rgb\": [200, 40, 60]}'"
    )]
    Predict {
        name: String,
        /// The JSON body to POST
        #[arg(long, value_name = "JSON")]
        data: String,
    },
}

pub fn service(home: Option<&Path>, c: ServiceCommand) -> Result {
    if super::no_records(home) {
        return Err(Error::failed(format!(
            "no services in this home (`{}`) yet; a ServiceStep deploys one",
            home_dir(home).display()
        )));
    }
    let store = super::records::open(home)?;
    match c {
        ServiceCommand::Show { name, json } => {
            let v = services::show_json(&store, &name).map_err(fail)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(());
            }
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            outln!("{} ({})", s("name"), s("status"));
            outln!("address:  {}", s("access_address"));
            if let Some(code) = v["app_code"].as_str() {
                outln!("app code: {code}  (send it as the header X-Apig-AppCode)");
            }
            if let Some(r) = v["reason"].as_str() {
                outln!("reason:   {r}");
            }
            outln!("versions:");
            for x in v["versions"].as_array().cloned().unwrap_or_default() {
                outln!(
                    "  {}@{}  weight {}  {}  pid {}  restarts {}",
                    x["model_name"].as_str().unwrap_or(""),
                    x["model_version"].as_str().unwrap_or(""),
                    x["weight"],
                    x["status"].as_str().unwrap_or(""),
                    x["pid"],
                    x["restarts"]
                );
            }
            outln!("logs:     {}", s("logs"));
            Ok(())
        }
        ServiceCommand::Stop { name } => match services::stop(&store, &name) {
            Ok(_) => {
                errln!("service `{name}` stopped");
                Ok(())
            }
            Err(e) => Err(fail(e)),
        },
        ServiceCommand::Start { name } => {
            let row = services::require(&store, &name).map_err(fail)?;
            if row.status == "stopped" || row.status == "failed" {
                let _ = store.redeploy_service(&name);
            }
            if let Err(e) = services::ensure_supervisor(&store, &name) {
                return Err(fail(e));
            }
            drop(store);
            let home = home_dir(home);
            match services::wait_running(&home, &name, std::time::Duration::from_secs(120), &|| {
                false
            }) {
                Ok(r) => {
                    errln!(
                        "service `{name}` running at {}",
                        r.address().unwrap_or_default()
                    );
                    Ok(())
                }
                Err(e) => Err(fail(e)),
            }
        }
        ServiceCommand::Logs { name, version } => {
            if let Err(e) = services::require(&store, &name) {
                return Err(fail(e));
            }
            let dir = services::service_dir(&store.home, &name);
            // The logs, not the locks nor the folders the model processes run in.
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "log"))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            if let Some(v) = &version {
                let want = format!("{}.log", v.replace('@', "-"));
                files.retain(|f| f.file_name().is_some_and(|n| n.to_string_lossy() == want));
                if files.is_empty() {
                    return Err(Error::failed(format!(
                        "service `{name}` has no log for `{v}`"
                    )));
                }
            }
            for f in files {
                outln!(
                    "== {} ==",
                    f.file_name().unwrap_or_default().to_string_lossy()
                );
                out!("{}", std::fs::read_to_string(&f).unwrap_or_default());
            }
            Ok(())
        }
        ServiceCommand::Predict { name, data } => {
            let body: Value = match serde_json::from_str(&data) {
                Ok(v) => v,
                Err(e) => {
                    return Err(Error::usage(format!("--data is not JSON: {e}")));
                }
            };
            let row = services::require(&store, &name).map_err(fail)?;
            if row.status == "stopped" || row.status == "failed" {
                return Err(Error::failed(format!(
                    "service `{name}` is {}; `wf service start {name}` starts it",
                    row.status
                )));
            }
            // A service whose supervisor died (a reboot, a kill) is started again here.
            let row = if services::supervisor_pid(&store.home, &name).is_some() {
                row
            } else {
                errln!("service `{name}` lost its supervisor; starting it again");
                if let Err(e) = services::ensure_supervisor(&store, &name) {
                    return Err(fail(e));
                }
                services::wait_running(
                    &store.home,
                    &name,
                    std::time::Duration::from_secs(120),
                    &|| false,
                )
                .map_err(fail)?
            };
            let Some(port) = row.port else {
                return Err(Error::failed(format!(
                    "service `{name}` has no address yet"
                )));
            };
            match post(port, row.app_code.as_deref(), &body.to_string()) {
                Ok((status, text)) => {
                    outln!("{text}");
                    if (200..300).contains(&status) {
                        Ok(())
                    } else {
                        Err(Error::failed(format!("the service answered {status}")))
                    }
                }
                Err(e) => Err(Error::failed(format!("cannot reach service `{name}`: {e}"))),
            }
        }
    }
}

/// One JSON POST to 127.0.0.1:PORT: the answer's status and text; at most 60 s between reads.
fn post(port: u16, app_code: Option<&str>, body: &str) -> std::io::Result<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = crate::net::local_client(Some(std::time::Duration::from_secs(60)))?;
    let headers: Vec<(&str, &str)> = app_code
        .map(|c| ("X-Apig-AppCode", c))
        .into_iter()
        .collect();
    let (status, bytes) = rt.block_on(crate::net::post(
        &client,
        &format!("http://127.0.0.1:{port}/"),
        "application/json",
        &headers,
        body.as_bytes().to_vec(),
    ))?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[derive(clap::Args, Debug)]
pub struct SupervisorArgs {
    pub name: String,
}

pub fn supervisor(home: Option<&Path>, a: SupervisorArgs) -> i32 {
    services::supervisor::run(&home_dir(home), &a.name)
}
