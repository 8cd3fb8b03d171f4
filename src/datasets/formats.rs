//! Reading samples and their labels from a folder or a manifest, in the label formats of
//! `AnnotationFormatEnum` (CONTRACT §6) and ModelArts' manifest (JSON lines).
//!
//! Nothing here touches the dataset store: a reader returns what it found, the store keeps it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use walkdir::WalkDir;

/// `DataTypeEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Image,
    Text,
    Audio,
    Tabular,
    Video,
    FreeFormat,
}

/// `AnnotationFormatEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ImageClassification,    // MA_IMAGE_CLASSIFICATION_V1
    ImageNet,               // MA_IMAGENET_V1
    PascalVoc,              // MA_PASCAL_VOC_V1
    Yolo,                   // YOLO
    ImageSegmentation,      // MA_IMAGE_SEGMENTATION_V1
    TextCombine,            // MA_TEXT_CLASSIFICATION_COMBINE_V1
    TextClassification,     // MA_TEXT_CLASSIFICATION_V1
    AudioClassificationDir, // MA_AUDIO_CLASSIFICATION_DIR_V1
}

/// One label of a sample, as a manifest line's `annotation` item holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub name: String,
    /// `modelarts/image_classification`, `modelarts/object_detection`, ...
    pub kind: String,
    /// `"human"` unless the source says otherwise.
    pub annotated_by: String,
    /// Object boxes and masks: `annotation-loc` (or a mask path), as ModelArts writes it.
    pub loc: Option<Value>,
    /// `property` (a box's extra attributes, `@modelarts:hard` ...).
    pub property: Option<Value>,
    /// A hard example (VOC `<difficult>1`, a manifest's `hard`).
    pub hard: bool,
}

/// Where a sample's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    File(PathBuf),
    /// A sample that is text inside another file (a line of a combined text file); `ext`
    /// without the dot.
    Bytes {
        bytes: Vec<u8>,
        ext: String,
    },
}

/// A sample found by a reader.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub content: Content,
    /// The name it is known by: its path relative to the folder read, with `/`
    /// (`cat/1.jpg`); for a line of a text file `file.txt#LINE` (1-based).
    pub name: String,
    /// `None`: unlabelled. `Some(vec![])` never happens.
    pub annotations: Option<Vec<Annotation>>,
    /// `TRAIN`, `EVAL` or empty, when the source says (a manifest).
    pub usage: String,
}

/// How to read a folder.
#[derive(Debug, Clone)]
pub struct ReadOpts {
    /// `None`: files of the data type, unlabelled.
    pub format: Option<Format>,
    /// Between labels (`label_format.label_separator`), `,` by default.
    pub label_separator: char,
    /// Between a text and its labels (`label_format.text_sample_separator` /
    /// `sample_label_separator`), tab by default.
    pub sample_label_separator: char,
    /// `difficult_only`: keep only hard examples.
    pub difficult_only: bool,
}

impl Default for ReadOpts {
    fn default() -> Self {
        ReadOpts {
            format: None,
            label_separator: ',',
            sample_label_separator: '\t',
            difficult_only: false,
        }
    }
}

const IMAGE_EXTS: &[&str] = &["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"];
const TEXT_EXTS: &[&str] = &["txt"];
const AUDIO_EXTS: &[&str] = &["wav", "mp3", "flac", "ogg", "m4a", "aac"];
const VIDEO_EXTS: &[&str] = &["mp4", "avi", "mov", "mkv", "webm"];
const TABULAR_EXTS: &[&str] = &["csv"];

const DATA_TYPES: [DataType; 6] = [
    DataType::Image,
    DataType::Text,
    DataType::Audio,
    DataType::Tabular,
    DataType::Video,
    DataType::FreeFormat,
];

const FORMATS: [Format; 8] = [
    Format::ImageClassification,
    Format::ImageNet,
    Format::PascalVoc,
    Format::Yolo,
    Format::ImageSegmentation,
    Format::TextCombine,
    Format::TextClassification,
    Format::AudioClassificationDir,
];

/// The property key ModelArts marks a hard example with.
const HARD_KEY: &str = "@modelarts:hard";

const KIND_IMAGE_CLASSIFICATION: &str = "modelarts/image_classification";
const KIND_OBJECT_DETECTION: &str = "modelarts/object_detection";
const KIND_IMAGE_SEGMENTATION: &str = "modelarts/image_segmentation";
const KIND_TEXT_CLASSIFICATION: &str = "modelarts/text_classification";
const KIND_AUDIO_CLASSIFICATION: &str = "modelarts/audio_classification";

impl DataType {
    /// Parses the enum's name (`IMAGE`, ...), case-insensitively.
    pub fn parse(s: &str) -> Option<DataType> {
        let s = s.trim();
        DATA_TYPES
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Image => "IMAGE",
            DataType::Text => "TEXT",
            DataType::Audio => "AUDIO",
            DataType::Tabular => "TABULAR",
            DataType::Video => "VIDEO",
            DataType::FreeFormat => "FREE_FORMAT",
        }
    }
    /// Whether a file with this extension (lower-case, no dot) is a sample of this type.
    pub fn accepts(self, ext: &str) -> bool {
        let list = match self {
            DataType::Image => IMAGE_EXTS,
            DataType::Text => TEXT_EXTS,
            DataType::Audio => AUDIO_EXTS,
            DataType::Video => VIDEO_EXTS,
            DataType::Tabular => TABULAR_EXTS,
            DataType::FreeFormat => return true,
        };
        list.iter().any(|e| e.eq_ignore_ascii_case(ext))
    }
}

