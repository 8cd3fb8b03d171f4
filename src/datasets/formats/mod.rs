//! Reading samples and their labels from a folder or a manifest, in the label formats of
//! `AnnotationFormatEnum` (README, "Datasets") and ModelArts' manifest (JSON lines).
//!
//! Nothing here touches the dataset store: a reader returns what it found, the store keeps it.
//!
//! | module           | reads                                                          |
//! |------------------|----------------------------------------------------------------|
//! | `manifest`       | ModelArts' manifest (JSON lines), and writes its lines         |
//! | `classification` | labels in a `.txt` beside each image, or a folder per label    |
//! |                  | (`MA_IMAGE_CLASSIFICATION_V1`, `MA_IMAGENET_V1`,               |
//! |                  | `MA_AUDIO_CLASSIFICATION_DIR_V1`)                              |
//! | `voc`            | Pascal VOC XML: boxes, and the segmentation variant's masks    |
//! | `yolo`           | YOLO: `classes.txt` and a label file per image                 |
//! | `text`           | text classification: `*_result.txt` files, or combined lines   |
//! | `folder`         | the folder walked, and a sample's label file found beside it   |
//! | `labels`         | what the readers share: label files as text, labels a line     |

mod classification;
mod folder;
mod labels;
mod manifest;
#[cfg(test)]
mod tests;
mod text;
mod voc;
mod yolo;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use manifest::{annotations_from_json, manifest_line, read_manifest};

use folder::{walk, Index};
use labels::file_sample;

/// Why a folder, a manifest or a format's name cannot be read; each renders as the
/// sentence the user reads, naming the file (and line) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A value that names no label format, or a format that does not fit the data type.
    #[error("{0}")]
    Invalid(String),
    /// A label file or a manifest line that is not what its format says.
    #[error("{0}")]
    Malformed(String),
    /// A file or folder that cannot be read.
    #[error("{doing}: {source}")]
    Io {
        /// What could not be done, naming the path (`PATH: cannot read`).
        doing: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::store::Classify for FormatError {
    fn kind(&self) -> crate::store::ErrorKind {
        use crate::store::ErrorKind;
        match self {
            FormatError::Invalid(_) | FormatError::Malformed(_) => ErrorKind::Invalid,
            FormatError::Io { .. } => ErrorKind::Internal,
        }
    }
}

impl FormatError {
    fn io(path: &Path, doing: String, source: std::io::Error) -> FormatError {
        FormatError::Io {
            doing,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The same error, its message starting with `at: ` (a manifest's line).
    fn at(self, at: &str) -> FormatError {
        match self {
            FormatError::Invalid(m) => FormatError::Invalid(format!("{at}: {m}")),
            FormatError::Malformed(m) => FormatError::Malformed(format!("{at}: {m}")),
            FormatError::Io {
                doing,
                path,
                source,
            } => FormatError::Io {
                doing: format!("{at}: {doing}"),
                path,
                source,
            },
        }
    }
}

impl From<FormatError> for String {
    fn from(e: FormatError) -> String {
        e.to_string()
    }
}

type Result<T> = std::result::Result<T, FormatError>;

fn malformed(m: String) -> FormatError {
    FormatError::Malformed(m)
}

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
    pub fn parse(s: &str) -> Result<Format> {
        let t = s.trim();
        if let Some(f) = FORMATS
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(t))
        {
            return Ok(f);
        }
        let accepted = FORMATS.map(Format::as_str).join(", ");
        if t.eq_ignore_ascii_case("carbondata") {
            return Err(FormatError::Invalid(format!(
                "`{s}` is a dataset version format (ModelArts' CarbonData export of tabular \
                 versions), not a label format; wf does not support it here. Label formats wf \
                 reads: {accepted}"
            )));
        }
        Err(FormatError::Invalid(format!(
            "`{s}` is not a label format wf reads; it takes one of {accepted}"
        )))
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
    pub fn fits(self, data_type: DataType) -> Result<()> {
        let wanted = self.data_type();
        if wanted == data_type {
            Ok(())
        } else {
            Err(FormatError::Invalid(format!(
                "label format {} is for {} datasets, not {}",
                self.as_str(),
                wanted.as_str(),
                data_type.as_str()
            )))
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
pub fn read_dir(dir: &Path, data_type: DataType, opts: &ReadOpts) -> Result<Vec<Found>> {
    if let Some(format) = opts.format {
        format.fits(data_type)?;
    }
    let entries = walk(dir)?;
    let index = Index::new(&entries);
    let samples: Vec<&folder::Entry> = entries
        .iter()
        .filter(|e| data_type.accepts(&e.ext))
        .collect();

    let mut found: Vec<Found> = match opts.format {
        None => samples.iter().map(|e| file_sample(e, None)).collect(),
        Some(Format::ImageClassification) => classification::read_beside(&samples, &index)?,
        Some(Format::ImageNet) => {
            classification::read_by_folder(&samples, KIND_IMAGE_CLASSIFICATION)
        }
        Some(Format::AudioClassificationDir) => {
            classification::read_by_folder(&samples, KIND_AUDIO_CLASSIFICATION)
        }
        Some(Format::PascalVoc) => voc::read_boxes(&samples, &index)?,
        Some(Format::ImageSegmentation) => voc::read_segmentation(&samples, &index)?,
        Some(Format::Yolo) => yolo::read(dir, &samples, &index)?,
        Some(Format::TextClassification) => text::read_results(&samples, &index, opts)?,
        Some(Format::TextCombine) => text::read_combined_files(&samples, opts)?,
    };

    if opts.difficult_only {
        found.retain(|f| f.annotations.iter().flatten().any(|a| a.hard));
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
