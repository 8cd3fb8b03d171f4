//! Versions `x.y.z`, asset ids and `NAME[@VERSION]` specs.

use std::cmp::Ordering;

use super::{usage, Result};

/// A version `x.y.z`: three whole numbers without leading zeros (semantic versioning's
/// core, without a pre-release or build part).
pub fn parse_version(text: &str) -> Result<(u64, u64, u64)> {
    semver::Version::parse(text)
        .ok()
        .filter(|v| v.pre.is_empty() && v.build.is_empty())
        .map(|v| (v.major, v.minor, v.patch))
        .ok_or_else(|| {
            usage(format!(
                "the version `{text}` is not `x.y.z`: three whole numbers joined by dots, such as `1.0.0`"
            ))
        })
}

/// Orders versions as numbers (`1.0.10` after `1.0.9`); a name that is no version comes
/// before every version.
pub(super) fn version_cmp(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// An asset id is a folder name of the gallery.
pub(super) fn check_content_id(id: &str) -> Result<()> {
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

/// `NAME[@VERSION]`.
pub fn parse_spec(spec: &str) -> Result<(String, Option<String>)> {
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    check_content_id(name)?;
    if let Some(v) = version {
        parse_version(v)?;
    }
    Ok((name.to_string(), version.map(str::to_string)))
}

/// A folder name for an algorithm id (ids may hold any character).
pub(super) fn safe_name(id: &str) -> String {
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
