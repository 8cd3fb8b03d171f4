//! Subscribing: importing an asset version into the home, its algorithms registered and
//! its workflow released.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::access::{check_tree, copy_asset_tree, current_user, stays_inside, under};
use super::assets::{find, read_algorithms};
use super::files::{write_json, Staging};
use super::names::safe_name;
use super::objects::{algorithm_ids, class, each_object, each_position, split_at};
use super::{conflict, failed, io_err, refused, usage, GalleryError, Result};
use crate::model::validate::validate;
use crate::registry;
use crate::store::{now, private_dir, Store};

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
    let refuse = |why: String| refused(format!("the asset `{id}` {version} is refused: {why}"));

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
    each_position(&mut def, &mut |m, at| match split_at(&at)
        .and_then(|(f, rest)| f.strip_prefix("files/").map(|r| (r, rest)))
    {
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
    let (obj, diags) = crate::loader::read_definition(&text, &file);
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
        return Err(refused(format!(
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
                    return Err(conflict(format!(
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
pub(super) fn same_algorithm(have: &Value, asset_def: &Value, asset_code: &Path) -> bool {
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
pub(super) fn tree_digest(dir: &Path) -> Option<String> {
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
