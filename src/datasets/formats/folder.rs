//! The folder read: its files in a stable order, and a sample's label file found beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{malformed, FormatError, Result};

/// A file under the folder read.
pub(super) struct Entry {
    /// Relative to the folder, with `/`.
    pub(super) rel: String,
    pub(super) path: PathBuf,
    /// The folder part of `rel` (`""` at the top).
    pub(super) parent: String,
    pub(super) stem: String,
    /// Lower-case, without the dot; `""` when there is none.
    pub(super) ext: String,
}

impl Entry {
    /// The sub-folder of the folder read that holds the file (`cat` for `cat/x/1.jpg`).
    pub(super) fn top_folder(&self) -> Option<&str> {
        self.rel.split_once('/').map(|(top, _)| top)
    }
}

/// Files by (folder, stem, lower-case ext), to find a sample's label file beside it.
pub(super) struct Index<'a> {
    by_key: HashMap<(&'a str, &'a str, &'a str), &'a Entry>,
}

impl<'a> Index<'a> {
    pub(super) fn new(entries: &'a [Entry]) -> Index<'a> {
        let mut by_key = HashMap::new();
        for e in entries {
            // Sorted entries: the first of `a.txt` / `a.TXT` wins, stably.
            by_key
                .entry((e.parent.as_str(), e.stem.as_str(), e.ext.as_str()))
                .or_insert(e);
        }
        Index { by_key }
    }
    /// The file `stem.ext` in the same folder as `e`.
    pub(super) fn sibling(&self, e: &Entry, stem: &str, ext: &str) -> Option<&'a Entry> {
        self.by_key.get(&(e.parent.as_str(), stem, ext)).copied()
    }
    pub(super) fn top(&self, stem: &str, ext: &str) -> Option<&'a Entry> {
        self.by_key.get(&("", stem, ext)).copied()
    }
}

pub(super) fn walk(dir: &Path) -> Result<Vec<Entry>> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(malformed(format!(
                "{}: expected a folder, found a file",
                dir.display()
            )))
        }
        Err(e) => {
            return Err(FormatError::io(
                dir,
                format!("{}: cannot read the folder", dir.display()),
                e,
            ))
        }
    }
    let walker = WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(dir).to_path_buf();
            let doing = format!("{}: cannot read", at.display());
            FormatError::io(&at, doing, std::io::Error::other(e))
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let ft = entry.file_type();
        if ft.is_symlink() {
            // Followed only when it points to a file.
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_file() => {}
                _ => continue,
            }
        } else if !ft.is_file() {
            continue;
        }
        let path = entry.path().to_path_buf();
        let rel_path = path.strip_prefix(dir).unwrap_or(&path);
        let parts: Vec<String> = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let rel = parts.join("/");
        let file_name = parts.last().cloned().unwrap_or_default();
        let parent = parts[..parts.len().saturating_sub(1)].join("/");
        let (stem, ext) = match file_name.rfind('.') {
            Some(i) if i > 0 => (
                file_name[..i].to_string(),
                file_name[i + 1..].to_ascii_lowercase(),
            ),
            _ => (file_name.clone(), String::new()),
        };
        out.push(Entry {
            rel,
            path,
            parent,
            stem,
            ext,
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// A key under which two paths to the same file compare equal.
pub(super) fn same_file_key(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| lexical_normal(p))
}

pub(super) fn lexical_normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