impl Format {
    /// Parses the enum's name (`MA_IMAGE_CLASSIFICATION_V1`, ...). CarbonData and other
    /// names: an error naming the value and the accepted ones.
    pub fn parse(s: &str) -> Result<Format, String> {
        let t = s.trim();
        if let Some(f) = FORMATS
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(t))
        {
            return Ok(f);
        }
        let accepted = FORMATS.map(Format::as_str).join(", ");
        if t.eq_ignore_ascii_case("carbondata") {
            return Err(format!(
                "`{s}` is a dataset version format (ModelArts' CarbonData export of tabular \
                 versions), not a label format; wf does not support it here. Label formats wf \
                 reads: {accepted}"
            ));
        }
        Err(format!(
            "`{s}` is not a label format wf reads; it takes one of {accepted}"
        ))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ImageClassification => "MA_IMAGE_CLASSIFICATION_V1",
            Format::ImageNet => "MA_IMAGENET_V1",
            Format::PascalVoc => "MA_PASCAL_VOC_V1",
            Format::Yolo => "YOLO",
            Format::ImageSegmentation => "MA_IMAGE_SEGMENTATION_V1",
            Format::TextCombine => "MA_TEXT_CLASSIFICATION_COMBINE_V1",
            Format::TextClassification => "MA_TEXT_CLASSIFICATION_V1",
            Format::AudioClassificationDir => "MA_AUDIO_CLASSIFICATION_DIR_V1",
        }
    }
    /// An error when the format cannot describe samples of `data_type` (a text format on an
    /// IMAGE dataset), naming both.
    pub fn fits(self, data_type: DataType) -> Result<(), String> {
        let wanted = self.data_type();
        if wanted == data_type {
            Ok(())
        } else {
            Err(format!(
                "label format {} is for {} datasets, not {}",
                self.as_str(),
                wanted.as_str(),
                data_type.as_str()
            ))
        }
    }

    /// The one data type the format describes.
    fn data_type(self) -> DataType {
        match self {
            Format::ImageClassification
            | Format::ImageNet
            | Format::PascalVoc
            | Format::Yolo
            | Format::ImageSegmentation => DataType::Image,
            Format::TextCombine | Format::TextClassification => DataType::Text,
            Format::AudioClassificationDir => DataType::Audio,
        }
    }
}

