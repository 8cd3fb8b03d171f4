//! The gallery (CONTRACT §8, the manual's §4.9.2): released workflows published as
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

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::model::definition;
use crate::model::validate::validate;
use crate::registry::{self, RegistryError};
use crate::store::{now, private_dir, Store};

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

/// What `release_to_gallery(#{ content_id, version, desc, title, visibility, group_users })`
/// publishes.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    pub content_id: Option<String>,
    pub version: Option<String>,
    pub desc: Option<String>,
    pub title: Option<String>,
    pub visibility: Option<String>,
    pub group_users: Vec<String>,
}

/// What went wrong, sorted by what the command should exit with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GalleryError {
    /// A value that cannot be right (a version that is not `x.y.z`): exit 2.
    Usage(String),
    /// No such asset, a whitelist that leaves the user out, a version that exists, a
    /// folder that cannot be written: exit 1.
    Failed(String),
}

impl fmt::Display for GalleryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GalleryError::Usage(m) | GalleryError::Failed(m) => f.write_str(m),
        }
    }
}

impl GalleryError {
    /// The command's exit status for it.
    pub fn exit_code(&self) -> i32 {
        match self {
            GalleryError::Usage(_) => crate::exec::error::exit::USAGE,
            GalleryError::Failed(_) => crate::exec::error::exit::FAILED,
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

fn io_err(what: &str, path: &Path, e: std::io::Error) -> GalleryError {
    failed(format!("cannot {what} `{}`: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Users

/// The OS user name of this process (from the user database, else `$USER`/`$LOGNAME`,
/// else the numeric uid): who publishes, and whom the whitelists name.
pub fn current_user() -> String {
    // SAFETY: getuid has no preconditions; getpwuid_r writes only into the buffers given.
    let uid = unsafe { libc::getuid() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    for var in ["USER", "LOGNAME"] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            return v;
        }
    }
    uid.to_string()
}

/// Whether `user` may see (show, subscribe) an asset version.
pub fn may_see(asset: &Value, user: &str) -> bool {
    let owner = asset["owner"].as_str().unwrap_or("");
    if owner == user {
        return true;
    }
    match asset["visibility"].as_str().unwrap_or("private") {
        "public" => true,
        "group" => group_users(asset).iter().any(|u| u == user),
        _ => false,
    }
}

fn group_users(asset: &Value) -> Vec<String> {
    asset["group_users"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Who may see an asset version, in words.
fn who_may(asset: &Value) -> String {
    let owner = asset["owner"].as_str().unwrap_or("?");
    match asset["visibility"].as_str().unwrap_or("private") {
        "public" => "everyone".into(),
        "group" => {
            let users = group_users(asset);
            if users.is_empty() {
                format!("only its owner `{owner}` (its whitelist is empty)")
            } else {
                format!(
                    "its owner `{owner}` and its whitelist: {}",
                    users
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
        _ => format!("only its owner `{owner}`"),
    }
}

fn refusal(asset: &Value, user: &str) -> GalleryError {
    let vis = asset["visibility"].as_str().unwrap_or("private");
    failed(format!(
        "the asset `{}` {} is {vis}: {} may use it, not `{user}`; its owner can add you with `wf gallery whitelist {}@{} --add {user}`",
        asset["content_id"].as_str().unwrap_or("?"),
        asset["version"].as_str().unwrap_or("?"),
        who_may(asset),
        asset["content_id"].as_str().unwrap_or("?"),
        asset["version"].as_str().unwrap_or("?"),
    ))
}

// ---------------------------------------------------------------------------------------
// Versions and names

/// A version `x.y.z`: three whole numbers without leading zeros.
pub fn parse_version(text: &str) -> std::result::Result<(u64, u64, u64), String> {
    let bad = || {
        format!("the version `{text}` is not `x.y.z`: three whole numbers joined by dots, such as `1.0.0`")
    };
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 {
        return Err(bad());
    }
    let mut n = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty()
            || !p.chars().all(|c| c.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return Err(bad());
        }
        n[i] = p.parse().map_err(|_| bad())?;
    }
    Ok((n[0], n[1], n[2]))
}

fn version_cmp(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// An asset id is a folder name of the gallery.
fn check_content_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "the asset id `{id}` is not a name: a letter or digit, then letters, digits, `_`, `-` or `.` (64 at most)"
        )))
    }
}

/// The values of a publication that cannot be right whatever the gallery holds.
pub fn check(p: &Publish) -> std::result::Result<(), GalleryError> {
    if let Some(id) = &p.content_id {
        check_content_id(id)?;
    }
    if let Some(v) = &p.version {
        parse_version(v).map_err(GalleryError::Usage)?;
    }
    if let Some(v) = &p.visibility {
        if !matches!(v.as_str(), "public" | "group" | "private") {
            return Err(usage(format!(
                "the visibility `{v}` is not one of: public, group, private"
            )));
        }
    }
    for u in &p.group_users {
        if u.trim().is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(usage(format!(
                "the whitelisted user `{u}` is not a user name"
            )));
        }
    }
    match p.visibility.as_deref() {
        Some("group") if p.group_users.is_empty() => Err(usage(
            "visibility `group` needs its whitelist: give `group_users` (`--group-user USER`)",
        )),
        Some("public") | Some("private") if !p.group_users.is_empty() => Err(usage(format!(
            "`group_users` is the whitelist of visibility `group`, not `{}`",
            p.visibility.as_deref().unwrap_or("")
        ))),
        _ => Ok(()),
    }
}

/// `NAME[@VERSION]`.
pub fn parse_spec(spec: &str) -> std::result::Result<(String, Option<String>), GalleryError> {
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    check_content_id(name)?;
    if let Some(v) = version {
        parse_version(v).map_err(GalleryError::Usage)?;
    }
    Ok((name.to_string(), version.map(str::to_string)))
}

/// A folder name for an algorithm id (ids may hold any character).
fn safe_name(id: &str) -> String {
    let mut out = String::new();
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Reading the gallery

/// What reading the gallery found: the asset versions, each `asset.json` with `path`
/// added (sorted by id, then version), and the folders refused as assets, each with why.
struct Read {
    assets: Vec<Value>,
    refused: Vec<Refused>,
}

/// A folder of `workflows/` that is not an asset version as `publish` writes one.
struct Refused {
    /// The version's folder name (empty when the asset's folder itself was refused).
    version: String,
    /// What is wrong, naming the folder, the field and its value.
    why: String,
}

/// Every version of every asset (or of one). Every name is checked as `publish` makes it:
/// an asset's `content_id` and `version` are its folders' names, and neither folder is a
/// link, so nothing read from an asset takes a path out of the gallery.
fn read_assets(gallery: &Path, only: Option<&str>) -> Result<Read> {
    let root = workflows_dir(gallery);
    let mut read = Read {
        assets: Vec::new(),
        refused: Vec::new(),
    };
    let ids: Vec<PathBuf> = match only {
        Some(id) => vec![root.join(id)],
        None => match std::fs::read_dir(&root) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("read the gallery", &root, e)),
        },
    };
    for dir in ids {
        if hidden(&dir) {
            continue;
        }
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        let why = if meta.file_type().is_symlink() {
            Some("it is a link: an asset's folder is a folder of the gallery".to_string())
        } else if !meta.is_dir() {
            // A stray file beside the assets.
            continue;
        } else {
            check_content_id(&id).err().map(|e| e.to_string())
        };
        if let Some(why) = why {
            read.refused.push(Refused {
                version: String::new(),
                why: format!("`{}` is not an asset: {why}", dir.display()),
            });
            continue;
        }
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for v in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
            // A stray file beside the versions (a README) is no version; a link still is
            // refused, by `read_version`.
            if hidden(&v) || std::fs::symlink_metadata(&v).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let version = v
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read_version(&id, &version, &v) {
                Ok(mut a) => {
                    a["path"] = json!(v.to_string_lossy());
                    read.assets.push(a);
                }
                Err(why) => read.refused.push(Refused {
                    version,
                    why: format!("`{}` is not an asset version: {why}", v.display()),
                }),
            }
        }
    }
    read.assets.sort_by(|a, b| {
        a["content_id"]
            .as_str()
            .cmp(&b["content_id"].as_str())
            .then_with(|| {
                version_cmp(
                    a["version"].as_str().unwrap_or(""),
                    b["version"].as_str().unwrap_or(""),
                )
            })
    });
    Ok(read)
}

/// The `asset.json` of the folder `id/version`, or why it is not an asset version.
fn read_version(id: &str, version: &str, dir: &Path) -> std::result::Result<Value, String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a link: an asset version is a folder of the gallery".into());
    }
    if !meta.is_dir() {
        return Err("it is not a folder".into());
    }
    parse_version(version).map_err(|e| format!("its folder's name: {e}"))?;
    let file = dir.join("asset.json");
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_symlink() => return Err("its asset.json is a link".into()),
        Ok(m) if !m.is_file() => return Err("its asset.json is not a file".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("it has no asset.json ({e})")),
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("its asset.json: {e}"))?;
    let a: Value =
        serde_json::from_str(&text).map_err(|e| format!("its asset.json is not JSON: {e}"))?;
    if !a.is_object() {
        return Err("its asset.json is not a JSON object".into());
    }
    for (field, folder) in [("content_id", id), ("version", version)] {
        let value = match &a[field] {
            Value::String(v) => v.as_str(),
            Value::Null => return Err(format!("its asset.json has no `{field}`")),
            other => {
                return Err(format!(
                    "its asset.json's `{field}` is `{other}`, not the folder's name `{folder}`"
                ))
            }
        };
        if value != folder {
            return Err(format!(
                "its asset.json's `{field}` is `{value}`, not the folder's name `{folder}`"
            ));
        }
    }
    Ok(a)
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// The assets the current user may see, the newest such version of each, with
/// `versions` (every version they may see). For `wf gallery list`.
pub fn list(gallery: &Path) -> std::result::Result<Vec<Value>, String> {
    list_for(gallery, &current_user()).map_err(String::from)
}

