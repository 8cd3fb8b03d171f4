//! Who may see an asset version, and reading an asset safely: paths that stay inside a
//! folder, trees that hold only files and folders, copies into the home that follow no link.

use std::path::Path;

use serde_json::Value;

use super::{denied, failed, io_err, refused, GalleryError, Result};
use crate::store::private_dir;

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

pub(super) fn group_users(asset: &Value) -> Vec<String> {
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
pub(super) fn who_may(asset: &Value) -> String {
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

pub(super) fn refusal(asset: &Value, user: &str) -> GalleryError {
    let vis = asset["visibility"].as_str().unwrap_or("private");
    denied(format!(
        "the asset `{}` {} is {vis}: {} may use it, not `{user}`; its owner can add you with `wf gallery whitelist {}@{} --add {user}`",
        asset["content_id"].as_str().unwrap_or("?"),
        asset["version"].as_str().unwrap_or("?"),
        who_may(asset),
        asset["content_id"].as_str().unwrap_or("?"),
        asset["version"].as_str().unwrap_or("?"),
    ))
}

/// A path relative to a folder that stays in it: plain names (and `.`), no `..`, not
/// absolute.
pub(super) fn stays_inside(rel: &str) -> bool {
    use std::path::Component;
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Whether `path` is `root` followed by plain names only.
pub(super) fn under(root: &Path, path: &Path) -> bool {
    use std::path::Component;
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components().count() > 0 && rel.components().all(|c| matches!(c, Component::Normal(_)))
    })
}

/// What a file of an asset is, in words, when it is neither a file nor a folder.
pub(super) fn kind(ft: &std::fs::FileType) -> &'static str {
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
pub(super) fn check_tree(dir: &Path, what: &str) -> Result<()> {
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
        return Err(refused(format!(
            "the asset {what} is refused: `{}` is {}{target}; an asset holds only files and folders, and nothing was read from it",
            rel.display(),
            kind(&ft),
        )));
    }
    Ok(())
}

/// Copies an asset's folder into the home, private to its owner, following no link:
/// anything but a file or a folder (one put there since the asset was checked) is
/// refused, and each file is opened without following a link and written as a new file.
pub(super) fn copy_asset_tree(from: &Path, to: &Path) -> Result<()> {
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
            return Err(refused(format!(
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
            return Err(refused(format!(
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
pub(super) fn copy_regular(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(from)
        .map_err(|e| io_err("copy", from, e))?;
    let meta = src.metadata().map_err(|e| io_err("copy", from, e))?;
    if !meta.is_file() {
        return Err(refused(format!(
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
