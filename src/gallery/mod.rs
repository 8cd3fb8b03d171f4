//! The gallery (README, "The running state", the manual's §4.9.2): released workflows published as
//! versioned assets in a folder, with their local algorithms, and subscribed from it.
//!
//! A gallery is a folder; shared by a team (a network mount), it is the team's gallery:
//!
//! ```text
//! GALLERY/
//!   workflows/<content_id>/<x.y.z>/      one published version of an asset (never changed
//!     asset.json                          but for its whitelist)
//!     definition.json                     the released definition; `at` positions point
//!                                         into files/
//!     files/                              the workflow's own folder (its base_dir): the
//!                                         script, its modules, and every BaseAlgorithm
//!                                         code_dir, keeping relative paths (a code_dir
//!                                         outside that folder goes to `.wf-external/`)
//!     algorithms/<id>/algorithm.json      each local algorithm the workflow names
//!     algorithms/<id>/code/               (`Algorithm(algorithm_id)`,
//!                                         `AIGalleryAlgorithm(subscription_id)`): its
//!                                         registered definition and a copy of its code_dir
//!   models/<subscription_id>/<version>/   the files a `GalleryModel(subscription_id,
//!                                         version_num)` input reads
//! ```
//!
//! `asset.json` is `{content_id, version, title, desc, visibility, group_users, owner,
//! workflow, published_at, ...}`. Visibility: `private` (the default, as in the manual)
//! shows the asset to its owner only, `group` to its owner and `group_users`, `public` to
//! everyone. Users are OS user names. The whitelist is kept by `wf`; whoever may write the
//! folder may read it, so a private asset for real wants the folder's permissions too.
//!
//! Writing is atomic: a version is built in a hidden folder beside its place, then renamed
//! there (a version that exists is never replaced, so two publishers of one version cannot
//! both succeed). Subscribing copies what it needs into the home (`HOME/subscriptions/
//! <content_id>/<version>/`, `HOME/algorithms/<id>/`), so a subscribed workflow keeps
//! running whatever later happens to the gallery.
//!
//! Whoever may write a team's gallery may write anything in it, so reading trusts no name
//! an asset gives: an asset version is read only where its `asset.json`'s `content_id` and
//! `version` are its folders' names (neither a link); an algorithm only in the folder its
//! id names, with its code in that folder's `code/`; a definition only with positions and
//! `code_dir`s inside its `files/`. An asset holding a link, a fifo, a socket or a device
//! is refused before anything is read from it or written to the home, naming what it
//! holds, and the copies into the home follow no link.

//!
//! | module      | holds                                                               |
//! |-------------|---------------------------------------------------------------------|
//! | `access`    | who may see an asset; the checks that keep reading inside the       |
//! |             | gallery and the copies into the home off links                     |
//! | `names`     | versions `x.y.z`, asset ids, `NAME[@VERSION]`                       |
//! | `assets`    | reading the assets and their versions: list, find, show             |
//! | `files`     | copying folders, writing JSON, staging folders put in place at once |
//! | `objects`   | walking a definition's objects                                      |
//! | `publish`   | a publication's values; publishing a released workflow or a model,  |
//! |             | and the whitelists                                                  |
//! | `subscribe` | importing an asset into the home                                    |

mod access;
mod assets;
mod files;
mod names;
mod objects;
mod publish;
mod subscribe;

use std::path::{Path, PathBuf};

pub use access::{current_user, may_see};
pub use assets::{find, list, list_checked, list_for, show};
pub use names::{parse_spec, parse_version};
pub use publish::{
    add_whitelist_users, check, delete_whitelist_users, publish, publish_asset, publish_model,
    release_and_publish, whitelist, Publish,
};
pub use subscribe::{subscribe, Subscribe};