/// `list` for a given user.
pub fn list_for(gallery: &Path, user: &str) -> Result<Vec<Value>> {
    list_checked(gallery, user).map(|(assets, _)| assets)
}

/// `list_for`, with the folders of the gallery that were passed over as not assets, each
/// naming what is wrong with it (for a warning).
pub fn list_checked(gallery: &Path, user: &str) -> Result<(Vec<Value>, Vec<String>)> {
    let read = read_assets(gallery, None)?;
    let refused: Vec<String> = read.refused.into_iter().map(|r| r.why).collect();
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for a in read.assets {
        if may_see(&a, user) {
            let id = a["content_id"].as_str().unwrap_or("").to_string();
            by_id.entry(id).or_default().push(a);
        }
    }
    let assets: Vec<Value> = by_id
        .into_values()
        .filter_map(|mut versions| {
            let versions_text: Vec<Value> = versions.iter().map(|a| a["version"].clone()).collect();
            let mut newest = versions.pop()?;
            newest["versions"] = Value::Array(versions_text);
            Some(newest)
        })
        .collect();
    Ok((assets, refused))
}

/// The asset version `NAME[@VERSION]` (the newest the user may see when no version is
/// given), refused when its whitelist leaves `user` out.
pub fn find(gallery: &Path, spec: &str, user: &str) -> Result<Value> {
    let (id, version) = parse_spec(spec)?;
    let Read {
        assets: all,
        refused,
    } = read_assets(gallery, Some(&id))?;
    // A version that is not what publishing writes is refused, never read; without a
    // version, which is the newest cannot be told while one is refused.
    if let Some(r) = refused
        .iter()
        .find(|r| r.version.is_empty() || version.as_ref().is_none_or(|v| *v == r.version))
    {
        let others = if version.is_none() && !all.is_empty() {
            format!("; `{id}@X.Y.Z` names one of its other versions")
        } else {
            String::new()
        };
        return Err(failed(format!(
            "the asset `{id}` is refused: {}{others}",
            r.why
        )));
    }
    if all.is_empty() {
        return Err(failed(format!(
            "the gallery `{}` has no asset `{id}`; `wf gallery list` shows those you may use",
            gallery.display()
        )));
    }
    match version {
        Some(v) => {
            let a = all
                .iter()
                .find(|a| a["version"] == v.as_str())
                .ok_or_else(|| {
                    let known: Vec<&str> = all
                        .iter()
                        .filter(|a| may_see(a, user))
                        .filter_map(|a| a["version"].as_str())
                        .collect();
                    failed(format!(
                        "the asset `{id}` has no version `{v}`{}",
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!("; its versions: {}", known.join(", "))
                        }
                    ))
                })?;
            if !may_see(a, user) {
                return Err(refusal(a, user));
            }
            Ok(a.clone())
        }
        None => match all.iter().rev().find(|a| may_see(a, user)) {
            Some(a) => Ok(a.clone()),
            None => Err(refusal(all.last().unwrap_or(&Value::Null), user)),
        },
    }
}

