//! ModelArts' manifest: JSON lines, one sample a line, with its `source`, `usage` and
//! `annotation` items (read, and written back by [`manifest_line`]).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::labels::{non_empty, read_text};
use super::{
    malformed, Annotation, Content, FormatError, Found, Result, KIND_IMAGE_CLASSIFICATION,
};

/// The property key ModelArts marks a hard example with.
pub(super) const HARD_KEY: &str = "@modelarts:hard";

/// Reads a manifest (JSON lines, blank lines ignored); `source` paths are relative to the
/// manifest's folder unless absolute; `obs://` sources are refused with a clear error
/// unless `obs_root` maps them (`obs://b/k` → `obs_root/b/k`). An error names the line.
pub fn read_manifest(file: &Path, obs_root: Option<&Path>) -> Result<Vec<Found>> {
    let text = read_text(file)?;
    let base = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", file.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| {
            malformed(format!(
                "{at}: expected a JSON object (one sample a line), got invalid JSON: {e}"
            ))
        })?;
        let obj = v.as_object().ok_or_else(|| {
            malformed(format!("{at}: expected a JSON object (one sample a line)"))
        })?;
        let source = match obj.get("source") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
            Some(Value::String(_)) => return Err(malformed(format!("{at}: `source` is empty"))),
            Some(_) => return Err(malformed(format!("{at}: `source` must be a string path"))),
            None => return Err(malformed(format!("{at}: no `source` (the sample's path)"))),
        };
        let usage = match obj.get("usage") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(u)) => normal_usage(u).ok_or_else(|| {
                malformed(format!("{at}: usage `{u}` is not TRAIN, EVAL or empty"))
            })?,
            Some(other) => {
                return Err(malformed(format!(
                    "{at}: usage {other} is not TRAIN, EVAL or empty"
                )))
            }
        };
        let line_hard = match obj.get("hard") {
            None | Some(Value::Null) => false,
            Some(h) => parse_hard(h).ok_or_else(|| {
                malformed(format!(
                    "{at}: `hard` is {h}; expected true/false or \"true\"/\"false\""
                ))
            })?,
        };
        let mut anns = match obj.get("annotation") {
            None | Some(Value::Null) => Vec::new(),
            Some(a) => annotations_with_hard_keys(a).map_err(|e| e.at(&at))?,
        };
        // A hard flag on the annotations governs; without one, the line's applies to all.
        let any_key = anns.iter().any(|(_, has_key)| *has_key);
        if !any_key && line_hard {
            for (a, _) in anns.iter_mut() {
                a.hard = true;
            }
        }
        let annotations: Vec<Annotation> = anns.into_iter().map(|(a, _)| a).collect();

        let path = resolve_source(source, &base, obs_root).map_err(|e| e.at(&at))?;
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(malformed(format!(
                    "{at}: source `{source}` is not a file ({})",
                    path.display()
                )))
            }
            Err(e) => {
                let doing = format!(
                    "{at}: source `{source}` cannot be read ({})",
                    path.display()
                );
                return Err(FormatError::io(&path, doing, e));
            }
        }
        let name = source.strip_prefix("./").unwrap_or(source).to_string();
        found.push(Found {
            content: Content::File(path),
            name,
            annotations: non_empty(annotations),
            usage,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// One manifest line for a sample (the inverse of [`read_manifest`]'s reading), with
/// `source` as given.
pub fn manifest_line(source: &str, usage: &str, annotations: Option<&[Annotation]>) -> Value {
    let anns = annotations.unwrap_or(&[]);
    let mut m = Map::new();
    m.insert("source".into(), Value::String(source.to_string()));
    m.insert("usage".into(), Value::String(usage.to_string()));
    m.insert(
        "annotation".into(),
        Value::Array(anns.iter().map(annotation_json).collect()),
    );
    if anns.iter().any(|a| a.hard) {
        m.insert("hard".into(), Value::String("true".into()));
    }
    Value::Object(m)
}

/// Annotations from a manifest line's `annotation` array (also what the store keeps).
pub fn annotations_from_json(v: &Value) -> Result<Vec<Annotation>> {
    Ok(annotations_with_hard_keys(v)?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}

/// One annotation item as a manifest writes it: name, type, annotated-by, annotation-loc,
/// property (with `@modelarts:hard` for a hard one).
pub(super) fn annotation_json(a: &Annotation) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(a.name.clone()));
    m.insert("type".into(), Value::String(a.kind.clone()));
    m.insert("annotated-by".into(), Value::String(a.annotated_by.clone()));
    if let Some(loc) = &a.loc {
        m.insert("annotation-loc".into(), loc.clone());
    }
    let property = match (&a.property, a.hard) {
        (Some(Value::Object(p)), hard) => {
            let mut p = p.clone();
            if hard {
                p.insert(HARD_KEY.into(), Value::Bool(true));
            } else {
                p.remove(HARD_KEY);
            }
            Some(Value::Object(p))
        }
        (Some(other), _) => Some(other.clone()),
        (None, true) => {
            let mut p = Map::new();
            p.insert(HARD_KEY.into(), Value::Bool(true));
            Some(Value::Object(p))
        }
        (None, false) => None,
    };
    if let Some(p) = property {
        m.insert("property".into(), p);
    }
    Value::Object(m)
}

/// The annotations of an `annotation` array, each with whether its `property` carried
/// `@modelarts:hard` (which is moved out of `property` into `hard`).
pub(super) fn annotations_with_hard_keys(v: &Value) -> Result<Vec<(Annotation, bool)>> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        other => {
            return Err(malformed(format!(
                "`annotation` must be an array of objects, got {}",
                json_kind(other)
            )))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let obj = item.as_object().ok_or_else(|| {
            malformed(format!(
                "annotation #{n} must be an object, got {}",
                json_kind(item)
            ))
        })?;
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(malformed(format!("annotation #{n} has an empty `name`")))
            }
            Some(other) => {
                return Err(malformed(format!(
                    "annotation #{n}: `name` must be a string (the label), got {}",
                    json_kind(other)
                )))
            }
            None => {
                return Err(malformed(format!(
                    "annotation #{n} has no `name` (the label)"
                )))
            }
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => {
                return Err(malformed(format!(
                "annotation #{n}: `type` must be a string such as \"{KIND_IMAGE_CLASSIFICATION}\""
            )))
            }
            None => {
                return Err(malformed(format!(
                    "annotation #{n} has no `type` (such as \"{KIND_IMAGE_CLASSIFICATION}\")"
                )))
            }
        };
        let annotated_by = match obj.get("annotated-by") {
            None | Some(Value::Null) => "human".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(malformed(format!(
                    "annotation #{n}: `annotated-by` must be a string, got {}",
                    json_kind(other)
                )))
            }
        };
        let loc = match obj.get("annotation-loc") {
            None | Some(Value::Null) => None,
            Some(l) => Some(l.clone()),
        };
        let (property, hard, has_key) = match obj.get("property") {
            None | Some(Value::Null) => (None, false, false),
            Some(Value::Object(p)) => {
                let mut p = p.clone();
                match p.remove(HARD_KEY) {
                    Some(h) => {
                        let hard = parse_hard(&h).ok_or_else(|| {
                            malformed(format!(
                                "annotation #{n}: `{HARD_KEY}` is {h}; expected true/false or \"true\"/\"false\""
                            ))
                        })?;
                        let property = if p.is_empty() {
                            None
                        } else {
                            Some(Value::Object(p))
                        };
                        (property, hard, true)
                    }
                    None => (Some(Value::Object(p)), false, false),
                }
            }
            Some(other) => {
                return Err(malformed(format!(
                    "annotation #{n}: `property` must be an object, got {}",
                    json_kind(other)
                )))
            }
        };
        out.push((
            Annotation {
                name,
                kind,
                annotated_by,
                loc,
                property,
                hard,
            },
            has_key,
        ));
    }
    Ok(out)
}