/// Reads every sample in `dir` (recursively, in a stable order: sorted by name) for a
/// dataset of `data_type`. Label files of the format are not samples themselves. Files the
/// data type does not take are passed over. A malformed label file is an error naming the
/// file and what was expected.
pub fn read_dir(dir: &Path, data_type: DataType, opts: &ReadOpts) -> Result<Vec<Found>, String> {
    if let Some(format) = opts.format {
        format.fits(data_type)?;
    }
    let entries = walk(dir)?;
    let index = Index::new(&entries);
    let samples = entries.iter().filter(|e| data_type.accepts(&e.ext));

    let mut found: Vec<Found> = Vec::new();
    match opts.format {
        None => {
            for e in samples {
                found.push(file_sample(e, None));
            }
        }
        Some(Format::ImageClassification) => {
            for e in samples {
                let labels = match index.sibling(e, &e.stem, "txt") {
                    Some(l) => lines_labels(&read_text(&l.path)?, None),
                    None => Vec::new(),
                };
                found.push(file_sample(
                    e,
                    classification(labels, KIND_IMAGE_CLASSIFICATION),
                ));
            }
        }
        Some(Format::ImageNet) => {
            for e in samples {
                let labels = e
                    .top_folder()
                    .map(|l| vec![l.to_string()])
                    .unwrap_or_default();
                found.push(file_sample(
                    e,
                    classification(labels, KIND_IMAGE_CLASSIFICATION),
                ));
            }
        }
        Some(Format::AudioClassificationDir) => {
            for e in samples {
                let labels = e
                    .top_folder()
                    .map(|l| vec![l.to_string()])
                    .unwrap_or_default();
                found.push(file_sample(
                    e,
                    classification(labels, KIND_AUDIO_CLASSIFICATION),
                ));
            }
        }
        Some(Format::PascalVoc) => {
            for e in samples {
                let anns = match index.sibling(e, &e.stem, "xml") {
                    Some(x) => read_voc(&x.path, false)?.annotations,
                    None => Vec::new(),
                };
                found.push(file_sample(e, non_empty(anns)));
            }
        }
        Some(Format::ImageSegmentation) => {
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
        }
        Some(Format::Yolo) => {
            let classes = read_yolo_classes(&index, dir)?;
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
        }
        Some(Format::TextClassification) => {
            for e in samples {
                if e.stem.ends_with("_result") {
                    continue;
                }
                let result = format!("{}_result", e.stem);
                let labels = match index.sibling(e, &result, "txt") {
                    Some(l) => lines_labels(&read_text(&l.path)?, Some(opts.label_separator)),
                    None => Vec::new(),
                };
                found.push(file_sample(
                    e,
                    classification(labels, KIND_TEXT_CLASSIFICATION),
                ));
            }
        }
        Some(Format::TextCombine) => {
            for e in samples {
                read_combined(e, opts, &mut found)?;
            }
        }
    }

    if opts.difficult_only {
        found.retain(|f| f.annotations.iter().flatten().any(|a| a.hard));
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Reads a manifest (JSON lines, blank lines ignored); `source` paths are relative to the
/// manifest's folder unless absolute; `obs://` sources are refused with a clear error
/// unless `obs_root` maps them (`obs://b/k` → `obs_root/b/k`). An error names the line.
pub fn read_manifest(file: &Path, obs_root: Option<&Path>) -> Result<Vec<Found>, String> {
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
            format!("{at}: expected a JSON object (one sample a line), got invalid JSON: {e}")
        })?;
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{at}: expected a JSON object (one sample a line)"))?;
        let source = match obj.get("source") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
            Some(Value::String(_)) => return Err(format!("{at}: `source` is empty")),
            Some(_) => return Err(format!("{at}: `source` must be a string path")),
            None => return Err(format!("{at}: no `source` (the sample's path)")),
        };
        let usage = match obj.get("usage") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(u)) => normal_usage(u)
                .ok_or_else(|| format!("{at}: usage `{u}` is not TRAIN, EVAL or empty"))?,
            Some(other) => return Err(format!("{at}: usage {other} is not TRAIN, EVAL or empty")),
        };
        let line_hard = match obj.get("hard") {
            None | Some(Value::Null) => false,
            Some(h) => parse_hard(h).ok_or_else(|| {
                format!("{at}: `hard` is {h}; expected true/false or \"true\"/\"false\"")
            })?,
        };
        let mut anns = match obj.get("annotation") {
            None | Some(Value::Null) => Vec::new(),
            Some(a) => annotations_with_hard_keys(a).map_err(|e| format!("{at}: {e}"))?,
        };
        // A hard flag on the annotations governs; without one, the line's applies to all.
        let any_key = anns.iter().any(|(_, has_key)| *has_key);
        if !any_key && line_hard {
            for (a, _) in anns.iter_mut() {
                a.hard = true;
            }
        }
        let annotations: Vec<Annotation> = anns.into_iter().map(|(a, _)| a).collect();

        let path = resolve_source(source, &base, obs_root).map_err(|e| format!("{at}: {e}"))?;
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(format!(
                    "{at}: source `{source}` is not a file ({})",
                    path.display()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{at}: source `{source}` cannot be read ({}): {e}",
                    path.display()
                ))
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
pub fn annotations_from_json(v: &Value) -> Result<Vec<Annotation>, String> {
    Ok(annotations_with_hard_keys(v)?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}

// ---------------------------------------------------------------------------------------
// Manifest helpers

/// One annotation item as a manifest writes it: name, type, annotated-by, annotation-loc,
/// property (with `@modelarts:hard` for a hard one).
fn annotation_json(a: &Annotation) -> Value {
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
fn annotations_with_hard_keys(v: &Value) -> Result<Vec<(Annotation, bool)>, String> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        other => {
            return Err(format!(
                "`annotation` must be an array of objects, got {}",
                json_kind(other)
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let obj = item
            .as_object()
            .ok_or_else(|| format!("annotation #{n} must be an object, got {}", json_kind(item)))?;
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(format!("annotation #{n} has an empty `name`")),
            Some(other) => {
                return Err(format!(
                    "annotation #{n}: `name` must be a string (the label), got {}",
                    json_kind(other)
                ))
            }
            None => return Err(format!("annotation #{n} has no `name` (the label)")),
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => {
                return Err(format!(
                "annotation #{n}: `type` must be a string such as \"{KIND_IMAGE_CLASSIFICATION}\""
            ))
            }
            None => {
                return Err(format!(
                    "annotation #{n} has no `type` (such as \"{KIND_IMAGE_CLASSIFICATION}\")"
                ))
            }
        };
        let annotated_by = match obj.get("annotated-by") {
            None | Some(Value::Null) => "human".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(format!(
                    "annotation #{n}: `annotated-by` must be a string, got {}",
                    json_kind(other)
                ))
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
                            format!(
                                "annotation #{n}: `{HARD_KEY}` is {h}; expected true/false or \"true\"/\"false\""
                            )
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
                return Err(format!(
                    "annotation #{n}: `property` must be an object, got {}",
                    json_kind(other)
                ))
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
fn parse_hard(v: &Value) -> Option<bool> {
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

fn normal_usage(u: &str) -> Option<String> {
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

fn json_kind(v: &Value) -> &'static str {
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
fn resolve_source(source: &str, base: &Path, obs_root: Option<&Path>) -> Result<PathBuf, String> {
    let lower = source.to_ascii_lowercase();
    // ModelArts writes OBS paths as obs:// and, in older manifests, s3://.
    let obs_rest = ["obs://", "s3://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &source[p.len()..]);
    if let Some(rest) = obs_rest {
        let root = obs_root.ok_or_else(|| {
            format!(
                "source `{source}` is on OBS; wf reads local files only (map OBS to a local \
                 folder, obs://bucket/key → <folder>/bucket/key, to read it)"
            )
        })?;
        let rel = Path::new(rest);
        let plain = !rest.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return Err(format!(
                "source `{source}`: expected obs://bucket/key without `..` or empty parts"
            ));
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
            return Err(format!(
                "source `{source}` is a {scheme}:// URL; expected a local path or obs://"
            ));
        }
    }
    let p = Path::new(source);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}

// ---------------------------------------------------------------------------------------
// Folder walking

/// A file under the folder read.
struct Entry {
    /// Relative to the folder, with `/`.
    rel: String,
    path: PathBuf,
    /// The folder part of `rel` (`""` at the top).
    parent: String,
    stem: String,
    /// Lower-case, without the dot; `""` when there is none.
    ext: String,
}

impl Entry {
    /// The sub-folder of the folder read that holds the file (`cat` for `cat/x/1.jpg`).
    fn top_folder(&self) -> Option<&str> {
        self.rel.split_once('/').map(|(top, _)| top)
    }
}

/// Files by (folder, stem, lower-case ext), to find a sample's label file beside it.
struct Index<'a> {
    by_key: HashMap<(&'a str, &'a str, &'a str), &'a Entry>,
}

impl<'a> Index<'a> {
    fn new(entries: &'a [Entry]) -> Index<'a> {
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
    fn sibling(&self, e: &Entry, stem: &str, ext: &str) -> Option<&'a Entry> {
        self.by_key.get(&(e.parent.as_str(), stem, ext)).copied()
    }
    fn top(&self, stem: &str, ext: &str) -> Option<&'a Entry> {
        self.by_key.get(&("", stem, ext)).copied()
    }
}

fn walk(dir: &Path) -> Result<Vec<Entry>, String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "{}: expected a folder, found a file",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("{}: cannot read the folder: {e}", dir.display())),
    }
    let walker = WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(dir);
            format!("{}: cannot read: {e}", at.display())
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
fn same_file_key(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| lexical_normal(p))
}

fn lexical_normal(p: &Path) -> PathBuf {
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

// ---------------------------------------------------------------------------------------
// Label files

fn file_sample(e: &Entry, annotations: Option<Vec<Annotation>>) -> Found {
    Found {
        content: Content::File(e.path.clone()),
        name: e.rel.clone(),
        annotations,
        usage: String::new(),
    }
}

fn non_empty(anns: Vec<Annotation>) -> Option<Vec<Annotation>> {
    if anns.is_empty() {
        None
    } else {
        Some(anns)
    }
}

fn label(name: String, kind: &str) -> Annotation {
    Annotation {
        name,
        kind: kind.to_string(),
        annotated_by: "human".to_string(),
        loc: None,
        property: None,
        hard: false,
    }
}

fn classification(labels: Vec<String>, kind: &str) -> Option<Vec<Annotation>> {
    non_empty(labels.into_iter().map(|l| label(l, kind)).collect())
}

/// A label file as text; not UTF-8 is an error naming it.
fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{}: expected UTF-8 text, but byte {} is not",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Labels one per line (and, with `sep`, also separated by it): trimmed, blanks ignored,
/// each once.
fn lines_labels(text: &str, sep: Option<char>) -> Vec<String> {
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

/// What a Pascal VOC file says.
struct Voc {
    annotations: Vec<Annotation>,
    /// `<mask_source>` values as written.
    masks: Vec<String>,
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == tag)
}

fn child_text<'a>(n: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(n, tag).map(|c| c.text().unwrap_or("").trim())
}

/// A coordinate as a JSON number: an integer when it is one.
fn json_number(s: &str) -> Option<Value> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// Reads a Pascal VOC file; `segmentation`: the ModelArts segmentation variant, whose
/// objects carry the mask (`<mask_source>`, on the object or the whole file).
fn read_voc(path: &Path, segmentation: bool) -> Result<Voc, String> {
    let at = path.display();
    let text = read_text(path)?;
    let doc = roxmltree::Document::parse(&text)
        .map_err(|e| format!("{at}: expected Pascal VOC XML, but it is malformed: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "annotation" {
        return Err(format!(
            "{at}: expected Pascal VOC XML with an <annotation> root element, found <{}>",
            root.tag_name().name()
        ));
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
            return Err(format!("{at}: <object> #{n} has no <name> (its label)"));
        }
        let hard = match child_text(obj, "difficult").unwrap_or("") {
            "" | "0" | "false" => false,
            "1" | "true" => true,
            other => {
                return Err(format!(
                    "{at}: <object> #{n} ({name}): <difficult> is `{other}`; expected 0 or 1"
                ))
            }
        };
        let mut loc = Map::new();
        match child(obj, "bndbox") {
            Some(b) => {
                let mut bb = Map::new();
                for k in ["xmin", "ymin", "xmax", "ymax"] {
                    let v = child_text(b, k).and_then(json_number).ok_or_else(|| {
                        format!("{at}: <object> #{n} ({name}): <bndbox> needs a number in <{k}>")
                    })?;
                    bb.insert(k.to_string(), v);
                }
                loc.insert("bndbox".into(), Value::Object(bb));
            }
            None if !segmentation => {
                return Err(format!(
                    "{at}: <object> #{n} ({name}) has no <bndbox> (xmin, ymin, xmax, ymax)"
                ))
            }
            None => {}
        }
        if segmentation {
            let mask = child_text(obj, "mask_source")
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .or_else(|| file_mask.clone())
                .ok_or_else(|| {
                    format!("{at}: <object> #{n} ({name}): expected a <mask_source> (the mask PNG)")
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

/// The class names of a YOLO folder, from `classes.txt` at its top.
fn read_yolo_classes(index: &Index, dir: &Path) -> Result<Vec<String>, String> {
    let file = index.top("classes", "txt").ok_or_else(|| {
        format!(
            "{}: a YOLO folder needs classes.txt at its top (class names, one per line)",
            dir.display()
        )
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
            return Err(format!(
                "{}:{}: blank class name (class {i}); expected one name per line",
                file.path.display(),
                i + 1
            ));
        }
        classes.push(l.to_string());
    }
    if classes.is_empty() {
        return Err(format!(
            "{}: no class names; expected one per line",
            file.path.display()
        ));
    }
    Ok(classes)
}

/// A YOLO label file: `class_index cx cy w h` a line.
fn read_yolo_labels(path: &Path, classes: &[String]) -> Result<Vec<Annotation>, String> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 5 {
            return Err(format!(
                "{at}: expected `class_index cx cy w h`, found {} field(s)",
                fields.len()
            ));
        }
        let class: usize = fields[0]
            .parse()
            .map_err(|_| format!("{at}: class index `{}` is not a whole number", fields[0]))?;
        let name = classes.get(class).ok_or_else(|| {
            format!(
                "{at}: class index {class} is out of range (classes.txt names {} class(es), 0..{})",
                classes.len(),
                classes.len() - 1
            )
        })?;
        let mut coords = Vec::with_capacity(4);
        for f in &fields[1..] {
            let v = f
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .and_then(serde_json::Number::from_f64)
                .ok_or_else(|| {
                    format!("{at}: `{f}` is not a number (cx cy w h are normalised floats)")
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

/// The samples of a combined text file: one a non-blank line, `text<sep>label,label`.
fn read_combined(e: &Entry, opts: &ReadOpts, found: &mut Vec<Found>) -> Result<(), String> {
    let text = read_text(&e.path)?;
    let sep = opts.sample_label_separator;
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        // The labels come last: a separator inside the text is taken as text.
        let (sample, labels) = match line.rfind(sep) {
            Some(p) => {
                let labels: Vec<String> =
                    lines_labels(&line[p + sep.len_utf8()..], Some(opts.label_separator));
                (&line[..p], labels)
            }
            None => (line, Vec::new()),
        };
        if sample.trim().is_empty() {
            return Err(format!(
                "{}:{}: expected `text{}label`, but the text is empty",
                e.path.display(),
                i + 1,
                sep.escape_default()
            ));
        }
        found.push(Found {
            content: Content::Bytes {
                bytes: sample.as_bytes().to_vec(),
                ext: "txt".to_string(),
            },
            name: format!("{}#{}", e.rel, i + 1),
            annotations: classification(labels, KIND_TEXT_CLASSIFICATION),
            usage: String::new(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
    }

    fn opts(format: Format) -> ReadOpts {
        ReadOpts {
            format: Some(format),
            ..ReadOpts::default()
        }
    }

    fn read_fixture(folder: &str) -> Vec<Found> {
        let dir = fixtures().join(folder);
        if folder == "manifest" {
            return read_manifest(&dir.join("manifest.jsonl"), None).unwrap();
        }
        let format = Format::parse(folder).unwrap();
        read_dir(&dir, format.data_type(), &opts(format)).unwrap()
    }

    fn names(found: &[Found]) -> Vec<&str> {
        found.iter().map(|f| f.name.as_str()).collect()
    }

    fn find<'a>(found: &'a [Found], name: &str) -> &'a Found {
        found
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no sample {name} in {:?}", names(found)))
    }

    fn labels(f: &Found) -> Vec<&str> {
        f.annotations
            .iter()
            .flatten()
            .map(|a| a.name.as_str())
            .collect()
    }

    fn bytes(f: &Found) -> Vec<u8> {
        match &f.content {
            Content::File(p) => std::fs::read(p).unwrap(),
            Content::Bytes { bytes, .. } => bytes.clone(),
        }
    }

    /// Every row of the README's table is what the reader returns.
    #[test]
    fn fixture_readme_counts() {
        let readme = std::fs::read_to_string(fixtures().join("README.md")).unwrap();
        let mut rows = 0;
        for line in readme.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 8, "{line}");
            let folder = cells[0].trim_matches('`');
            let found = read_fixture(folder);
            if folder != "manifest" {
                let format = Format::parse(folder).unwrap();
                assert_eq!(cells[1], format.as_str(), "{folder}");
                assert_eq!(cells[2], format.data_type().as_str(), "{folder}");
            }
            let n: usize = cells[3].parse().unwrap();
            assert_eq!(found.len(), n, "{folder} samples: {:?}", names(&found));
            let labelled = found.iter().filter(|f| f.annotations.is_some()).count();
            assert_eq!(labelled.to_string(), cells[4], "{folder} labelled");
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for a in found.iter().flat_map(|f| f.annotations.iter().flatten()) {
                *counts.entry(a.name.as_str()).or_default() += 1;
            }
            let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            assert_eq!(counts.join(", "), cells[5], "{folder} label counts");
            let hard = found
                .iter()
                .filter(|f| f.annotations.iter().flatten().any(|a| a.hard))
                .count();
            assert_eq!(hard.to_string(), cells[6], "{folder} hard");
            let distinct: HashSet<Vec<u8>> = found.iter().map(bytes).collect();
            assert_eq!(distinct.len().to_string(), cells[7], "{folder} distinct");
            // Invariants of every reader.
            assert!(
                found.windows(2).all(|w| w[0].name < w[1].name),
                "{folder} sorted"
            );
            assert!(found
                .iter()
                .all(|f| f.annotations.as_ref().is_none_or(|a| !a.is_empty())));
            assert!(found.iter().all(|f| !f.name.contains('\\')));
            rows += 1;
        }
        assert_eq!(rows, 9, "one row per fixture folder");
    }

    #[test]
    fn every_sample_distinct_across_fixtures_but_the_dup_pair() {
        let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
        let mut dups = Vec::new();
        for folder in FORMATS
            .map(|f| f.as_str().to_ascii_lowercase())
            .iter()
            .map(String::as_str)
            .chain(["manifest"])
        {
            for f in read_fixture(folder) {
                let who = format!("{folder}/{}", f.name);
                if let Some(prev) = seen.insert(bytes(&f), who.clone()) {
                    dups.push((prev, who));
                }
            }
        }
        assert_eq!(
            dups,
            vec![(
                "ma_image_classification_v1/dup_a.jpg".to_string(),
                "ma_image_classification_v1/dup_b.jpg".to_string()
            )]
        );
    }

    #[test]
    fn image_classification_details() {
        let found = read_fixture("ma_image_classification_v1");
        assert_eq!(
            names(&found),
            [
                "cat1.jpg",
                "dog1.jpg",
                "dup_a.jpg",
                "dup_b.jpg",
                "unlabelled.png"
            ]
        );
        assert_eq!(labels(find(&found, "dog1.jpg")), ["dog", "animal"]);
        assert_eq!(labels(find(&found, "dup_b.jpg")), ["cat"]);
        assert_eq!(find(&found, "unlabelled.png").annotations, None);
        let a = &find(&found, "cat1.jpg").annotations.as_ref().unwrap()[0];
        assert_eq!(a.kind, "modelarts/image_classification");
        assert_eq!(a.annotated_by, "human");
        assert_eq!(find(&found, "cat1.jpg").usage, "");
        let dir = fixtures().join("ma_image_classification_v1");
        assert_eq!(
            find(&found, "cat1.jpg").content,
            Content::File(dir.join("cat1.jpg"))
        );
        // Without a format: the same files, unlabelled.
        let plain = read_dir(&dir, DataType::Image, &ReadOpts::default()).unwrap();
        assert_eq!(names(&plain), names(&found));
        assert!(plain.iter().all(|f| f.annotations.is_none()));
        // FREE_FORMAT takes the label files too, hidden ones never.
        let free = read_dir(&dir, DataType::FreeFormat, &ReadOpts::default()).unwrap();
        assert_eq!(free.len(), 9);
        assert!(free.iter().all(|f| !f.name.starts_with('.')));
    }

    #[test]
    fn imagenet_and_audio_dirs() {
        let found = read_fixture("ma_imagenet_v1");
        assert_eq!(
            names(&found),
            ["cat/1.jpg", "cat/2.jpg", "dog/1.jpg", "top.jpg"]
        );
        assert_eq!(labels(find(&found, "dog/1.jpg")), ["dog"]);
        assert_eq!(find(&found, "top.jpg").annotations, None);

        let found = read_fixture("ma_audio_classification_dir_v1");
        assert_eq!(
            names(&found),
            ["music/c.wav", "speech/a.wav", "speech/b.wav", "top.wav"]
        );
        let a = &find(&found, "music/c.wav").annotations.as_ref().unwrap()[0];
        assert_eq!(
            (a.name.as_str(), a.kind.as_str()),
            ("music", "modelarts/audio_classification")
        );
    }

    #[test]
    fn pascal_voc_boxes_and_hard() {
        let found = read_fixture("ma_pascal_voc_v1");
        assert_eq!(
            names(&found),
            ["empty.jpg", "park.jpg", "plain.jpg", "street.jpg"]
        );
        let street = find(&found, "street.jpg").annotations.as_ref().unwrap();
        assert_eq!(street.len(), 2);
        assert_eq!(street[0].kind, "modelarts/object_detection");
        assert_eq!(
            street[0].loc,
            Some(serde_json::json!({"bndbox": {"xmin": 2, "ymin": 4, "xmax": 30, "ymax": 40}}))
        );
        assert!(!street[0].hard);
        assert_eq!(street[1].name, "person");
        assert!(street[1].hard);
        assert_eq!(street[1].loc.as_ref().unwrap()["bndbox"]["xmin"], 35.5);
        assert_eq!(find(&found, "empty.jpg").annotations, None);

        let dir = fixtures().join("ma_pascal_voc_v1");
        let hard = read_dir(
            &dir,
            DataType::Image,
            &ReadOpts {
                difficult_only: true,
                ..opts(Format::PascalVoc)
            },
        )
        .unwrap();
        assert_eq!(names(&hard), ["street.jpg"]);
    }

    #[test]
    fn yolo_boxes() {
        let found = read_fixture("yolo");
        assert_eq!(names(&found), ["a.jpg", "b.jpg", "c.png", "sub/d.jpg"]);
        let a = find(&found, "a.jpg").annotations.as_ref().unwrap();
        assert_eq!(labels(find(&found, "a.jpg")), ["cat", "dog"]);
        assert_eq!(
            a[0].loc,
            Some(serde_json::json!({"yolo": [0.5, 0.5, 0.2, 0.3]}))
        );
        assert_eq!(a[0].kind, "modelarts/object_detection");
        assert_eq!(labels(find(&found, "sub/d.jpg")), ["cat"]);
    }

    #[test]
    fn segmentation_masks() {
        let found = read_fixture("ma_image_segmentation_v1");
        assert_eq!(names(&found), ["img1.jpg", "img2.jpg", "img3.jpg"]);
        let img2 = find(&found, "img2.jpg").annotations.as_ref().unwrap();
        assert_eq!(img2[0].kind, "modelarts/image_segmentation");
        let loc = img2[0].loc.as_ref().unwrap();
        assert_eq!(loc["mask"], "masks/img2_mask.png");
        assert_eq!(loc["bndbox"]["ymax"], 12);
        assert_eq!(loc["mask_color"], "70,130,180");
        // As a plain VOC read, the masks are images like any other.
        let dir = fixtures().join("ma_image_segmentation_v1");
        let voc = read_dir(&dir, DataType::Image, &opts(Format::PascalVoc)).unwrap();
        assert_eq!(voc.len(), 5);
    }

    #[test]
    fn text_combine_lines() {
        let found = read_fixture("ma_text_classification_combine_v1");
        assert_eq!(
            names(&found),
            [
                "more.txt#1",
                "reviews.txt#1",
                "reviews.txt#2",
                "reviews.txt#4",
                "reviews.txt#5"
            ]
        );
        let f = find(&found, "reviews.txt#4");
        assert_eq!(
            f.content,
            Content::Bytes {
                bytes: b"funny and sad".to_vec(),
                ext: "txt".into()
            }
        );
        assert_eq!(labels(f), ["positive", "negative"]);
        assert_eq!(
            f.annotations.as_ref().unwrap()[0].kind,
            "modelarts/text_classification"
        );
        let f = find(&found, "reviews.txt#5");
        assert_eq!(f.annotations, None);
        assert_eq!(bytes(f), b"no label here");
    }

    #[test]
    fn text_combine_other_separators() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("data.txt"),
            "a, b and c|x;y\r\nplain line\n\n|orphan-free? no\nlast|z; ;z\n",
        )
        .unwrap();
        let o = ReadOpts {
            format: Some(Format::TextCombine),
            label_separator: ';',
            sample_label_separator: '|',
            difficult_only: false,
        };
        let err = read_dir(tmp.path(), DataType::Text, &o).unwrap_err();
        assert!(err.contains("data.txt:4"), "{err}");
        std::fs::write(
            tmp.path().join("data.txt"),
            "a, b and c|x;y\r\nplain line\n\nlast|z; ;z\n",
        )
        .unwrap();
        let found = read_dir(tmp.path(), DataType::Text, &o).unwrap();
        assert_eq!(names(&found), ["data.txt#1", "data.txt#2", "data.txt#4"]);
        assert_eq!(bytes(&found[0]), b"a, b and c");
        assert_eq!(labels(&found[0]), ["x", "y"]);
        assert_eq!(found[1].annotations, None);
        assert_eq!(labels(&found[2]), ["z"]);
        // With the defaults the same file has no tab: all unlabelled.
        let found = read_dir(tmp.path(), DataType::Text, &opts(Format::TextCombine)).unwrap();
        assert!(found.iter().all(|f| f.annotations.is_none()));
    }

    #[test]
    fn text_classification_results() {
        let found = read_fixture("ma_text_classification_v1");
        assert_eq!(names(&found), ["t1.txt", "t2.txt", "t3.txt", "t4.txt"]);
        assert_eq!(labels(find(&found, "t3.txt")), ["positive", "funny"]);
        assert_eq!(find(&found, "t4.txt").annotations, None);
    }

    #[test]
    fn malformed_voc_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x.jpg"), b"img").unwrap();
        std::fs::write(
            tmp.path().join("x.xml"),
            "<annotation><object><name>a</name>",
        )
        .unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::PascalVoc)).unwrap_err();
        assert!(err.contains("x.xml") && err.contains("Pascal VOC"), "{err}");

        std::fs::write(
            tmp.path().join("x.xml"),
            "<annotation><object><name>a</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
        )
        .unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::PascalVoc)).unwrap_err();
        assert!(err.contains("x.xml") && err.contains("<ymin>"), "{err}");

        std::fs::write(tmp.path().join("x.xml"), "<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>").unwrap();
        let err = read_dir(
            tmp.path(),
            DataType::Image,
            &opts(Format::ImageSegmentation),
        )
        .unwrap_err();
        assert!(
            err.contains("x.xml") && err.contains("mask_source"),
            "{err}"
        );
    }

    #[test]
    fn yolo_errors() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.jpg"), b"img").unwrap();
        std::fs::write(
            tmp.path().join("a.txt"),
            "0 0.5 0.5 0.1 0.1\n\n2 0.5 0.5 0.1 0.1\n",
        )
        .unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo)).unwrap_err();
        assert!(err.contains("classes.txt"), "{err}");

        std::fs::write(tmp.path().join("classes.txt"), "cat\ndog\n").unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo)).unwrap_err();
        assert!(
            err.contains("a.txt:3") && err.contains("out of range"),
            "{err}"
        );

        std::fs::write(tmp.path().join("a.txt"), "1 0.5 zero 0.1 0.1\n").unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo)).unwrap_err();
        assert!(err.contains("a.txt:1") && err.contains("zero"), "{err}");

        std::fs::write(tmp.path().join("a.txt"), "1 0.5 0.5 0.1\n").unwrap();
        let err = read_dir(tmp.path(), DataType::Image, &opts(Format::Yolo)).unwrap_err();
        assert!(err.contains("a.txt:1"), "{err}");
    }

    #[test]
    fn bad_utf8_label_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.jpg"), b"img").unwrap();
        std::fs::write(tmp.path().join("a.txt"), b"ca\xfft\n").unwrap();
        let err = read_dir(
            tmp.path(),
            DataType::Image,
            &opts(Format::ImageClassification),
        )
        .unwrap_err();
        assert!(err.contains("a.txt") && err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn missing_folder_is_an_error() {
        let err = read_dir(
            Path::new("/no/such/folder"),
            DataType::Image,
            &ReadOpts::default(),
        )
        .unwrap_err();
        assert!(err.contains("/no/such/folder"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_to_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.jpg"), b"o").unwrap();
        std::fs::create_dir(outside.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("sub/s.jpg"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("o.jpg"), tmp.path().join("link.jpg"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path().join("sub"), tmp.path().join("dirlink")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("gone.jpg"), tmp.path().join("broken.jpg"))
            .unwrap();
        let found = read_dir(tmp.path(), DataType::Image, &ReadOpts::default()).unwrap();
        assert_eq!(names(&found), ["link.jpg"]);
    }

    #[test]
    fn manifest_fixture() {
        let found = read_fixture("manifest");
        assert_eq!(
            names(&found),
            [
                "images/m1.jpg",
                "images/m2.jpg",
                "images/m3.jpg",
                "images/m4.jpg",
                "images/m5.jpg"
            ]
        );
        let usages: Vec<&str> = found.iter().map(|f| f.usage.as_str()).collect();
        assert_eq!(usages, ["TRAIN", "EVAL", "TRAIN", "", "TRAIN"]);
        let m3 = &find(&found, "images/m3.jpg").annotations.as_ref().unwrap()[0];
        assert!(m3.hard);
        assert_eq!(m3.property, None);
        assert_eq!(m3.loc.as_ref().unwrap()["bndbox"]["xmax"], 30);
        let m5 = find(&found, "images/m5.jpg").annotations.as_ref().unwrap();
        assert_eq!(m5[0].annotated_by, "modelarts/auto_label");
        let dir = fixtures().join("manifest");
        assert_eq!(
            find(&found, "images/m4.jpg").content,
            Content::File(dir.join("./images/m4.jpg"))
        );
    }

    #[test]
    fn manifest_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("img")).unwrap();
        for n in ["a.jpg", "b.jpg", "c.jpg"] {
            std::fs::write(tmp.path().join("img").join(n), n).unwrap();
        }
        let cls = label("cat".into(), KIND_IMAGE_CLASSIFICATION);
        let boxed = Annotation {
            name: "car".into(),
            kind: KIND_OBJECT_DETECTION.into(),
            annotated_by: "modelarts/auto_label".into(),
            loc: Some(
                serde_json::json!({"bndbox": {"xmin": 1, "ymin": 2.5, "xmax": 3, "ymax": 4}}),
            ),
            property: Some(serde_json::json!({"color": "red"})),
            hard: true,
        };
        let easy = Annotation {
            hard: false,
            property: None,
            name: "bus".into(),
            ..boxed.clone()
        };
        let lines = [
            manifest_line("img/a.jpg", "TRAIN", Some(std::slice::from_ref(&cls))),
            manifest_line("img/b.jpg", "EVAL", Some(&[boxed.clone(), easy.clone()])),
            manifest_line("img/c.jpg", "", None),
        ];
        // Key order and the hard flag as written.
        let text = serde_json::to_string(&lines[1]).unwrap();
        assert!(text.starts_with(r#"{"source":"img/b.jpg","usage":"EVAL","annotation":[{"name":"car","type":"modelarts/object_detection","annotated-by":"modelarts/auto_label","annotation-loc":"#), "{text}");
        assert!(text.ends_with(r#"],"hard":"true"}"#), "{text}");
        assert_eq!(
            serde_json::to_string(&lines[2]).unwrap(),
            r#"{"source":"img/c.jpg","usage":"","annotation":[]}"#
        );
        assert!(lines[0].get("hard").is_none());

        let file = tmp.path().join("m.jsonl");
        let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        std::fs::write(&file, body.join("\n") + "\n").unwrap();
        let found = read_manifest(&file, None).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].annotations, Some(vec![cls]));
        assert_eq!(found[1].annotations, Some(vec![boxed, easy]));
        assert_eq!(found[1].usage, "EVAL");
        assert_eq!(found[2].annotations, None);
        assert_eq!(
            found[2].content,
            Content::File(tmp.path().join("img/c.jpg"))
        );
        // And back: the same lines.
        for (f, l) in found.iter().zip(&lines) {
            assert_eq!(
                &manifest_line(&f.name, &f.usage, f.annotations.as_deref()),
                l
            );
        }
    }

    #[test]
    fn manifest_hard_forms() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.jpg"), "a").unwrap();
        let file = tmp.path().join("m.jsonl");
        let ann = r#"{"name":"x","type":"modelarts/image_classification"}"#;
        for (line, hard) in [
            (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":true}}"#), true),
            (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":"TRUE"}}"#), true),
            (format!(r#"{{"source":"a.jpg","annotation":[{ann}],"hard":"false"}}"#), false),
            (
                r#"{"source":"a.jpg","annotation":[{"name":"x","type":"t","property":{"@modelarts:hard":"true"}}]}"#.to_string(),
                true,
            ),
            (
                r#"{"source":"a.jpg","annotation":[{"name":"x","type":"t","property":{"@modelarts:hard":false}}],"hard":"true"}"#.to_string(),
                false,
            ),
        ] {
            std::fs::write(&file, &line).unwrap();
            let found = read_manifest(&file, None).unwrap();
            let a = &found[0].annotations.as_ref().unwrap()[0];
            assert_eq!(a.hard, hard, "{line}");
            assert_eq!(a.annotated_by, "human");
        }
    }

    #[test]
    fn manifest_errors_name_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.jpg"), "a").unwrap();
        let file = tmp.path().join("m.jsonl");
        let ok = r#"{"source":"a.jpg"}"#;
        for (bad, what) in [
            ("[1, 2]", "JSON object"),
            ("not json", "JSON"),
            (r#"{"usage":"TRAIN"}"#, "source"),
            (r#"{"source":"a.jpg","usage":"TEST"}"#, "TEST"),
            (r#"{"source":"missing.jpg"}"#, "missing.jpg"),
            (r#"{"source":"a.jpg","annotation":[{"type":"t"}]}"#, "name"),
            (r#"{"source":"a.jpg","annotation":{"name":"x"}}"#, "array"),
            (r#"{"source":"a.jpg","hard":"maybe"}"#, "hard"),
            (r#"{"source":"obs://bucket/a.jpg"}"#, "OBS"),
            (r#"{"source":"https://example.com/a.jpg"}"#, "URL"),
        ] {
            std::fs::write(&file, format!("{ok}\n\n{bad}\n")).unwrap();
            let err = read_manifest(&file, None).unwrap_err();
            let at = format!("{}:3", file.display());
            assert!(err.contains(&at) && err.contains(what), "{bad}: {err}");
        }
        std::fs::write(&file, b"{\"source\":\"a\xff.jpg\"}\n").unwrap();
        let err = read_manifest(&file, None).unwrap_err();
        assert!(err.contains("m.jsonl") && err.contains("UTF-8"), "{err}");
        let err = read_manifest(&tmp.path().join("nope.jsonl"), None).unwrap_err();
        assert!(err.contains("nope.jsonl"), "{err}");
    }

    #[test]
    fn manifest_obs_root_maps() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("obs");
        std::fs::create_dir_all(root.join("bucket/dir")).unwrap();
        std::fs::write(root.join("bucket/dir/a.jpg"), "a").unwrap();
        let file = tmp.path().join("m.jsonl");
        std::fs::write(&file, "{\"source\":\"obs://bucket/dir/a.jpg\"}\n").unwrap();
        let found = read_manifest(&file, Some(&root)).unwrap();
        assert_eq!(
            found[0].content,
            Content::File(root.join("bucket/dir/a.jpg"))
        );
        assert_eq!(found[0].name, "obs://bucket/dir/a.jpg");
        std::fs::write(&file, "{\"source\":\"obs://bucket/../../etc/passwd\"}\n").unwrap();
        let err = read_manifest(&file, Some(&root)).unwrap_err();
        assert!(err.contains("m.jsonl:1") && err.contains(".."), "{err}");
    }

    #[test]
    fn annotations_from_json_forms() {
        let v = serde_json::json!([
            {"name": "a", "type": "modelarts/image_classification", "extra": 1},
            {"name": "b", "type": "modelarts/object_detection", "annotated-by": "x",
             "annotation-loc": {"bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}},
             "property": {"@modelarts:hard": true, "color": "red"}}
        ]);
        let anns = annotations_from_json(&v).unwrap();
        assert_eq!(anns[0], label("a".into(), KIND_IMAGE_CLASSIFICATION));
        assert!(anns[1].hard);
        assert_eq!(anns[1].property, Some(serde_json::json!({"color": "red"})));
        assert_eq!(
            annotations_from_json(&serde_json::json!([])).unwrap(),
            vec![]
        );
        assert!(annotations_from_json(&serde_json::json!("x")).is_err());
        assert!(annotations_from_json(&serde_json::json!([{"name": "a"}])).is_err());
        assert!(annotations_from_json(&serde_json::json!([{"name": 3, "type": "t"}])).is_err());
    }

    #[test]
    fn fits_refusals() {
        assert_eq!(
            Format::TextClassification
                .fits(DataType::Image)
                .unwrap_err(),
            "label format MA_TEXT_CLASSIFICATION_V1 is for TEXT datasets, not IMAGE"
        );
        assert!(Format::Yolo.fits(DataType::Text).is_err());
        assert!(Format::AudioClassificationDir
            .fits(DataType::Image)
            .is_err());
        assert!(Format::PascalVoc.fits(DataType::FreeFormat).is_err());
        assert!(Format::TextCombine.fits(DataType::Text).is_ok());
        for f in FORMATS {
            assert!(f.fits(f.data_type()).is_ok());
            let others = DATA_TYPES.iter().filter(|t| f.fits(**t).is_ok()).count();
            assert_eq!(others, 1, "{}", f.as_str());
        }
        // read_dir refuses before reading.
        let dir = fixtures().join("ma_text_classification_v1");
        let err = read_dir(&dir, DataType::Image, &opts(Format::TextClassification)).unwrap_err();
        assert!(err.contains("is for TEXT datasets, not IMAGE"), "{err}");
    }

    #[test]
    fn format_parse() {
        for f in FORMATS {
            assert_eq!(Format::parse(f.as_str()), Ok(f));
            assert_eq!(Format::parse(&f.as_str().to_ascii_lowercase()), Ok(f));
        }
        assert_eq!(Format::parse(" yolo "), Ok(Format::Yolo));
        for s in ["CarbonData", "CARBONDATA"] {
            let err = Format::parse(s).unwrap_err();
            assert!(err.contains(&format!("`{s}`")), "{err}");
            assert!(
                err.contains("version format") && err.contains("not support"),
                "{err}"
            );
            assert!(err.contains("MA_IMAGE_CLASSIFICATION_V1"), "{err}");
        }
        let err = Format::parse("COCO").unwrap_err();
        assert!(
            err.starts_with("`COCO` is not a label format wf reads; it takes one of MA_IMAGE_CLASSIFICATION_V1, "),
            "{err}"
        );
        assert!(err.contains("MA_AUDIO_CLASSIFICATION_DIR_V1"), "{err}");
    }

    #[test]
    fn data_types() {
        for t in DATA_TYPES {
            assert_eq!(DataType::parse(t.as_str()), Some(t));
            assert_eq!(DataType::parse(&t.as_str().to_ascii_lowercase()), Some(t));
        }
        assert_eq!(DataType::parse("free_format"), Some(DataType::FreeFormat));
        assert_eq!(DataType::parse("PICTURE"), None);
        assert!(DataType::Image.accepts("jpeg") && DataType::Image.accepts("tiff"));
        assert!(!DataType::Image.accepts("txt") && !DataType::Image.accepts(""));
        assert!(DataType::Text.accepts("txt") && !DataType::Text.accepts("csv"));
        assert!(DataType::Audio.accepts("m4a") && !DataType::Audio.accepts("mp4"));
        assert!(DataType::Video.accepts("webm") && DataType::Tabular.accepts("csv"));
        assert!(DataType::FreeFormat.accepts("") && DataType::FreeFormat.accepts("bin"));
    }
}
