//! YOLO: `classes.txt` at the folder's top, and beside each image a label file of
//! `class_index cx cy w h` lines.

use std::path::Path;

use serde_json::{Map, Value};

use super::folder::{Entry, Index};
use super::labels::{file_sample, non_empty, read_text};
use super::{malformed, Annotation, Found, Result, KIND_OBJECT_DETECTION};

/// The class names of a YOLO folder, from `classes.txt` at its top.
pub(super) fn read_yolo_classes(index: &Index, dir: &Path) -> Result<Vec<String>> {
    let file = index.top("classes", "txt").ok_or_else(|| {
        malformed(format!(
            "{}: a YOLO folder needs classes.txt at its top (class names, one per line)",
            dir.display()
        ))
    })?;
    let text = read_text(&file.path)?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let used = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let mut classes = Vec::with_capacity(used);
    for (i, l) in lines[..used].iter().enumerate() {
        if l.is_empty() {
            return Err(malformed(format!(
                "{}:{}: blank class name (class {i}); expected one name per line",
                file.path.display(),
                i + 1
            )));
        }
        classes.push(l.to_string());
    }
    if classes.is_empty() {
        return Err(malformed(format!(
            "{}: no class names; expected one per line",
            file.path.display()
        )));
    }
    Ok(classes)
}

/// A YOLO label file: `class_index cx cy w h` a line.
pub(super) fn read_yolo_labels(path: &Path, classes: &[String]) -> Result<Vec<Annotation>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 5 {
            return Err(malformed(format!(
                "{at}: expected `class_index cx cy w h`, found {} field(s)",
                fields.len()
            )));
        }
        let class: usize = fields[0].parse().map_err(|_| {
            malformed(format!(
                "{at}: class index `{}` is not a whole number",
                fields[0]
            ))
        })?;
        let name = classes.get(class).ok_or_else(|| {
            malformed(format!(
                "{at}: class index {class} is out of range (classes.txt names {} class(es), 0..{})",
                classes.len(),
                classes.len() - 1
            ))
        })?;
        let mut coords = Vec::with_capacity(4);
        for f in &fields[1..] {
            let v = f
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .and_then(serde_json::Number::from_f64)
                .ok_or_else(|| {
                    malformed(format!(
                        "{at}: `{f}` is not a number (cx cy w h are normalised floats)"
                    ))
                })?;
            coords.push(Value::Number(v));
        }
        let mut loc = Map::new();
        loc.insert("yolo".into(), Value::Array(coords));
        out.push(Annotation {
            name: name.clone(),
            kind: KIND_OBJECT_DETECTION.to_string(),
            annotated_by: "human".to_string(),
            loc: Some(Value::Object(loc)),
            property: None,
            hard: false,
        });
    }
    Ok(out)
}

/// Each image with the boxes of the label file of its name beside it, the classes named
/// by `classes.txt` at the top of `dir`.
pub(super) fn read(dir: &Path, samples: &[&Entry], index: &Index) -> Result<Vec<Found>> {
    let classes = read_yolo_classes(index, dir)?;
    let mut found = Vec::with_capacity(samples.len());
    for e in samples {
        if e.parent.is_empty() && e.stem == "classes" {
            // `classes.txt` is the class list, not this file's labels.
            found.push(file_sample(e, None));
            continue;
        }
        let anns = match index.sibling(e, &e.stem, "txt") {
            Some(l) => read_yolo_labels(&l.path, &classes)?,
            None => Vec::new(),
        };
        found.push(file_sample(e, non_empty(anns)));
    }
    Ok(found)
}