/// An asset version for `wf gallery show`: its `asset.json`, the versions the user may
/// see, its algorithms and its definition.
pub fn show(gallery: &Path, spec: &str) -> Result<Value> {
    let user = current_user();
    let mut a = find(gallery, spec, &user)?;
    let id = a["content_id"].as_str().unwrap_or("").to_string();
    let dir = PathBuf::from(a["path"].as_str().unwrap_or(""));
    check_tree(
        &dir,
        &format!("`{id}` {}", a["version"].as_str().unwrap_or("")),
    )?;
    let versions: Vec<Value> = read_assets(gallery, Some(&id))?
        .assets
        .into_iter()
        .filter(|v| may_see(v, &user))
        .map(|v| v["version"].clone())
        .collect();
    a["versions"] = Value::Array(versions);
    let mut algos = Vec::new();
    for (aid, def, _) in read_algorithms(&dir)? {
        algos.push(json!({
            "id": aid,
            "boot_file": def.get("boot_file").cloned().unwrap_or(Value::Null),
            "command": def.get("command").cloned().unwrap_or(Value::Null),
        }));
    }
    a["algorithms"] = Value::Array(algos);
    let def = std::fs::read_to_string(dir.join("definition.json"))
        .map_err(|e| io_err("read", &dir.join("definition.json"), e))?;
    a["definition"] = serde_json::from_str(&def).unwrap_or(Value::Null);
    Ok(a)
}

/// The algorithms an asset holds: `(id, definition, folder)`, each as `publish` writes
/// it: in the folder its id names, its code (if any) in the folder's `code/`.
fn read_algorithms(asset_dir: &Path) -> Result<Vec<(String, Value, PathBuf)>> {
    let root = asset_dir.join("algorithms");
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read", &root, e)),
    };
    for d in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
        if hidden(&d) {
            continue;
        }
        let folder = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = d.join("algorithm.json");
        let text = std::fs::read_to_string(&file).map_err(|e| io_err("read", &file, e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| failed(format!("`{}` is not JSON: {e}", file.display())))?;
        let refuse = |why: String| {
            failed(format!(
                "the asset's algorithm `algorithms/{folder}` is refused: {why}"
            ))
        };
        let id = match &v["id"] {
            Value::String(id) if !id.is_empty() => id.clone(),
            other => {
                return Err(refuse(format!(
                    "its algorithm.json's `id` is `{other}`, not an algorithm id"
                )))
            }
        };
        if safe_name(&id) != folder {
            return Err(refuse(format!(
                "its algorithm.json's `id` is `{id}`, not the algorithm of the folder `{folder}`"
            )));
        }
        match &v["definition"]["code_dir"] {
            Value::Null => {}
            Value::String(c) if c == "code" => {
                if !d.join("code").is_dir() {
                    return Err(refuse(
                        "its `code_dir` is `code`, which the asset lacks".to_string(),
                    ));
                }
            }
            other => {
                let shown = other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_string);
                return Err(refuse(format!(
                    "its algorithm.json's `code_dir` is `{shown}`: an asset's algorithm keeps its code in its own folder, as `code`"
                )));
            }
        }
        out.push((id, v["definition"].clone(), d));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A path relative to a folder that stays in it: plain names (and `.`), no `..`, not
/// absolute.
fn stays_inside(rel: &str) -> bool {
    use std::path::Component;
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Whether `path` is `root` followed by plain names only.
fn under(root: &Path, path: &Path) -> bool {
    use std::path::Component;
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components().count() > 0 && rel.components().all(|c| matches!(c, Component::Normal(_)))
    })
}

