//! `wf gallery list|show|subscribe|publish|whitelist|publish-model`: the gallery of
//! published workflows (README, "The running state", the manual's §4.9.2). The gallery is a folder:
//! `--gallery DIR`, else `$WF_GALLERY`, else `HOME/gallery`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::Value;

use std::borrow::Cow;

use super::error::{Error, Result};
use super::escape_control;
use crate::gallery::{self, GalleryError, Publish, Subscribe};
use crate::store::home_dir;

#[derive(Args, Debug, Clone)]
pub struct GalleryFlag {
    /// The gallery folder (else $WF_GALLERY, else HOME/gallery)
    #[arg(long, value_name = "DIR")]
    pub gallery: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum GalleryCommand {
    /// The assets you may use: the newest version of each
    #[command(after_help = "Example:\n  wf gallery list --gallery /shared/gallery")]
    List {
        #[command(flatten)]
        g: GalleryFlag,
        /// Print a JSON array, one object an asset
        #[arg(long)]
        json: bool,
    },
    /// An asset version (the newest without @VERSION): who published it, who may use it,
    /// its algorithms
    Show {
        /// NAME or NAME@VERSION
        asset: String,
        #[command(flatten)]
        g: GalleryFlag,
        /// Print one JSON object, with the definition
        #[arg(long)]
        json: bool,
    },
    /// Import an asset into this home: register its algorithms, release its workflow
    #[command(after_help = "Example:\n  wf gallery subscribe flowers@1.0.0\n  wf workflows")]
    Subscribe {
        /// NAME or NAME@VERSION
        asset: String,
        #[command(flatten)]
        g: GalleryFlag,
        /// Release the workflow under this name instead of its own
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Register the asset's algorithms over ones of the same id registered here
        #[arg(long)]
        replace: bool,
        /// Print what was done as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Publish a released workflow (its latest version) with its local algorithms, as
    /// `workflow.release_to_gallery(...)` does
    #[command(
        after_help = "Examples:\n  wf release flow.rhai\n  wf gallery publish flowers --visibility public\n  wf gallery publish flowers --visibility group --group-user ann --group-user bob"
    )]
    Publish {
        /// The released workflow (`wf workflows` lists them)
        name: String,
        #[command(flatten)]
        g: GalleryFlag,
        /// The asset to add a version to; without it, a new asset at 1.0.0 (named after
        /// the workflow: NAME, else NAME-2, NAME-3, ...)
        #[arg(long)]
        content_id: Option<String>,
        /// x.y.z (default: 1.0.0 for a new asset, else the next after the newest)
        #[arg(long)]
        version: Option<String>,
        /// The asset's name (default: the workflow's name)
        #[arg(long)]
        title: Option<String>,
        /// The description of this version (default: the workflow's)
        #[arg(long)]
        desc: Option<String>,
        /// public, group (the whitelist) or private (only you); default: private, or the
        /// previous version's
        #[arg(long, value_name = "VISIBILITY")]
        visibility: Option<String>,
        /// A user of the whitelist, for `--visibility group` (repeatable)
        #[arg(long = "group-user", value_name = "USER")]
        group_users: Vec<String>,
        /// Print the asset as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Add or remove users of an asset version's whitelist (its owner only)
    Whitelist {
        /// NAME@VERSION
        asset: String,
        #[command(flatten)]
        g: GalleryFlag,
        /// A user to add (repeatable)
        #[arg(long, value_name = "USER")]
        add: Vec<String>,
        /// A user to remove (repeatable)
        #[arg(long, value_name = "USER")]
        remove: Vec<String>,
    },
    /// Publish a model folder as GALLERY/models/ID/VERSION, which
    /// `wf.data.GalleryModel(#{ subscription_id: ID, version_num: VERSION })` reads
    #[command(name = "publish-model")]
    PublishModel {
        id: String,
        version: String,
        /// The model's folder
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[command(flatten)]
        g: GalleryFlag,
    },
}

fn fail(e: GalleryError) -> Error {
    // Messages name what the gallery holds, written by whoever may write it.
    Error {
        code: e.exit_code(),
        message: Some(escape_control(&e.to_string()).into_owned()),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A text field of an asset, as a table shows it (control characters escaped).
fn text<'a>(v: &'a Value, k: &str) -> Cow<'a, str> {
    escape_control(v[k].as_str().unwrap_or(""))
}

fn who(a: &Value) -> String {
    match text(a, "visibility") {
        v if v == "group" => {
            let users: Vec<&str> = a["group_users"]
                .as_array()
                .map(|u| u.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("group ({})", escape_control(&users.join(", ")))
        }
        v => v.into_owned(),
    }
}

pub fn gallery(home: Option<&Path>, c: GalleryCommand) -> Result {
    let home = home_dir(home);
    let dir = |g: &GalleryFlag| gallery::gallery_dir(&home, g.gallery.as_deref());
    match c {
        GalleryCommand::List { g, json } => {
            let gdir = dir(&g);
            let (all, refused) =
                gallery::list_checked(&gdir, &gallery::current_user()).map_err(fail)?;
            for why in &refused {
                errln!("warning: {}; it is passed over", escape_control(why));
            }
            if json {
                outln!("{}", pretty(&Value::Array(all)));
                return Ok(());
            }
            if all.is_empty() {
                errln!(
                    "no assets you may use in `{}`; `wf gallery publish NAME` publishes a released workflow",
                    gdir.display()
                );
                return Ok(());
            }
            outln!(
                "{:<24} {:<9} {:<16} {:<12} {:<24} TITLE",
                "ASSET",
                "VERSION",
                "VISIBILITY",
                "OWNER",
                "WORKFLOW"
            );
            for a in &all {
                outln!(
                    "{:<24} {:<9} {:<16} {:<12} {:<24} {}",
                    text(a, "content_id"),
                    text(a, "version"),
                    text(a, "visibility"),
                    text(a, "owner"),
                    text(a, "workflow"),
                    text(a, "title")
                );
            }
            Ok(())
        }
        GalleryCommand::Show { asset, g, json } => {
            let a = gallery::show(&dir(&g), &asset).map_err(fail)?;
            if json {
                outln!("{}", pretty(&a));
                return Ok(());
            }
            outln!(
                "asset       {}@{}",
                text(&a, "content_id"),
                text(&a, "version")
            );
            outln!("title       {}", text(&a, "title"));
            if !text(&a, "desc").is_empty() {
                outln!("desc        {}", text(&a, "desc"));
            }
            outln!("workflow    {}", text(&a, "workflow"));
            outln!("owner       {}", text(&a, "owner"));
            outln!("visibility  {}", who(&a));
            outln!("published   {}", text(&a, "published_at"));
            let versions: Vec<&str> = a["versions"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            outln!("versions    {}", escape_control(&versions.join(", ")));
            let steps: Vec<String> = a["definition"]["steps"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .map(|s| format!("{} ({})", text(s, "name"), text(s, "type")))
                        .collect()
                })
                .unwrap_or_default();
            outln!("steps       {}", steps.join(", "));
            for al in a["algorithms"].as_array().into_iter().flatten() {
                let how = al["boot_file"]
                    .as_str()
                    .or(al["command"].as_str())
                    .unwrap_or("");
                outln!("algorithm   {}  {}", text(al, "id"), escape_control(how));
            }
            outln!("folder      {}", text(&a, "path"));
            Ok(())
        }
        GalleryCommand::Subscribe {
            asset,
            g,
            as_name,
            replace,
            json,
        } => {
            let s = Subscribe {
                name: as_name,
                replace,
            };
            let r = gallery::subscribe(&home, &dir(&g), &asset, &s).map_err(fail)?;
            for al in r["algorithms"].as_array().into_iter().flatten() {
                if al["registered"] == true {
                    errln!("registered algorithm `{}`", text(al, "id"));
                } else {
                    errln!(
                        "algorithm `{}` was registered here already, with the same code",
                        text(al, "id")
                    );
                }
            }
            let how = if r["new"] == true {
                format!("released as version {}", r["released_version"])
            } else {
                format!("unchanged at version {}", r["released_version"])
            };
            errln!(
                "subscribed to `{}` {}: workflow `{}` {how}; `wf workflow show {}` shows it",
                text(&r, "content_id"),
                text(&r, "version"),
                text(&r, "workflow"),
                text(&r, "workflow"),
            );
            if json {
                outln!("{}", pretty(&r));
            }
            Ok(())
        }
        GalleryCommand::Publish {
            name,
            g,
            content_id,
            version,
            title,
            desc,
            visibility,
            group_users,
            json,
        } => {
            let p = Publish {
                content_id,
                version,
                desc,
                title,
                visibility,
                group_users,
            };
            if let Err(e) = gallery::check(&p) {
                return Err(fail(e));
            }
            let gdir = dir(&g);
            let a = gallery::publish_asset(&home, &gdir, &name, &p).map_err(fail)?;
            for n in a["notes"].as_array().into_iter().flatten() {
                errln!("note: {}", n.as_str().unwrap_or(""));
            }
            errln!(
                "published `{}` {} to `{}` ({})",
                text(&a, "content_id"),
                text(&a, "version"),
                gdir.display(),
                match a["visibility"].as_str().unwrap_or("") {
                    "public" => "public: everyone may use it".to_string(),
                    "group" => format!("{}: you and your whitelist", who(&a)),
                    _ => "private: only you".to_string(),
                }
            );
            if json {
                outln!("{}", pretty(&a));
            }
            Ok(())
        }
        GalleryCommand::Whitelist {
            asset,
            g,
            add,
            remove,
        } => {
            let (id, version) = match gallery::parse_spec(&asset) {
                Ok((id, Some(v))) => (id, v),
                Ok((id, None)) => {
                    return Err(Error::usage(format!(
                        "name the version: `wf gallery whitelist {id}@X.Y.Z ...`"
                    )));
                }
                Err(e) => return Err(fail(e)),
            };
            if add.is_empty() && remove.is_empty() {
                return Err(Error::usage("give --add USER or --remove USER"));
            }
            match gallery::whitelist(&dir(&g), &id, &version, &add, &remove) {
                Ok(a) => {
                    errln!("`{id}` {version} is now {}", who(&a));
                    Ok(())
                }
                Err(e) => Err(fail(e)),
            }
        }
        GalleryCommand::PublishModel {
            id,
            version,
            from,
            g,
        } => match gallery::publish_model(&dir(&g), &id, &version, &from) {
            Ok(p) => {
                errln!(
                    "published the model `{id}` version `{version}` as `{}`",
                    p.display()
                );
                Ok(())
            }
            Err(e) => Err(fail(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shown_with_their_control_characters_escaped() {
        assert_eq!(escape_control("plain name, ünïcode"), "plain name, ünïcode");
        assert_eq!(escape_control("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(escape_control("red\u{1b}[31m"), "red\\x1b[31m");
        assert_eq!(escape_control("del\u{7f} csi\u{9b}"), "del\\x7f csi\\u{9b}");
        assert_eq!(escape_control("abc\u{202e}fed"), "abc\\u{202e}fed");
        let a = serde_json::json!({ "title": "x\u{1b}]0;owned\u{7}" });
        assert_eq!(text(&a, "title"), "x\\x1b]0;owned\\x07");
    }
}
