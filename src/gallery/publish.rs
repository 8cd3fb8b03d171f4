//! Publishing: a released workflow (with its files and local algorithms) as an asset
//! version, a model folder, and the whitelist of a version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::access::{current_user, group_users};
use super::assets::read_assets;
use super::files::{copy_file, copy_tree, replace_json, write_json, Skip, Staging};
use super::names::{check_content_id, parse_version, safe_name};
use super::objects::{algorithm_ids, class, each_object, each_position, split_at};
use super::{
    conflict, denied, failed, io_err, model_dir, not_found, usage, workflows_dir, GalleryError,
    Result,
};
use crate::registry::{self, RegistryError};
use crate::store::{now, Store};

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

// ---------------------------------------------------------------------------------------
// Publishing

/// The values of a publication that cannot be right whatever the gallery holds.
pub fn check(p: &Publish) -> Result<()> {
    if let Some(id) = &p.content_id {
        check_content_id(id)?;
    }
    if let Some(v) = &p.version {
        parse_version(v)?;
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

/// The newest registry version's script (as released) and folder.
pub(super) fn released_source(store: &Store, name: &str) -> Option<String> {
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
) -> Result<(registry::Released, String, String)> {
    check(p)?;
    let released = {
        let store = Store::open(home).map_err(|e| failed(e.to_string()))?;
        registry::release(&store, w, base_dir, source).map_err(|e| failed(e.to_string()))?
    };
    let (id, version) = publish(home, gallery, &w.name, p)?;
    Ok((released, id, version))
}

/// Publishes the released workflow `name` (its latest version, from the home's registry)
/// with the local algorithms it uses; returns `(asset id, version)`.
pub fn publish(home: &Path, gallery: &Path, name: &str, p: &Publish) -> Result<(String, String)> {
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
            return Err(not_found(format!(
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
        return Err(denied(format!(
            "the asset `{content_id}` belongs to `{}`; only its owner publishes versions of it (give another content_id)",
            a["owner"].as_str().unwrap_or("?")
        )));
    }
    let latest = existing.last();
    let version = match &p.version {
        Some(v) => {
            if existing.iter().any(|a| a["version"] == v.as_str()) {
                return Err(conflict(format!(
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
        each_position(&mut def, &mut |m, at| match split_at(&at)
            .and_then(|(f, rest)| map_file(f).map(|n| n + rest))
        {
            Some(new) => {
                m.insert("at".into(), json!(new));
            }
            None => {
                m.remove("at");
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
                not_found(format!(
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
            conflict(format!(
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
pub(super) struct Reserved(Option<PathBuf>);

impl Reserved {
    pub(super) fn keep(mut self) {
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
pub(super) fn new_asset_id(gallery: &Path, name: &str) -> Result<(String, PathBuf)> {
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
    Err(conflict(format!(
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
        return Err(conflict(format!(
            "the gallery already has the model `{id}` version `{version}`"
        )));
    }
    let stage = Staging::new(&parent, version, false)?;
    copy_tree(from, &stage.dir, &Skip(Vec::new()), false)?;
    stage.commit_new(&dest).map_err(|e| {
        if dest.exists() {
            conflict(format!(
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
) -> Result<Value> {
    whitelist(gallery, content_id, version, users, &[])
}

/// `wf.delete_whitelist_users(content_id, version_num, user_groups)`.
pub fn delete_whitelist_users(
    gallery: &Path,
    content_id: &str,
    version: &str,
    users: &[String],
) -> Result<Value> {
    whitelist(gallery, content_id, version, &[], users)
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
    parse_version(version)?;
    check(&Publish {
        group_users: add.iter().chain(remove).cloned().collect(),
        ..Publish::default()
    })?;
    let dir = workflows_dir(gallery).join(content_id).join(version);
    let file = dir.join("asset.json");
    let text = std::fs::read_to_string(&file).map_err(|_| {
        not_found(format!(
            "the gallery `{}` has no asset `{content_id}` version {version}",
            gallery.display()
        ))
    })?;
    let mut a: Value = serde_json::from_str(&text)
        .map_err(|e| failed(format!("`{}` is not JSON: {e}", file.display())))?;
    let user = current_user();
    if a["owner"] != user.as_str() {
        return Err(denied(format!(
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
