//! Pascal VOC XML (`MA_PASCAL_VOC_V1`): an XML file beside each image with its objects'
//! boxes; and the segmentation variant (`MA_IMAGE_SEGMENTATION_V1`), whose objects carry
//! masks.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::folder::{same_file_key, Entry, Index};
use super::labels::{file_sample, non_empty, read_text};
use super::{malformed, Annotation, Found, Result, KIND_IMAGE_SEGMENTATION, KIND_OBJECT_DETECTION};

/// What a Pascal VOC file says.
pub(super) struct Voc {
    pub(super) annotations: Vec<Annotation>,
    /// `<mask_source>` values as written.
    pub(super) masks: Vec<String>,
}

pub(super) fn child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    tag: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == tag)
}

pub(super) fn child_text<'a>(n: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(n, tag).map(|c| c.text().unwrap_or("").trim())
}

/// A coordinate as a JSON number: an integer when it is one.
pub(super) fn json_number(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// Reads a Pascal VOC file; `segmentation`: the ModelArts segmentation variant, whose
/// objects carry the mask (`<mask_source>`, on the object or the whole file).
pub(super) fn read_voc(path: &Path, segmentation: bool) -> Result<Voc> {
    let at = path.display();
    let text = read_text(path)?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| {
        malformed(format!(
            "{at}: expected Pascal VOC XML, but it is malformed: {e}"
        ))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "annotation" {
        return Err(malformed(format!(
            "{at}: expected Pascal VOC XML with an <annotation> root element, found <{}>",
            root.tag_name().name()
        )));
    }
    let file_mask = child_text(root, "mask_source")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let mut masks: Vec<String> = file_mask.iter().cloned().collect();
    let mut annotations = Vec::new();
    let objects = root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "object");
    for (i, obj) in objects.enumerate() {
        let n = i + 1;
        let name = child_text(obj, "name").unwrap_or("");
        if name.is_empty() {
            return Err(malformed(format!(
                "{at}: <object> #{n} has no <name> (its label)"
            )));
        }
        let hard = match child_text(obj, "difficult").unwrap_or("") {
            "" | "0" | "false" => false,
            "1" | "true" => true,
            other => {
                return Err(malformed(format!(
                    "{at}: <object> #{n} ({name}): <difficult> is `{other}`; expected 0 or 1"
                )))
            }
        };
        let mut loc = Map::new();
        match child(obj, "bndbox") {
            Some(b) => {
                let mut bb = Map::new();
                for k in ["xmin", "ymin", "xmax", "ymax"] {
                    let v = child_text(b, k).and_then(json_number).ok_or_else(|| {
                        malformed(format!(
                            "{at}: <object> #{n} ({name}): <bndbox> needs a number in <{k}>"
                        ))
                    })?;
                    bb.insert(k.to_string(), v);
                }
                loc.insert("bndbox".into(), Value::Object(bb));
            }
            None if !segmentation => {
                return Err(malformed(format!(
                    "{at}: <object> #{n} ({name}) has no <bndbox> (xmin, ymin, xmax, ymax)"
                )))
            }
            None => {}
        }
        if segmentation {
            let mask = child_text(obj, "mask_source")
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .or_else(|| file_mask.clone())
                .ok_or_else(|| {
                    malformed(format!(
                        "{at}: <object> #{n} ({name}): expected a <mask_source> (the mask PNG)"
                    ))
                })?;
            if !masks.contains(&mask) {
                masks.push(mask.clone());
            }
            loc.insert("mask".into(), Value::String(mask));
            if let Some(color) = child_text(obj, "mask_color").filter(|c| !c.is_empty()) {
                loc.insert("mask_color".into(), Value::String(color.to_string()));
            }
        }
        annotations.push(Annotation {
            name: name.to_string(),
            kind: if segmentation {
                KIND_IMAGE_SEGMENTATION
            } else {
                KIND_OBJECT_DETECTION
            }
            .to_string(),
            annotated_by: "human".to_string(),
            loc: Some(Value::Object(loc)),
            property: None,
            hard,
        });
    }
    Ok(Voc { annotations, masks })
}

/// Each image with the boxes of the VOC file of its name beside it (`MA_PASCAL_VOC_V1`).
pub(super) fn read_boxes(samples: &[&Entry], index: &Index) -> Result<Vec<Found>> {
    let mut found = Vec::with_capacity(samples.len());
    for e in samples {
        let anns = match index.sibling(e, &e.stem, "xml") {
            Some(x) => read_voc(&x.path, false)?.annotations,
            None => Vec::new(),
        };
        found.push(file_sample(e, non_empty(anns)));
    }
    Ok(found)
}

/// Each image with the masks of the VOC file beside it (`MA_IMAGE_SEGMENTATION_V1`); the
/// masks themselves (named by a file, or under `SegmentationClass/`) are no samples.
pub(super) fn read_segmentation(samples: &[&Entry], index: &Index) -> Result<Vec<Found>> {
    // First every XML paired with a sample: the masks they name are not samples.
    let mut parsed: Vec<(&Entry, Vec<Annotation>)> = Vec::new();
    let mut masks: HashSet<PathBuf> = HashSet::new();
    for e in samples {
        let anns = match index.sibling(e, &e.stem, "xml") {
            Some(x) => {
                let voc = read_voc(&x.path, true)?;
                let folder = x.path.parent().unwrap_or(Path::new(""));
                for m in &voc.masks {
                    let p = Path::new(m);
                    let p = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        folder.join(p)
                    };
                    masks.insert(same_file_key(&p));
                }
                voc.annotations
            }
            None => Vec::new(),
        };
        parsed.push((e, anns));
    }
    let mut found = Vec::with_capacity(parsed.len());
    for (e, anns) in parsed {
        let under_masks = e
            .rel
            .split('/')
            .rev()
            .skip(1)
            .any(|c| c == "SegmentationClass");
        if under_masks || masks.contains(&same_file_key(&e.path)) {
            continue;
        }
        found.push(file_sample(e, non_empty(anns)));
    }
    Ok(found)
}
