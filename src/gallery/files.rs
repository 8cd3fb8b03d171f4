//! Copying folders and files, writing JSON, and folders built aside then put in place.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{failed, io_err, Result};
use crate::store::private_dir;

/// What `copy_tree` leaves out: the home and the gallery (a workflow folder may hold
/// them), version control and caches.
pub(super) struct Skip(pub(super) Vec<PathBuf>);

impl Skip {
    pub(super) fn skips(&self, p: &Path) -> bool {
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
pub(super) fn copy_tree(from: &Path, to: &Path, skip: &Skip, private: bool) -> Result<()> {
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

/// Copies a file, keeping only whether it is executable: private to the owner in the
/// home; in the gallery, as the umask makes new files (a teammate reads what a
/// publisher's private copy would hide).
pub(super) fn copy_one(from: &Path, to: &Path, private: bool) -> Result<()> {
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
pub(super) fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

pub(super) fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
    }
    copy_one(from, to, false)
}

pub(super) fn write_json(path: &Path, v: &Value, private: bool) -> Result<()> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    if private {
        crate::store::private_write(path, text.as_bytes())
    } else {
        std::fs::write(path, text)
    }
    .map_err(|e| io_err("write", path, e))
}

/// Writes a JSON file in place atomically (written aside, then renamed).
pub(super) fn replace_json(path: &Path, v: &Value) -> Result<()> {
    let tmp = path.with_file_name(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    write_json(&tmp, v, false)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err("write", path, e)
    })
}

/// A folder being built; removed unless it was put in place.
pub(super) struct Staging {
    pub(super) dir: PathBuf,
    done: bool,
}

impl Staging {
    pub(super) fn new(parent: &Path, what: &str, private: bool) -> Result<Staging> {
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
    pub(super) fn commit_new(mut self, dest: &Path) -> std::io::Result<()> {
        if dest.exists() {
            return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        }
        std::fs::rename(&self.dir, dest)?;
        self.done = true;
        Ok(())
    }

    /// Puts the folder at `dest`, replacing what was there.
    pub(super) fn commit_replace(mut self, dest: &Path) -> Result<()> {
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
