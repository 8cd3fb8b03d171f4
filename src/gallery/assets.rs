//! Reading the gallery: every asset version, checked as `publish` writes it; listing,
//! finding and showing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::access::{check_tree, current_user, may_see, refusal};
use super::names::{check_content_id, parse_spec, parse_version, safe_name, version_cmp};
use super::{failed, io_err, not_found, refused, workflows_dir, Result};

/// What reading the gallery found: the asset versions, each `asset.json` with `path`
/// added (sorted by id, then version), and the folders refused as assets, each with why.
pub(super) struct Read {
    pub(super) assets: Vec<Value>,
    pub(super) refused: Vec<Refused>,
}

/// A folder of `workflows/` that is not an asset version as `publish` writes one.
pub(super) struct Refused {
    /// The version's folder name (empty when the asset's folder itself was refused).
    pub(super) version: String,
    /// What is wrong, naming the folder, the field and its value.
    pub(super) why: String,
}

/// Every version of every asset (or of one). Every name is checked as `publish` makes it:
/// an asset's `content_id` and `version` are its folders' names, and neither folder is a
/// link, so nothing read from an asset takes a path out of the gallery.
pub(super) fn read_assets(gallery: &Path, only: Option<&str>) -> Result<Read> {
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
pub(super) fn read_version(id: &str, version: &str, dir: &Path) -> Result<Value> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| refused(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(refused(
            "it is a link: an asset version is a folder of the gallery",
        ));
    }
    if !meta.is_dir() {
        return Err(refused("it is not a folder"));
    }
    parse_version(version).map_err(|e| refused(format!("its folder's name: {e}")))?;
    let file = dir.join("asset.json");
    match std::fs::symlink_metadata(&file) {
        Ok(m) if m.file_type().is_symlink() => return Err(refused("its asset.json is a link")),
        Ok(m) if !m.is_file() => return Err(refused("its asset.json is not a file")),
        Ok(_) => {}
        Err(e) => return Err(refused(format!("it has no asset.json ({e})"))),
    }
    let text =
        std::fs::read_to_string(&file).map_err(|e| refused(format!("its asset.json: {e}")))?;
    let a: Value = serde_json::from_str(&text)
        .map_err(|e| refused(format!("its asset.json is not JSON: {e}")))?;
    if !a.is_object() {
        return Err(refused("its asset.json is not a JSON object"));
    }
    for (field, folder) in [("content_id", id), ("version", version)] {
        let value = match &a[field] {
            Value::String(v) => v.as_str(),
            Value::Null => return Err(refused(format!("its asset.json has no `{field}`"))),
            other => {
                return Err(refused(format!(
                    "its asset.json's `{field}` is `{other}`, not the folder's name `{folder}`"
                )))
            }
        };
        if value != folder {
            return Err(refused(format!(
                "its asset.json's `{field}` is `{value}`, not the folder's name `{folder}`"
            )));
        }
    }
    Ok(a)
}

pub(super) fn hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// The assets the current user may see, the newest such version of each, with
/// `versions` (every version they may see). For `wf gallery list`.
pub fn list(gallery: &Path) -> Result<Vec<Value>> {
    list_for(gallery, &current_user())
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
        refused: bad,
    } = read_assets(gallery, Some(&id))?;
    // A version that is not what publishing writes is refused, never read; without a
    // version, which is the newest cannot be told while one is refused.
    if let Some(r) = bad
        .iter()
        .find(|r| r.version.is_empty() || version.as_ref().is_none_or(|v| *v == r.version))
    {
        let others = if version.is_none() && !all.is_empty() {
            format!("; `{id}@X.Y.Z` names one of its other versions")
        } else {
            String::new()
        };
        return Err(refused(format!(
            "the asset `{id}` is refused: {}{others}",
            r.why
        )));
    }
    if all.is_empty() {
        return Err(not_found(format!(
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
                    not_found(format!(
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
pub(super) fn read_algorithms(asset_dir: &Path) -> Result<Vec<(String, Value, PathBuf)>> {
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
            refused(format!(
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