/// What a file of an asset is, in words, when it is neither a file nor a folder.
fn kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "a link"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Refuses an asset version holding anything but files and folders: a link (its target,
/// perhaps the reader's own files or `/`, would be read as the asset's), a fifo (a read
/// that waits for ever), a socket or a device. `publish` copies what links point at, so a
/// published asset holds none.
fn check_tree(dir: &Path, what: &str) -> Result<()> {
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .follow_root_links(false)
        .min_depth(1);
    for entry in walk {
        let entry = entry.map_err(|e| failed(format!("cannot read the asset {what}: {e}")))?;
        let ft = entry.file_type();
        if ft.is_dir() || ft.is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let target = if ft.is_symlink() {
            std::fs::read_link(entry.path())
                .map(|t| format!(" (to `{}`)", t.display()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        return Err(failed(format!(
            "the asset {what} is refused: `{}` is {}{target}; an asset holds only files and folders, and nothing was read from it",
            rel.display(),
            kind(&ft),
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Copying

/// What `copy_tree` leaves out: the home and the gallery (a workflow folder may hold
/// them), version control and caches.
struct Skip(Vec<PathBuf>);

impl Skip {
    fn skips(&self, p: &Path) -> bool {
        if p.file_name()
            .is_some_and(|n| n == ".git" || n == "__pycache__")
        {
            return true;
        }
        let c = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        self.0.contains(&c)
    }
}

/// Copies a folder (following links). `private`: folders 0700, files 0600 (0700 when
/// executable), as the home's are.
fn copy_tree(from: &Path, to: &Path, skip: &Skip, private: bool) -> Result<()> {
    let mkdir = |d: &Path| -> Result<()> {
        if private {
            private_dir(d).map_err(|e| io_err("create", d, e))
        } else {
            std::fs::create_dir_all(d).map_err(|e| io_err("create", d, e))
        }
    };
    mkdir(to)?;
    let walk = walkdir::WalkDir::new(from)
        .follow_links(true)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !skip.skips(e.path()));
    for entry in walk {
        let entry = entry.map_err(|e| failed(format!("cannot copy `{}`: {e}", from.display())))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            mkdir(&dest)?;
        } else if entry.file_type().is_file() {
            copy_one(entry.path(), &dest, private)?;
        }
    }
    Ok(())
}

/// Copies an asset's folder into the home, private to its owner, following no link:
/// anything but a file or a folder (one put there since the asset was checked) is
/// refused, and each file is opened without following a link and written as a new file.
fn copy_asset_tree(from: &Path, to: &Path) -> Result<()> {
    private_dir(to).map_err(|e| io_err("create", to, e))?;
    let walk = walkdir::WalkDir::new(from)
        .follow_links(false)
        .follow_root_links(false)
        .min_depth(1);
    for entry in walk {
        let entry = entry.map_err(|e| failed(format!("cannot copy `{}`: {e}", from.display())))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if !under(to, &dest) {
            return Err(failed(format!(
                "cannot copy `{}`: not a path inside `{}`",
                entry.path().display(),
                from.display()
            )));
        }
        let ft = entry.file_type();
        if ft.is_dir() {
            private_dir(&dest).map_err(|e| io_err("create", &dest, e))?;
        } else if ft.is_file() {
            copy_regular(entry.path(), &dest)?;
        } else {
            return Err(failed(format!(
                "`{}` is {}: an asset holds only files and folders",
                entry.path().display(),
                kind(&ft)
            )));
        }
    }
    Ok(())
}

/// Copies one regular file, opened without following a link (nor waiting on a fifo), to
/// a new file (never through a link there), private to the owner.
fn copy_regular(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(from)
        .map_err(|e| io_err("copy", from, e))?;
    let meta = src.metadata().map_err(|e| io_err("copy", from, e))?;
    if !meta.is_file() {
        return Err(failed(format!(
            "`{}` is {}: an asset holds only files and folders",
            from.display(),
            kind(&meta.file_type())
        )));
    }
    let mode = if meta.permissions().mode() & 0o111 != 0 {
        0o700
    } else {
        0o600
    };
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(|e| io_err("write", to, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| io_err("copy", from, e))?;
    dst.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err("write", to, e))
}

/// Copies a file, keeping only whether it is executable: private to the owner in the
/// home; in the gallery, as the umask makes new files (a teammate reads what a
/// publisher's private copy would hide).
fn copy_one(from: &Path, to: &Path, private: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).map_err(|e| io_err("copy", from, e))?;
    let exec = std::fs::metadata(from)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    let mode = match (private, exec) {
        (true, true) => 0o700,
        (true, false) => 0o600,
        (false, true) => 0o777 & !umask(),
        (false, false) => 0o666 & !umask(),
    };
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_err("copy", to, e))
}

/// The process's umask, read without changing it (`/proc/self/status`), else 022.
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
    }
    copy_one(from, to, false)
}

fn write_json(path: &Path, v: &Value, private: bool) -> Result<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    if private {
        crate::store::private_write(path, text.as_bytes())
    } else {
        std::fs::write(path, text)
    }
    .map_err(|e| io_err("write", path, e))
}

/// Writes a JSON file in place atomically (written aside, then renamed).
fn replace_json(path: &Path, v: &Value) -> Result<()> {
    let tmp = path.with_file_name(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    write_json(&tmp, v, false)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err("write", path, e)
    })
}

/// A folder being built; removed unless it was put in place.
struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Staging {
    fn new(parent: &Path, what: &str, private: bool) -> Result<Staging> {
        let dir = parent.join(format!(".staging-{what}-{}", uuid::Uuid::new_v4().simple()));
        if private {
            private_dir(&dir).map_err(|e| io_err("create", &dir, e))?;
        } else {
            std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        }
        Ok(Staging { dir, done: false })
    }

    /// Renames the folder to `dest`, which must not exist (a non-empty folder there makes
    /// the rename fail: two writers cannot both win).
    fn commit_new(mut self, dest: &Path) -> std::io::Result<()> {
        if dest.exists() {
            return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(&self.dir, dest)?;
        self.done = true;
        Ok(())
    }

    /// Puts the folder at `dest`, replacing what was there.
    fn commit_replace(mut self, dest: &Path) -> Result<()> {
        let old = dest.with_file_name(format!(".old-{}", uuid::Uuid::new_v4().simple()));
        let had = dest.exists();
        if had {
            std::fs::rename(dest, &old).map_err(|e| io_err("replace", dest, e))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, dest) {
            if had {
                let _ = std::fs::rename(&old, dest);
            }
            return Err(io_err("replace", dest, e));
        }
        self.done = true;
        if had {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The definition's objects

/// The short class name of a definition object (`wf.steps.JobStep` → `JobStep`).
fn class(m: &Map<String, Value>) -> Option<&str> {
    let c = m.get("$class")?.as_str()?;
    Some(c.rsplit('.').next().unwrap_or(c))
}

/// Calls `f` on every object of a definition, children first.
fn each_object(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                each_object(x, f);
            }
            f(m);
        }
        Value::Array(a) => {
            for x in a {
                each_object(x, f);
            }
        }
        _ => {}
    }
}

/// The file of an `at` position (`file:line:col`), and the rest.
fn split_at(at: &str) -> Option<(&str, &str)> {
    let (rest, _col) = at.rsplit_once(':')?;
    let (file, _line) = rest.rsplit_once(':')?;
    Some((file, &at[file.len()..]))
}

/// The ids of the registered algorithms a definition names.
fn algorithm_ids(def: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mut def = def.clone();
    each_object(&mut def, &mut |m| {
        let key = match class(m) {
            Some("Algorithm") => "algorithm_id",
            Some("AIGalleryAlgorithm") => "subscription_id",
            _ => return,
        };
        if let Some(id) = m.get(key).and_then(Value::as_str) {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    });
    ids
}

// ---------------------------------------------------------------------------------------
// Publishing

/// The newest registry version's script (as released) and folder.
fn released_source(store: &Store, name: &str) -> Option<String> {
    let shown = registry::show(store, name).ok()?;
    shown["versions"]
        .as_array()?
        .last()?
        .get("source")?
        .as_str()
        .map(str::to_string)
}

impl Publish {
    /// The keywords of `workflow.release_to_gallery(#{ content_id, version, desc, title,
    /// visibility, group_users })` as the script gave them (a keyword left out stays
    /// `None`: a new version then keeps the previous one's visibility and title).
    pub fn from_args(args: &crate::model::val::Obj) -> Publish {
        use crate::model::val::Val;
        let text = |k: &str| args.str_arg(k).map(str::to_string);
        Publish {
            content_id: text("content_id"),
            version: text("version"),
            desc: text("desc"),
            title: text("title"),
            visibility: text("visibility"),
            group_users: args
                .arg("group_users")
                .map(Val::items)
                .unwrap_or_default()
                .iter()
                .filter_map(Val::as_str)
                .map(str::to_string)
                .collect(),
        }
    }
}

/// `workflow.release_to_gallery(...)`: releases `w` into the home's registry (`base_dir`
/// is the folder its relative paths are relative to, `source` its script), then publishes
/// that version. Returns the registry's release and `(asset id, version)`.
pub fn release_and_publish(
    home: &Path,
    gallery: &Path,
    w: &crate::model::workflow::Workflow,
    base_dir: &Path,
    source: Option<&Path>,
    p: &Publish,
) -> std::result::Result<(registry::Released, String, String), String> {
    check(p)?;
    let released = {
        let store = Store::open(home).map_err(|e| e.to_string())?;
        registry::release(&store, w, base_dir, source).map_err(|e| e.to_string())?
    };
    let (id, version) = publish(home, gallery, &w.name, p)?;
    Ok((released, id, version))
}

/// Publishes the released workflow `name` (its latest version, from the home's registry)
/// with the local algorithms it uses; returns `(asset id, version)`.
pub fn publish(
    home: &Path,
    gallery: &Path,
    name: &str,
    p: &Publish,
) -> std::result::Result<(String, String), String> {
    let a = publish_asset(home, gallery, name, p)?;
    Ok((
        a["content_id"].as_str().unwrap_or("").to_string(),
        a["version"].as_str().unwrap_or("").to_string(),
    ))
}

/// `publish`, giving the asset's `asset.json` (with `path`) and errors by kind.
pub fn publish_asset(home: &Path, gallery: &Path, name: &str, p: &Publish) -> Result<Value> {
    check(p)?;
    let user = current_user();
    let store = Store::open(home).map_err(|e| failed(e.to_string()))?;
    let (reg_version, def_text, base_dir) = match registry::latest(&store, name) {
        Ok(l) => l,
        Err(RegistryError::NotFound(_)) => {
            return Err(failed(format!(
                "no released workflow `{name}` in this home: `wf release SCRIPT` releases it first, then it can be published"
            )))
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let source = released_source(&store, name);
    let mut def: Value = serde_json::from_str(&def_text).map_err(|e| {
        failed(format!(
            "the released definition of `{name}` is not JSON: {e}"
        ))
    })?;
    // Without a content_id, every publication is a new asset at 1.0.0 (the manual's §4.9.2):
    // the workflow's name, or the first of `NAME-2`, `NAME-3`, ... that no asset has yet.
    let mut notes: Vec<String> = Vec::new();
    let (content_id, reserved) = match &p.content_id {
        Some(id) => {
            check_content_id(id)?;
            (id.clone(), None)
        }
        None => {
            let (id, dir) = new_asset_id(gallery, name)?;
            if id != name {
                notes.push(format!(
                    "`{name}` is already an asset: this is a new one, `{id}`; give the content_id `{name}` to publish a version of that one instead"
                ));
            }
            (id, Some(dir))
        }
    };
    // The folder reserved for a new asset goes if nothing could be published in it.
    let reserved = Reserved(reserved);

    // The asset's versions so far: only their owner adds one.
    let existing = read_assets(gallery, Some(&content_id))?.assets;
    if let Some(a) = existing.iter().find(|a| a["owner"] != user.as_str()) {
        return Err(failed(format!(
            "the asset `{content_id}` belongs to `{}`; only its owner publishes versions of it (give another content_id)",
            a["owner"].as_str().unwrap_or("?")
        )));
    }
    let latest = existing.last();
    let version = match &p.version {
        Some(v) => {
            if existing.iter().any(|a| a["version"] == v.as_str()) {
                return Err(failed(format!(
                    "the asset `{content_id}` already has version {v}; versions are never replaced: give another version (the newest is {}), or leave it out to publish the next",
                    latest.and_then(|a| a["version"].as_str()).unwrap_or("?")
                )));
            }
            v.clone()
        }
        None => match latest
            .and_then(|a| a["version"].as_str())
            .and_then(|v| parse_version(v).ok())
        {
            Some((x, y, z)) => format!("{x}.{y}.{}", z + 1),
            None => "1.0.0".into(),
        },
    };
    // The first publication sets the whitelist; later ones keep it unless given.
    let visibility = p
        .visibility
        .clone()
        .or_else(|| {
            latest
                .and_then(|a| a["visibility"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "private".into());
    let group: Vec<String> = if visibility != "group" {
        Vec::new()
    } else if !p.group_users.is_empty() || p.visibility.is_some() {
        p.group_users.clone()
    } else {
        latest.map(group_users).unwrap_or_default()
    };
    let title = p
        .title
        .clone()
        .or_else(|| latest.and_then(|a| a["title"].as_str()).map(str::to_string))
        .unwrap_or_else(|| name.to_string());
    let desc = p.desc.clone().unwrap_or_else(|| {
        def.pointer("/workflow/desc")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });

    let parent = workflows_dir(gallery).join(&content_id);
    std::fs::create_dir_all(&parent).map_err(|e| io_err("create", &parent, e))?;
    let stage = Staging::new(&parent, &version, false)?;
    let skip = Skip(
        [home, gallery]
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect(),
    );
    let base = base_dir.canonicalize().unwrap_or(base_dir.clone());
    let files = stage.dir.join("files");
    std::fs::create_dir_all(&files).map_err(|e| io_err("create", &files, e))?;

    // The script and the modules its objects were written in, under files/; positions
    // pointing elsewhere are dropped (they then point at the definition).
    let script = source
        .as_deref()
        .and_then(|s| Path::new(s).file_name())
        .map(|n| base.join(n))
        .filter(|p| p.is_file());
    let mut at_files: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut copies: Vec<(PathBuf, PathBuf)> = Vec::new();
    {
        let mut map_file = |f: &str| -> Option<String> {
            if let Some(known) = at_files.get(f) {
                return known.clone();
            }
            let p = Path::new(f);
            let found = if source.as_deref() == Some(f) {
                script.clone()
            } else {
                [
                    if p.is_absolute() {
                        Some(p.to_path_buf())
                    } else {
                        Some(base.join(p))
                    },
                    p.file_name().map(|n| base.join(n)),
                ]
                .into_iter()
                .flatten()
                .find(|c| c.is_file())
                .and_then(|c| c.canonicalize().ok())
            };
            let rel = found.and_then(|c| {
                let rel = c.strip_prefix(&base).ok()?.to_path_buf();
                copies.push((c.clone(), files.join(&rel)));
                Some(format!("files/{}", rel.to_string_lossy()))
            });
            at_files.insert(f.to_string(), rel.clone());
            rel
        };
        each_object(&mut def, &mut |m| {
            // Only objects have positions: a plain map may hold a key `at` of its own.
            let Some(at) = m
                .get("at")
                .and_then(Value::as_str)
                .filter(|_| m.contains_key("$class"))
                .map(str::to_string)
            else {
                return;
            };
            match split_at(&at).and_then(|(f, rest)| map_file(f).map(|n| n + rest)) {
                Some(new) => {
                    m.insert("at".into(), json!(new));
                }
                None => {
                    m.remove("at");
                }
            }
        });
    }
    for (from, to) in &copies {
        copy_file(from, to)?;
    }

    // Each BaseAlgorithm's code: its code_dir (relative to the workflow's folder, kept so;
    // one elsewhere goes to .wf-external/), or its boot file in the workflow's folder.
    let mut code_dirs: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut problem: Option<GalleryError> = None;
    each_object(&mut def, &mut |m| {
        if class(m) != Some("BaseAlgorithm") || problem.is_some() {
            return;
        }
        match m.get("code_dir") {
            None => {
                if let Some(b) = m.get("boot_file").and_then(Value::as_str) {
                    let from = base.join(b);
                    if from.is_file() {
                        if let Ok(rel) = from
                            .canonicalize()
                            .unwrap_or(from.clone())
                            .strip_prefix(&base)
                        {
                            if let Err(e) = copy_file(&from, &files.join(rel)) {
                                problem = Some(e);
                            }
                        }
                    }
                }
            }
            Some(Value::String(dir)) => {
                let p = Path::new(dir);
                let abs = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base.join(p)
                };
                let Ok(canon) = abs.canonicalize().map_err(|_| ()).and_then(|c| {
                    if c.is_dir() {
                        Ok(c)
                    } else {
                        Err(())
                    }
                }) else {
                    problem = Some(failed(format!(
                        "the code_dir `{dir}` of a BaseAlgorithm is not a folder (looked at `{}`): nothing was published",
                        abs.display()
                    )));
                    return;
                };
                let rel = match code_dirs.get(&canon) {
                    Some(rel) => rel.clone(),
                    None => {
                        let rel = match canon.strip_prefix(&base) {
                            Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
                            Ok(r) => r.to_string_lossy().into_owned(),
                            Err(_) => {
                                let stem = canon
                                    .file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_else(|| "code".into());
                                let mut rel = format!(".wf-external/{stem}");
                                let mut n = 2;
                                while code_dirs.values().any(|r| *r == rel) {
                                    rel = format!(".wf-external/{stem}-{n}");
                                    n += 1;
                                }
                                notes.push(format!(
                                    "the code_dir `{dir}` is outside the workflow's folder: published as `{rel}`"
                                ));
                                rel
                            }
                        };
                        if let Err(e) = copy_tree(&canon, &files.join(&rel), &skip, false) {
                            problem = Some(e);
                            return;
                        }
                        code_dirs.insert(canon.clone(), rel.clone());
                        rel
                    }
                };
                m.insert("code_dir".into(), json!(rel));
            }
            Some(_) => notes.push(
                "a BaseAlgorithm's code_dir is given at run time (a placeholder): its code was not published".into(),
            ),
        }
    });
    if let Some(e) = problem {
        return Err(e);
    }

    // The registered algorithms the workflow names, each with its code.
    let ids = algorithm_ids(&def);
    for id in &ids {
        let reg = store
            .algorithm(id)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| {
                failed(format!(
                    "the workflow `{name}` uses the algorithm `{id}`, which is not registered in this home: `wf algorithm register {id} --code-dir DIR ...` first"
                ))
            })?;
        let dir = stage.dir.join("algorithms").join(safe_name(id));
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        let mut d = reg.clone();
        if let Some(code) = reg.get("code_dir").and_then(Value::as_str) {
            let code = Path::new(code);
            if !code.is_dir() {
                return Err(failed(format!(
                    "the code_dir `{}` of the algorithm `{id}` is not a folder: nothing was published",
                    code.display()
                )));
            }
            copy_tree(code, &dir.join("code"), &skip, false)?;
            d["code_dir"] = json!("code");
        }
        write_json(
            &dir.join("algorithm.json"),
            &json!({ "id": id, "definition": d }),
            false,
        )?;
    }

    write_json(&stage.dir.join("definition.json"), &def, false)?;
    let mut asset = json!({
        "content_id": content_id,
        "version": version,
        "title": title,
        "desc": desc,
        "visibility": visibility,
        "group_users": group,
        "owner": user,
        "workflow": name,
        "workflow_version": reg_version,
        "algorithms": ids,
        "published_at": now(),
    });
    if !notes.is_empty() {
        asset["notes"] = json!(notes);
    }
    write_json(&stage.dir.join("asset.json"), &asset, false)?;
    let dest = parent.join(&version);
    stage.commit_new(&dest).map_err(|e| {
        if dest.exists() {
            failed(format!(
                "the asset `{content_id}` already has version {version} (published meanwhile); give another version"
            ))
        } else {
            io_err("publish to", &dest, e)
        }
    })?;
    asset["path"] = json!(dest.to_string_lossy());
    reserved.keep();
    Ok(asset)
}

/// An asset folder made for a new asset, removed again (when still empty) unless kept.
struct Reserved(Option<PathBuf>);

impl Reserved {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            // Only an empty folder goes: another publisher may have used it meanwhile.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The id of a new asset of the workflow `name`: its name when no asset has it, else the first
/// free `NAME-N`. Its folder is made here, so two publishers at once never take the same id.
fn new_asset_id(gallery: &Path, name: &str) -> Result<(String, PathBuf)> {
    let root = workflows_dir(gallery);
    std::fs::create_dir_all(&root).map_err(|e| io_err("create", &root, e))?;
    // A workflow name is a valid id; a suffix `-N` needs room, so the name is cut for it.
    let stem: String = name.chars().take(56).collect();
    const MOST: u32 = 10_000;
    for n in 1..=MOST {
        let id = if n == 1 {
            name.to_string()
        } else {
            format!("{stem}-{n}")
        };
        check_content_id(&id)?;
        let dir = root.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("create", &dir, e)),
        }
    }
    Err(failed(format!(
        "{MOST} assets are named after `{name}` already: give a content_id"
    )))
}

/// Publishes a model folder as `GALLERY/models/<id>/<version>/`, where
/// `GalleryModel(subscription_id, version_num)` inputs read it.
pub fn publish_model(gallery: &Path, id: &str, version: &str, from: &Path) -> Result<PathBuf> {
    check_content_id(id)?;
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || !version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(usage(format!(
            "the model version `{version}` is not a folder name (letters, digits, `.`, `_`, `-`)"
        )));
    }
    if !from.is_dir() {
        return Err(usage(format!("`{}` is not a folder", from.display())));
    }
    let dest = model_dir(gallery, id, version);
    let parent = dest.parent().unwrap_or(gallery).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(|e| io_err("create", &parent, e))?;
    if dest.exists() {
        return Err(failed(format!(
            "the gallery already has the model `{id}` version `{version}`"
        )));
    }
    let stage = Staging::new(&parent, version, false)?;
    copy_tree(from, &stage.dir, &Skip(Vec::new()), false)?;
    stage.commit_new(&dest).map_err(|e| {
        if dest.exists() {
            failed(format!(
                "the gallery already has the model `{id}` version `{version}`"
            ))
        } else {
            io_err("publish to", &dest, e)
        }
    })?;
    Ok(dest)
}

// ---------------------------------------------------------------------------------------
// The whitelist

/// `wf.add_whitelist_users(content_id, version_num, user_groups)`: the owner adds users to
/// an asset version's whitelist (a private version becomes `group`). Returns `asset.json`.
pub fn add_whitelist_users(
    gallery: &Path,
    content_id: &str,
    version: &str,
    users: &[String],
) -> std::result::Result<Value, String> {
    whitelist(gallery, content_id, version, users, &[]).map_err(String::from)
}

/// `wf.delete_whitelist_users(content_id, version_num, user_groups)`.
pub fn delete_whitelist_users(
    gallery: &Path,
    content_id: &str,
    version: &str,
    users: &[String],
) -> std::result::Result<Value, String> {
    whitelist(gallery, content_id, version, &[], users).map_err(String::from)
}

/// Adds and removes users of an asset version's whitelist; only its owner may.
pub fn whitelist(
    gallery: &Path,
    content_id: &str,
    version: &str,
    add: &[String],
    remove: &[String],
) -> Result<Value> {
    check_content_id(content_id)?;
    parse_version(version).map_err(GalleryError::Usage)?;
    check(&Publish {
        group_users: add.iter().chain(remove).cloned().collect(),
        ..Publish::default()
    })?;
    let dir = workflows_dir(gallery).join(content_id).join(version);
    let file = dir.join("asset.json");
    let text = std::fs::read_to_string(&file).map_err(|_| {
        failed(format!(
            "the gallery `{}` has no asset `{content_id}` version {version}",
            gallery.display()
        ))
    })?;
    let mut a: Value = serde_json::from_str(&text)
        .map_err(|e| failed(format!("`{}` is not JSON: {e}", file.display())))?;
    let user = current_user();
    if a["owner"] != user.as_str() {
        return Err(failed(format!(
            "the asset `{content_id}` {version} belongs to `{}`: only its owner changes its whitelist",
            a["owner"].as_str().unwrap_or("?")
        )));
    }
    let mut users = group_users(&a);
    for u in add {
        if !users.contains(u) {
            users.push(u.clone());
        }
    }
    users.retain(|u| !remove.contains(u));
    if !add.is_empty() && a["visibility"] == "private" {
        a["visibility"] = json!("group");
    }
    a["group_users"] = json!(users);
    replace_json(&file, &a)?;
    a["path"] = json!(dir.to_string_lossy());
    Ok(a)
}

// ---------------------------------------------------------------------------------------
// Subscribing

/// How `subscribe` imports an asset.
#[derive(Debug, Clone, Default)]
pub struct Subscribe {
    /// Release it under this name instead of the workflow's.
    pub name: Option<String>,
    /// Register the asset's algorithms even over ones this home registered otherwise.
    pub replace: bool,
}

/// Imports the asset `NAME[@VERSION]` into the home: registers its algorithms (their code
/// copied to `HOME/algorithms/<id>/`) and releases its definition (its files copied to
/// `HOME/subscriptions/<content_id>/<version>/`, the released version's folder).
/// Returns what was done, as JSON.
pub fn subscribe(home: &Path, gallery: &Path, spec: &str, s: &Subscribe) -> Result<Value> {
    let user = current_user();
    // `find` takes only folders whose asset.json names them (its `content_id` and
    // `version` are names, never paths).
    let asset = find(gallery, spec, &user)?;
    let id = asset["content_id"].as_str().unwrap_or("").to_string();
    let version = asset["version"].as_str().unwrap_or("").to_string();
    let dir = PathBuf::from(asset["path"].as_str().unwrap_or(""));
    if let Some(n) = &s.name {
        let ok = n.len() <= 64
            && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            return Err(usage(format!(
                "`{n}` is not a workflow name (`^[A-Za-z][A-Za-z0-9_-]{{0,63}}$`)"
            )));
        }
    }
    // Everything the asset holds is checked before anything is written.
    check_tree(&dir, &format!("`{id}` {version}"))?;
    let def_file = dir.join("definition.json");
    let def_text = std::fs::read_to_string(&def_file).map_err(|e| io_err("read", &def_file, e))?;
    let mut def: Value = serde_json::from_str(&def_text)
        .map_err(|e| failed(format!("`{}` is not JSON: {e}", def_file.display())))?;
    let refuse = |why: String| failed(format!("the asset `{id}` {version} is refused: {why}"));

    // Where it goes: inside the home, whatever the asset says.
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let subs_root = home.join("subscriptions");
    let subs = subs_root.join(&id);
    let target = subs.join(&version);
    if !under(&subs_root, &target) {
        return Err(refuse(format!(
            "its `content_id` `{id}` and `version` `{version}` would put it at `{}`, outside `{}`",
            target.display(),
            subs_root.display()
        )));
    }
    let algos_root = home.join("algorithms");

    // The workflow's own code folders are in its files, as publishing puts them.
    let mut problem: Option<GalleryError> = None;
    each_object(&mut def, &mut |m| {
        if class(m) != Some("BaseAlgorithm") || problem.is_some() {
            return;
        }
        if let Some(Value::String(d)) = m.get("code_dir") {
            if !stays_inside(d) {
                problem = Some(refuse(format!(
                    "its workflow's BaseAlgorithm names the `code_dir` `{d}`, which is not a folder of the asset's files"
                )));
            }
        }
    });
    // Positions point at the copied files, so that a definition exported from the home
    // runs from its folder.
    let files = target.join("files");
    each_object(&mut def, &mut |m| {
        // Only objects have positions: a plain map may hold a key `at` of its own.
        let Some(at) = m
            .get("at")
            .and_then(Value::as_str)
            .filter(|_| m.contains_key("$class"))
            .map(str::to_string)
        else {
            return;
        };
        match split_at(&at).and_then(|(f, rest)| f.strip_prefix("files/").map(|r| (r, rest))) {
            Some((rel, _)) if !stays_inside(rel) => {
                if problem.is_none() {
                    problem = Some(refuse(format!(
                        "its definition's position `at` `{at}` is not in the asset's files"
                    )));
                }
            }
            Some((rel, rest)) => {
                m.insert(
                    "at".into(),
                    json!(format!("{}{rest}", files.join(rel).to_string_lossy())),
                );
            }
            None => {
                m.remove("at");
            }
        }
    });
    if let Some(e) = problem {
        return Err(e);
    }
    let name = match &s.name {
        Some(n) => {
            def["name"] = json!(n);
            if let Some(w) = def.get_mut("workflow").and_then(Value::as_object_mut) {
                w.insert("name".into(), json!(n));
            }
            n.clone()
        }
        None => def["name"]
            .as_str()
            .or(asset["workflow"].as_str())
            .unwrap_or("")
            .to_string(),
    };
    let text = serde_json::to_string_pretty(&def).unwrap_or_default();
    let file: Arc<str> = target.join("definition.json").to_string_lossy().into();
    let (obj, diags) = definition::from_json(&text, &file);
    let mut errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    let w = obj.map(|o| {
        let (w, more) = validate(&o);
        errors.extend(
            more.iter()
                .filter(|d| d.is_error())
                .map(|d| d.message.clone()),
        );
        w
    });
    let Some(w) = w.filter(|_| errors.is_empty()) else {
        return Err(failed(format!(
            "the asset `{id}` {version} holds a workflow this wf cannot read: {}",
            if errors.is_empty() {
                "no workflow".to_string()
            } else {
                errors.join("; ")
            }
        )));
    };

    // Its algorithms: each one its workflow names, each going to its own folder.
    let algos = read_algorithms(&dir)?;
    let named = algorithm_ids(&def);
    for (aid, _, _) in &algos {
        if !named.contains(aid) {
            return Err(refuse(format!(
                "it holds the algorithm `{aid}`, which its workflow does not name"
            )));
        }
        let dest = algos_root.join(safe_name(aid));
        if !under(&algos_root, &dest) {
            return Err(refuse(format!(
                "its algorithm `{aid}` would go to `{}`, outside `{}`",
                dest.display(),
                algos_root.display()
            )));
        }
    }

    let store = Store::open(&home).map_err(|e| failed(e.to_string()))?;

    // Decide for every algorithm before changing anything.
    let mut plan: Vec<(String, Value, PathBuf, bool)> = Vec::new();
    for (aid, d, from) in &algos {
        let dest = algos_root.join(safe_name(aid));
        let install = match store.algorithm(aid).map_err(|e| failed(e.to_string()))? {
            None => true,
            Some(have) => {
                let have_dir = have["code_dir"].as_str().map(PathBuf::from);
                if have_dir.as_deref() == Some(dest.as_path()) || s.replace {
                    true
                } else if same_algorithm(&have, d, &from.join("code")) {
                    false
                } else {
                    return Err(failed(format!(
                        "the algorithm `{aid}` is already registered in this home with other code (`{}`); `wf gallery subscribe {spec} --replace` registers the asset's instead",
                        have_dir.map(|p| p.display().to_string()).unwrap_or_default()
                    )));
                }
            }
        };
        plan.push((aid.clone(), d.clone(), from.clone(), install));
    }

    // The workflow's files, into the home.
    private_dir(&subs).map_err(|e| io_err("create", &subs, e))?;
    let stage = Staging::new(&subs, &version, true)?;
    if dir.join("files").is_dir() {
        copy_asset_tree(&dir.join("files"), &stage.dir.join("files"))?;
    } else {
        private_dir(&stage.dir.join("files"))
            .map_err(|e| io_err("create", &stage.dir.join("files"), e))?;
    }
    crate::store::private_write(&stage.dir.join("definition.json"), (text + "\n").as_bytes())
        .map_err(|e| io_err("write", &stage.dir.join("definition.json"), e))?;
    let mut a = asset.clone();
    if let Some(m) = a.as_object_mut() {
        m.remove("path");
        m.insert("gallery".into(), json!(gallery.to_string_lossy()));
        m.insert("subscribed_at".into(), json!(now()));
        m.insert("subscribed_by".into(), json!(user));
    }
    write_json(&stage.dir.join("asset.json"), &a, true)?;

    // The algorithms' code, copied aside first: a refused file leaves nothing registered.
    let mut staged_code = Vec::new();
    for (aid, _, from, install) in &plan {
        if *install && from.join("code").is_dir() {
            private_dir(&algos_root).map_err(|e| io_err("create", &algos_root, e))?;
            let st = Staging::new(&algos_root, &safe_name(aid), true)?;
            copy_asset_tree(&from.join("code"), &st.dir)?;
            staged_code.push((aid.clone(), st));
        }
    }

    // The algorithms, then the files, then the release: a failure leaves what was
    // registered usable.
    let mut registered = Vec::new();
    for (aid, d, _, install) in &plan {
        if !*install {
            registered.push(json!({ "id": aid, "registered": false }));
            continue;
        }
        let dest = algos_root.join(safe_name(aid));
        let mut d = d.clone();
        if let Some(i) = staged_code.iter().position(|(x, _)| x == aid) {
            let (_, st) = staged_code.swap_remove(i);
            st.commit_replace(&dest)?;
            d["code_dir"] = json!(dest.to_string_lossy());
        }
        store
            .put_algorithm(aid, &d)
            .map_err(|e| failed(e.to_string()))?;
        registered.push(json!({ "id": aid, "registered": true, "code_dir": d["code_dir"] }));
    }
    stage.commit_replace(&target)?;
    let script = std::fs::read_dir(&files).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.is_file() && p.extension().is_some_and(|e| e == "rhai"))
    });
    let script = w
        .obj
        .at
        .is_known()
        .then(|| PathBuf::from(&*w.obj.at.file))
        .filter(|p| p.is_file())
        .or(script);
    let released = registry::release(&store, &w, &files, script.as_deref())
        .map_err(|e| failed(e.to_string()))?;
    Ok(json!({
        "content_id": id,
        "version": version,
        "workflow": name,
        "released_version": released.version,
        "new": released.new,
        "algorithms": registered,
        "path": target.to_string_lossy(),
    }))
}