/// A hard flag: a bool, or the strings "true"/"false" (any case), or 1/0.
pub(super) fn parse_hard(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn normal_usage(u: &str) -> Option<String> {
    let u = u.trim();
    if u.is_empty() {
        Some(String::new())
    } else if u.eq_ignore_ascii_case("TRAIN") {
        Some("TRAIN".into())
    } else if u.eq_ignore_ascii_case("EVAL") {
        Some("EVAL".into())
    } else {
        None
    }
}

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where a manifest's `source` is on this machine.
pub(super) fn resolve_source(
    source: &str,
    base: &Path,
    obs_root: Option<&Path>,
) -> Result<PathBuf> {
    let lower = source.to_ascii_lowercase();
    // ModelArts writes OBS paths as obs:// and, in older manifests, s3://.
    let obs_rest = ["obs://", "s3://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &source[p.len()..]);
    if let Some(rest) = obs_rest {
        let root = obs_root.ok_or_else(|| {
            malformed(format!(
                "source `{source}` is on OBS; wf reads local files only (map OBS to a local \
                 folder, obs://bucket/key → <folder>/bucket/key, to read it)"
            ))
        })?;
        let rel = Path::new(rest);
        let plain = !rest.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return Err(malformed(format!(
                "source `{source}`: expected obs://bucket/key without `..` or empty parts"
            )));
        }
        return Ok(root.join(rel));
    }
    if let Some(pos) = source.find("://") {
        let scheme = &source[..pos];
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(malformed(format!(
                "source `{source}` is a {scheme}:// URL; expected a local path or obs://"
            )));
        }
    }
    let p = Path::new(source);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}
