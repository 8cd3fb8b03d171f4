//! What the readers share: a sample found in the folder, labels made from names, a label
//! file read as text and labels one a line.

use std::path::Path;

use super::folder::Entry;
use super::{malformed, Annotation, Content, FormatError, Found, Result};

/// A file of the folder as a sample, with its labels.
pub(super) fn file_sample(e: &Entry, annotations: Option<Vec<Annotation>>) -> Found {
    Found {
        content: Content::File(e.path.clone()),
        name: e.rel.clone(),
        annotations,
        usage: String::new(),
    }
}

/// `None` for no annotations: an unlabelled sample.
pub(super) fn non_empty(anns: Vec<Annotation>) -> Option<Vec<Annotation>> {
    if anns.is_empty() {
        None
    } else {
        Some(anns)
    }
}

/// A label of `kind` a person gave.
pub(super) fn label(name: String, kind: &str) -> Annotation {
    Annotation {
        name,
        kind: kind.to_string(),
        annotated_by: "human".to_string(),
        loc: None,
        property: None,
        hard: false,
    }
}

/// Label names as annotations of `kind`; `None` for none.
pub(super) fn classification(labels: Vec<String>, kind: &str) -> Option<Vec<Annotation>> {
    non_empty(labels.into_iter().map(|l| label(l, kind)).collect())
}

/// A label file as text; not UTF-8 is an error naming it.
pub(super) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| FormatError::io(path, format!("{}: cannot read", path.display()), e))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        malformed(format!(
            "{}: expected UTF-8 text, but byte {} is not",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Labels one per line (and, with `sep`, also separated by it): trimmed, blanks ignored,
/// each once.
pub(super) fn lines_labels(text: &str, sep: Option<char>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = match sep {
            Some(c) => line.split(c).collect(),
            None => vec![line],
        };
        for p in parts {
            let p = p.trim();
            if !p.is_empty() && !out.iter().any(|l| l == p) {
                out.push(p.to_string());
            }
        }
    }
    out
}
