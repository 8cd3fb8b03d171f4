//! The gallery (CONTRACT §8, the manual's §4.9.2): released workflows published as
//! versioned assets in a folder, with their local algorithms, and subscribed from it.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The gallery folder: `--gallery DIR`, else `$WF_GALLERY`, else `HOME/gallery`.
pub fn gallery_dir(home: &Path, flag: Option<&Path>) -> PathBuf {
    if let Some(f) = flag {
        return f.to_path_buf();
    }
    match std::env::var_os("WF_GALLERY").filter(|g| !g.is_empty()) {
        Some(g) => PathBuf::from(g),
        None => home.join("gallery"),
    }
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

/// Publishes the released workflow `name` (its latest version, from the home's registry)
/// with the local algorithms it uses; returns `(asset id, version)`.
pub fn publish(
    _home: &Path,
    _gallery: &Path,
    _name: &str,
    _p: &Publish,
) -> Result<(String, String), String> {
    Err("publishing to the gallery is not built yet".into())
}

/// The gallery's assets (for `wf gallery list`).
pub fn list(_gallery: &Path) -> Result<Vec<Value>, String> {
    Ok(Vec::new())
}