/// The gallery folder: `--gallery DIR`, else `$WF_GALLERY`, else `HOME/gallery`.
/// Made absolute, as the records keep it.
pub fn gallery_dir(home: &Path, flag: Option<&Path>) -> PathBuf {
    let dir = match flag {
        Some(f) => f.to_path_buf(),
        None => match std::env::var_os("WF_GALLERY").filter(|g| !g.is_empty()) {
            Some(g) => PathBuf::from(g),
            None => home.join("gallery"),
        },
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Where the published workflows are.
pub fn workflows_dir(gallery: &Path) -> PathBuf {
    gallery.join("workflows")
}

/// Where `GalleryModel(subscription_id, version_num)` inputs read:
/// `GALLERY/models/<subscription_id>/<version_num>/`.
pub fn model_dir(gallery: &Path, id: &str, version: &str) -> PathBuf {
    gallery.join("models").join(id).join(version)
}

/// What went wrong, by kind; each renders as the sentence the user reads.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// A value that cannot be right (a version that is not `x.y.z`): exit 2.
    #[error("{0}")]
    Usage(String),
    /// No such asset, or no such version of it.
    #[error("{0}")]
    NotFound(String),
    /// A whitelist that leaves the user out, or an asset of another owner.
    #[error("{0}")]
    Denied(String),
    /// A version (or a model version) that exists already: versions are never replaced.
    #[error("{0}")]
    Conflict(String),
    /// What the gallery holds is not an asset as publishing writes one.
    #[error("{0}")]
    Refused(String),
    /// A file or folder that cannot be read or written.
    #[error("cannot {doing} `{}`: {source}", path.display())]
    Io {
        doing: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything else that stops the command (the home's records, the registry).
    #[error("{0}")]
    Failed(String),
}

impl GalleryError {
    /// The command's exit status for it.
    pub fn exit_code(&self) -> i32 {
        match self {
            GalleryError::Usage(_) => crate::model::status::exit::USAGE,
            _ => crate::model::status::exit::FAILED,
        }
    }
}

impl From<GalleryError> for String {
    fn from(e: GalleryError) -> String {
        e.to_string()
    }
}

type Result<T> = std::result::Result<T, GalleryError>;

fn failed(m: impl Into<String>) -> GalleryError {
    GalleryError::Failed(m.into())
}

fn usage(m: impl Into<String>) -> GalleryError {
    GalleryError::Usage(m.into())
}

fn not_found(m: impl Into<String>) -> GalleryError {
    GalleryError::NotFound(m.into())
}

fn denied(m: impl Into<String>) -> GalleryError {
    GalleryError::Denied(m.into())
}

fn conflict(m: impl Into<String>) -> GalleryError {
    GalleryError::Conflict(m.into())
}

fn refused(m: impl Into<String>) -> GalleryError {
    GalleryError::Refused(m.into())
}

fn io_err(doing: &str, path: &Path, source: std::io::Error) -> GalleryError {
    GalleryError::Io {
        doing: doing.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use names::{safe_name, version_cmp};
    use objects::split_at;
    use serde_json::json;
    use std::cmp::Ordering;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.0.0").ok(), Some((1, 0, 0)));
        assert_eq!(parse_version("10.20.3").ok(), Some((10, 20, 3)));
        let bad = [
            "1.0",
            "1.0.0.0",
            "a.b.c",
            "1..0",
            "01.0.0",
            "1.0.-1",
            "",
            "1.0.0-rc.1",
            "1.0.0+b5",
            "v1.0.0",
            " 1.0.0",
            "1.0.0 ",
            "+1.0.0",
            "99999999999999999999.0.0",
        ];
        for bad in bad {
            let e = parse_version(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("the version `{bad}` is not `x.y.z`: three whole numbers joined by dots, such as `1.0.0`")
            );
            assert_eq!(e.exit_code(), crate::model::status::exit::USAGE, "{bad}");
        }
        assert_eq!(version_cmp("1.0.10", "1.0.9"), Ordering::Greater);
        assert_eq!(version_cmp("2.0.0", "10.0.0"), Ordering::Less);
        // A folder name that is no version sorts before every version.
        assert_eq!(version_cmp("draft", "0.0.1"), Ordering::Less);
    }

    #[test]
    fn visibility() {
        let a = json!({ "owner": "ann", "visibility": "group", "group_users": ["bob"] });
        assert!(may_see(&a, "ann") && may_see(&a, "bob") && !may_see(&a, "cy"));
        let p = json!({ "owner": "ann", "visibility": "private" });
        assert!(may_see(&p, "ann") && !may_see(&p, "bob"));
        let o = json!({ "owner": "ann", "visibility": "public" });
        assert!(may_see(&o, "cy"));
    }

    #[test]
    fn names() {
        assert_eq!(safe_name("trainer"), "trainer");
        assert_eq!(safe_name("a/b"), "a%2Fb");
        assert_eq!(safe_name(".."), "%2E.");
        assert_eq!(split_at("dir/f.rhai:3:4"), Some(("dir/f.rhai", ":3:4")));
        assert!(check(&Publish {
            visibility: Some("group".into()),
            ..Publish::default()
        })
        .is_err());
    }

    /// A released-to-be workflow `tiny` written in `dir/flow.rhai`: the script and the
    /// checked workflow.
    fn tiny(dir: &std::path::Path) -> (PathBuf, crate::model::workflow::Workflow) {
        let script = dir.join("flow.rhai");
        std::fs::write(
            &script,
            r#"let j = wf.steps.JobStep(#{ name: "j", algorithm: wf.BaseAlgorithm(#{ command: "true" }),
  inputs: wf.steps.JobInput("d", wf.data.OBSPath(".")),
  outputs: wf.steps.JobOutput("o", #{ obs_config: wf.data.OBSOutputConfig("out") }),
  spec: wf.steps.JobSpec(#{ resource: wf.steps.JobResource(#{ flavor: "cpu.small" }) }) });
wf.Workflow(#{ name: "tiny", desc: "d", steps: [j] })
"#,
        )
        .unwrap();
        let checked =
            crate::loader::load_and_check(&script, &crate::loader::LoadOptions::default());
        assert_eq!(checked.errors(), 0, "{:?}", checked.diags);
        let w = checked.workflow.unwrap();
        (script, w)
    }

    /// What `workflow.release_to_gallery(...)` calls: a release, then a publication.
    #[test]
    fn release_and_publish_makes_an_asset_or_a_version_of_the_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let (script, w) = tiny(dir.path());
        let home = dir.path().join("home");
        let gallery = dir.path().join("gallery");
        let p = Publish {
            title: Some("Tiny".into()),
            ..Publish::default()
        };
        let (r, id, v) =
            release_and_publish(&home, &gallery, &w, dir.path(), Some(&script), &p).unwrap();
        assert_eq!((r.version, id.as_str(), v.as_str()), (1, "tiny", "1.0.0"));
        // Without a content_id, each publication is a new asset at 1.0.0.
        let (_, id, v) =
            release_and_publish(&home, &gallery, &w, dir.path(), Some(&script), &p).unwrap();
        assert_eq!((id.as_str(), v.as_str()), ("tiny-2", "1.0.0"));
        // With one, a version of that asset.
        let again = Publish {
            content_id: Some("tiny".into()),
            ..Publish::default()
        };
        let (_, id, v) =
            release_and_publish(&home, &gallery, &w, dir.path(), Some(&script), &again).unwrap();
        assert_eq!((id.as_str(), v.as_str()), ("tiny", "1.0.1"));
        let bad = Publish {
            version: Some("1.0".into()),
            ..Publish::default()
        };
        assert!(release_and_publish(&home, &gallery, &w, dir.path(), None, &bad).is_err());
        let seen = list(&gallery).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0]["title"], "Tiny");
        assert_eq!(seen[0]["versions"], json!(["1.0.0", "1.0.1"]));
        assert_eq!(seen[1]["content_id"], "tiny-2");
        assert_eq!(seen[1]["versions"], json!(["1.0.0"]));
        assert!(gallery
            .join("workflows/tiny/1.0.0/files/flow.rhai")
            .is_file());
    }

    /// Each failure says its kind, with the message and exit status users see.
    #[test]
    fn errors_say_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        let (script, w) = tiny(dir.path());
        let home = dir.path().join("home");
        let gallery = dir.path().join("gallery");
        let user = current_user();
        let p = Publish::default();
        release_and_publish(&home, &gallery, &w, dir.path(), Some(&script), &p).unwrap();
        let failed = crate::model::status::exit::FAILED;

        let e = find(&gallery, "nope", &user).unwrap_err();
        assert!(matches!(e, GalleryError::NotFound(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "the gallery `{}` has no asset `nope`; `wf gallery list` shows those you may use",
                gallery.display()
            )
        );
        assert_eq!(e.exit_code(), failed);
        let e = find(&gallery, "tiny@2.0.0", &user).unwrap_err();
        assert!(matches!(e, GalleryError::NotFound(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the asset `tiny` has no version `2.0.0`; its versions: 1.0.0"
        );

        let other = format!("{user}-other");
        let e = find(&gallery, "tiny", &other).unwrap_err();
        assert!(matches!(e, GalleryError::Denied(_)), "{e:?}");
        assert!(e.to_string().starts_with(&format!(
            "the asset `tiny` 1.0.0 is private: only its owner `{user}` may use it, not `{other}`"
        )));

        let again = Publish {
            content_id: Some("tiny".into()),
            version: Some("1.0.0".into()),
            ..Publish::default()
        };
        let e = publish_asset(&home, &gallery, "tiny", &again).unwrap_err();
        assert!(matches!(e, GalleryError::Conflict(_)), "{e:?}");
        assert_eq!(e.exit_code(), failed);

        let e = parse_spec("tiny@1.0").unwrap_err();
        assert!(matches!(e, GalleryError::Usage(_)), "{e:?}");
        assert_eq!(e.exit_code(), crate::model::status::exit::USAGE);

        let e = publish_asset(&home, &gallery, "never", &Publish::default()).unwrap_err();
        assert!(matches!(e, GalleryError::NotFound(_)), "{e:?}");

        let files = gallery.join("workflows/tiny/1.0.0/files");
        std::os::unix::fs::symlink("/etc", files.join("etc")).unwrap();
        let e = show(&gallery, "tiny").unwrap_err();
        assert!(matches!(e, GalleryError::Refused(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the asset `tiny` 1.0.0 is refused: `files/etc` is a link (to `/etc`); an asset holds only files and folders, and nothing was read from it"
        );
        std::fs::remove_file(files.join("etc")).unwrap();

        std::fs::remove_file(gallery.join("workflows/tiny/1.0.0/definition.json")).unwrap();
        match show(&gallery, "tiny").unwrap_err() {
            GalleryError::Io { path, source, .. } => {
                assert_eq!(path, gallery.join("workflows/tiny/1.0.0/definition.json"));
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }
}