/// Whether a registered algorithm is the asset's: the same definition but for where its
/// code is, and the same files.
fn same_algorithm(have: &Value, asset_def: &Value, asset_code: &Path) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("code_dir");
        }
        v
    };
    if strip(have) != strip(asset_def) {
        return false;
    }
    match have["code_dir"].as_str() {
        Some(d) => tree_digest(Path::new(d)) == tree_digest(asset_code),
        None => !asset_code.exists(),
    }
}

/// A digest of a folder's files (relative paths and contents).
fn tree_digest(dir: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut entries: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            !e.file_name()
                .to_str()
                .is_some_and(|n| n == ".git" || n == "__pycache__")
        })
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    entries.sort();
    if entries.is_empty() && !dir.is_dir() {
        return None;
    }
    for p in entries {
        let rel = p.strip_prefix(dir).ok()?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&p).ok()?);
        h.update([0]);
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.0.0"), Ok((1, 0, 0)));
        assert_eq!(parse_version("10.20.3"), Ok((10, 20, 3)));
        for bad in ["1.0", "1.0.0.0", "a.b.c", "1..0", "01.0.0", "1.0.-1", ""] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
        assert_eq!(version_cmp("1.0.10", "1.0.9"), Ordering::Greater);
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

    /// What `workflow.release_to_gallery(...)` calls: a release, then a publication.
    #[test]
    fn release_and_publish_makes_an_asset_or_a_version_of_the_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("flow.rhai");
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
        let checked = crate::cli::load::load_and_check(
            &script,
            &crate::script::engine::LoadOptions::default(),
        );
        assert_eq!(checked.errors(), 0, "{:?}", checked.diags);
        let w = checked.workflow.unwrap();
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
}
