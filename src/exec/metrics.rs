//! A job's metrics file: the JSON formats of the reference manual (§4.4.5.4, "Job Phase With
//! Visualization"), read and checked.
//!
//! A metrics file is a JSON array of entries `{"key", "title", "type", "data"}`; `type` is one of
//! `float` (`data.value`), `line chart` and `histogram` (`data.x_axis` / `data.y_axis`, each a
//! list of `{title, value: [numbers]}`), `table` (a confusion matrix: `data.cell_value`,
//! `data.col_labels`, `data.row_labels`) and `one-dimensional-table` (`data.cell_value`,
//! `data.labels`). Only `float` entries have a single value, so only they reach
//! [`Metrics::scalars`] and conditions; the rest are kept as read for records and display.
//!
//! The whole file is validated, not just the float entries: the job wrote it for a
//! visualization that would otherwise break later and far from the cause, and a file in some
//! other format (`{"accuracy": 0.9}`) must not silently produce no metrics.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

/// The manual's limit on a metrics file: 1 MB.
pub const MAX_METRICS_BYTES: u64 = 1 << 20;

/// The entry types the manual defines, in its order (listed in messages).
const TYPES: [&str; 5] = [
    "float",
    "line chart",
    "histogram",
    "table",
    "one-dimensional-table",
];

/// A validated metrics file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// key -> value of every `"float"` entry, in file order.
    pub scalars: IndexMap<String, f64>,
    /// The whole validated file, as read (a JSON array).
    pub entries: Value,
}

/// Why a metrics file was refused. Every message names the file; an entry's problem also names
/// the entry (its index from 0, as in the JSON array, and its key when it has one).
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics file `{}` does not exist: the job wrote no metrics there", .path.display())]
    Missing { path: PathBuf },
    #[error("metrics file `{}` cannot be read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "metrics file `{}` is {} ({size} bytes); a metrics file holds at most 1 MB ({MAX_METRICS_BYTES} bytes)",
        .path.display(), human_size(*.size)
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error(
        "metrics file `{}` is not UTF-8 text (invalid byte at offset {offset}); it must be a JSON array of metric entries",
        .path.display()
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("metrics file `{}` is empty; it must be a JSON array of metric entries", .path.display())]
    Empty { path: PathBuf },
    #[error("metrics file `{}` is not JSON: {message} at {line}:{col}", .path.display())]
    NotJson {
        path: PathBuf,
        message: String,
        line: usize,
        col: usize,
    },
    #[error(
        "metrics file `{}` holds {found} at the top level; it must be a JSON array of metric entries such as [{{\"key\": \"accuracy\", \"title\": \"accuracy\", \"type\": \"float\", \"data\": {{\"value\": 0.9}}}}]",
        .path.display()
    )]
    NotArray { path: PathBuf, found: String },
    #[error("metrics file `{}`: entry {index}{} {problem}", .path.display(), KeyNote(.key.as_deref()))]
    Entry {
        path: PathBuf,
        index: usize,
        key: Option<String>,
        problem: String,
    },
    #[error(
        "metrics file `{}`: entries {first} and {second} both give the float metric `{key}`; each key may appear once",
        .path.display()
    )]
    DuplicateKey {
        path: PathBuf,
        key: String,
        first: usize,
        second: usize,
    },
}

/// ` (`key`)` after an entry's index, when the entry has a key.
struct KeyNote<'a>(Option<&'a str>);

impl fmt::Display for KeyNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, " (`{k}`)"),
            None => Ok(()),
        }
    }
}

fn human_size(bytes: u64) -> String {
    // Precision is irrelevant here; the exact byte count follows in the message.
    format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
}

/// What a file that is not a regular one is, for messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Opens a file for reading without ever blocking on it (a file swapped for a FIFO between
/// a check and the open).
pub fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Reads and validates the metrics file at `path`.
pub fn read_metrics(path: &Path) -> Result<Metrics, MetricsError> {
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            MetricsError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            MetricsError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    // Looked at before it is opened: opening a FIFO would wait for a writer forever.
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(MetricsError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "it is {}, not a regular file",
                file_kind(&meta)
            )),
        });
    }
    let file = open_nonblocking(path).map_err(io_err)?;
    if meta.len() > MAX_METRICS_BYTES {
        return Err(MetricsError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    // Read one byte past the limit rather than trusting the size above: the job may still be
    // writing, and a file that grew must not be read whole into memory.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_METRICS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_METRICS_BYTES {
        return Err(MetricsError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| MetricsError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.valid_up_to(),
    })?;
    parse_metrics(text, path)
}

/// Validates metrics text; `path_for_messages` only names the file in errors.
pub fn parse_metrics(text: &str, path_for_messages: &Path) -> Result<Metrics, MetricsError> {
    let path = || path_for_messages.to_path_buf();
    // Editors on Windows may start a UTF-8 file with a byte order mark, which JSON forbids
    // but which carries no meaning; accept it rather than fail on an invisible character.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(MetricsError::Empty { path: path() });
    }
    let entries: Value = serde_json::from_str(text).map_err(|e| MetricsError::NotJson {
        path: path(),
        message: json_message(&e),
        line: e.line(),
        col: e.column(),
    })?;
    let Value::Array(items) = &entries else {
        return Err(MetricsError::NotArray {
            path: path(),
            found: describe_top(&entries),
        });
    };

    let mut scalars = IndexMap::new();
    // key -> index of the entry that gave it, to name both entries of a duplicate.
    let mut seen: IndexMap<String, usize> = IndexMap::new();
    for (index, item) in items.iter().enumerate() {
        let entry_err = |key: Option<&str>, problem: String| MetricsError::Entry {
            path: path(),
            index,
            key: key.map(str::to_string),
            problem,
        };
        let (key, value) = check_entry(item).map_err(|(k, p)| entry_err(k, p))?;
        if let Some(v) = value {
            if let Some(&first) = seen.get(key) {
                return Err(MetricsError::DuplicateKey {
                    path: path(),
                    key: key.to_string(),
                    first,
                    second: index,
                });
            }
            seen.insert(key.to_string(), index);
            scalars.insert(key.to_string(), v);
        }
    }
    Ok(Metrics { scalars, entries })
}

/// serde_json's message without its own " at line L column C" suffix (we add `L:C`).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

/// What a top-level non-array is, with a hint for the common wrong shapes.
fn describe_top(v: &Value) -> String {
    match v {
        // `{"accuracy": 0.9}` is the format people write first; point at the right one.
        Value::Object(m) if !m.contains_key("type") => {
            "a JSON object (a plain key-value object is not a metrics format)".into()
        }
        Value::Object(_) => "a single JSON object (wrap the entry in [ ])".into(),
        other => kind(other).into(),
    }
}

/// A JSON value's kind, with its article, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An entry problem: the entry's key when known, and what is wrong.
type EntryProblem<'a> = (Option<&'a str>, String);

/// Checks one entry; returns its key and, for a `float` entry, its value.
fn check_entry(item: &Value) -> Result<(&str, Option<f64>), EntryProblem<'_>> {
    let Value::Object(entry) = item else {
        return Err((
            None,
            format!(
                "is {}; each entry is an object {{\"key\", \"title\", \"type\", \"data\"}}",
                kind(item)
            ),
        ));
    };
    let key = match entry.get("key") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(Value::String(_)) => return Err((None, "has an empty `key`".into())),
        Some(other) => {
            return Err((
                None,
                format!("has `key` as {}; it must be a string", kind(other)),
            ))
        }
        None => return Err((None, "has no `key`; each entry needs a string `key`".into())),
    };
    let fail = |problem: String| Err((Some(key), problem));
    // Titles are only captions: not required, but must be text when given.
    if let Some(t) = entry.get("title") {
        if !t.is_string() {
            return fail(format!("has `title` as {}; it must be a string", kind(t)));
        }
    }
    let ty = match entry.get("type") {
        Some(Value::String(s)) if TYPES.contains(&s.as_str()) => s.as_str(),
        Some(Value::String(s)) => {
            return fail(format!(
                "has unknown type \"{s}\"; the types are {}",
                quoted_types()
            ))
        }
        Some(other) => {
            return fail(format!(
                "has `type` as {}; it must be one of {}",
                kind(other),
                quoted_types()
            ))
        }
        None => {
            return fail(format!(
                "has no `type`; it must be one of {}",
                quoted_types()
            ))
        }
    };
    let data = match entry.get("data") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return fail(format!(
                "of type \"{ty}\" needs `data` as an object, got {}",
                kind(other)
            ))
        }
        None => return fail(format!("of type \"{ty}\" has no `data`")),
    };
    let at = |problem: String| (Some(key), format!("of type \"{ty}\" {problem}"));
    match ty {
        "float" => match data.get("value") {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) => Ok((key, Some(v))),
                None => Err(at("has a `data.value` out of range".into())),
            },
            Some(other) => Err(at(format!(
                "needs `data.value` as a number, got {}",
                kind(other)
            ))),
            None => Err(at("needs `data.value` as a number".into())),
        },
        "line chart" | "histogram" => {
            // The manual's line-chart example is split by a page break that leaves `y_axis`
            // outside `data`; name the right place instead of just "missing".
            if !data.contains_key("y_axis") && entry.contains_key("y_axis") {
                return Err(at(
                    "has `y_axis` beside `data`; it belongs inside `data`".into()
                ));
            }
            check_chart(data).map_err(|p| at(p.to_string()))?;
            Ok((key, None))
        }
        "table" => {
            check_table(data).map_err(|p| at(p.to_string()))?;
            Ok((key, None))
        }
        _ => {
            check_one_dim_table(data).map_err(|p| at(p.to_string()))?;
            Ok((key, None))
        }
    }
}

fn quoted_types() -> String {
    TYPES
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

type Data = serde_json::Map<String, Value>;

/// What is wrong with a chart's or a table's `data`: the field, and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataProblem {
    /// `at` holds a value of the wrong kind; `expected` is what it should be.
    #[error("needs `{at}` as {expected}, got {got}")]
    Expected {
        at: String,
        expected: &'static str,
        got: &'static str,
    },
    #[error("needs `{at}`, {expected}")]
    Missing { at: String, expected: &'static str },
    #[error("has an empty `{at}`")]
    Empty { at: String },
    /// Item `index` of the list at `at` is not one of `expected` (numbers, strings).
    #[error("needs `{at}` as a list of {expected}, but item {index} is {got}")]
    Item {
        at: String,
        expected: &'static str,
        index: usize,
        got: &'static str,
    },
    #[error("has `{at}.title` as {got}; it must be a string")]
    Title { at: String, got: &'static str },
    #[error("has `data.{field}[{index}].value` with {len} numbers but `data.x_axis[0].value` with {expected}; the axes must be the same length")]
    AxisLength {
        field: &'static str,
        index: usize,
        len: usize,
        expected: usize,
    },
    #[error("has {rows} rows in `data.cell_value` but {labels} in `data.row_labels.value`")]
    Rows { rows: usize, labels: usize },
    /// Row `index` of `data.cell_value` has `len` cells, not one per label of `labels_at`.
    #[error("has {len} cells in `data.cell_value[{index}]` but {labels} in `{labels_at}`")]
    Cells {
        index: usize,
        len: usize,
        labels: usize,
        labels_at: &'static str,
    },
}

const SERIES: &str = "a list of {\"title\", \"value\": [numbers]}";
const SERIES_ITEM: &str = "an object {\"title\", \"value\": [numbers]}";
const LABELS: &str = "an object {\"title\", \"value\": [strings]}";
const ROWS: &str = "a list of rows of numbers ([[1, 2], [3, 4]])";

/// `field` of `data` where it must be given as `expected`.
fn expected(at: impl Into<String>, expected: &'static str, v: Option<&Value>) -> DataProblem {
    match v {
        Some(other) => DataProblem::Expected {
            at: at.into(),
            expected,
            got: kind(other),
        },
        None => DataProblem::Missing {
            at: at.into(),
            expected,
        },
    }
}

/// `x_axis` and `y_axis`: non-empty lists of series `{title, value: [numbers]}`, every series
/// as long as the first x series (each y needs its x).
fn check_chart(data: &Data) -> Result<(), DataProblem> {
    let xs = series_list(data, "x_axis")?;
    let ys = series_list(data, "y_axis")?;
    let expected = xs[0];
    for (field, series) in [("x_axis", &xs), ("y_axis", &ys)] {
        for (i, len) in series.iter().enumerate() {
            if *len != expected {
                return Err(DataProblem::AxisLength {
                    field,
                    index: i,
                    len: *len,
                    expected,
                });
            }
        }
    }
    Ok(())
}

/// A non-empty list of axis series; returns each series' length.
fn series_list(data: &Data, field: &str) -> Result<Vec<usize>, DataProblem> {
    let list = match data.get(field) {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(DataProblem::Empty {
                at: format!("data.{field}"),
            })
        }
        other => return Err(expected(format!("data.{field}"), SERIES, other)),
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let at = format!("data.{field}[{i}]");
            let obj = s
                .as_object()
                .ok_or_else(|| expected(at.clone(), SERIES_ITEM, Some(s)))?;
            check_title(obj, &at)?;
            numbers(obj.get("value"), &format!("{at}.value"))
        })
        .collect()
}

/// `{"title": str, "value": [str]}`, as a table's row and column labels; returns how many.
fn labels_obj(data: &Data, field: &str) -> Result<usize, DataProblem> {
    let at = format!("data.{field}");
    let obj = match data.get(field) {
        Some(Value::Object(o)) => o,
        other => return Err(expected(at, LABELS, other)),
    };
    check_title(obj, &at)?;
    strings(obj.get("value"), &format!("{at}.value"))
}

fn check_title(obj: &Data, at: &str) -> Result<(), DataProblem> {
    match obj.get("title") {
        None | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(DataProblem::Title {
            at: at.to_string(),
            got: kind(other),
        }),
    }
}

/// A list of numbers at `at`; returns its length.
fn numbers(v: Option<&Value>, at: &str) -> Result<usize, DataProblem> {
    list_of(v, at, ("a list of numbers", "numbers"), Value::is_number)
}

/// A list of strings at `at`; returns its length.
fn strings(v: Option<&Value>, at: &str) -> Result<usize, DataProblem> {
    list_of(v, at, ("a list of strings", "strings"), Value::is_string)
}

/// A list at `at` whose every item `is` one of `items`; `list` names the whole list.
/// Returns its length.
fn list_of(
    v: Option<&Value>,
    at: &str,
    (list, items): (&'static str, &'static str),
    is: fn(&Value) -> bool,
) -> Result<usize, DataProblem> {
    let list = match v {
        Some(Value::Array(a)) => a,
        other => return Err(expected(at, list, other)),
    };
    if let Some((i, bad)) = list.iter().enumerate().find(|(_, x)| !is(x)) {
        return Err(DataProblem::Item {
            at: at.to_string(),
            expected: items,
            index: i,
            got: kind(bad),
        });
    }
    Ok(list.len())
}

/// `cell_value`: a non-empty list of rows, each a list of numbers; returns each row's length.
fn cells(data: &Data) -> Result<Vec<usize>, DataProblem> {
    let rows = match data.get("cell_value") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(DataProblem::Empty {
                at: "data.cell_value".into(),
            })
        }
        other => return Err(expected("data.cell_value", ROWS, other)),
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| numbers(Some(r), &format!("data.cell_value[{i}]")))
        .collect()
}

/// A confusion matrix: one row per row label, one cell per column label.
fn check_table(data: &Data) -> Result<(), DataProblem> {
    let rows = cells(data)?;
    let cols = labels_obj(data, "col_labels")?;
    let row_labels = labels_obj(data, "row_labels")?;
    if rows.len() != row_labels {
        return Err(DataProblem::Rows {
            rows: rows.len(),
            labels: row_labels,
        });
    }
    if let Some((i, len)) = rows.iter().enumerate().find(|(_, l)| **l != cols) {
        return Err(DataProblem::Cells {
            index: i,
            len: *len,
            labels: cols,
            labels_at: "data.col_labels.value",
        });
    }
    Ok(())
}

/// One-dimensional table: every row has one cell per label.
fn check_one_dim_table(data: &Data) -> Result<(), DataProblem> {
    let rows = cells(data)?;
    let labels = strings(data.get("labels"), "data.labels")?;
    if let Some((i, len)) = rows.iter().enumerate().find(|(_, l)| **l != labels) {
        return Err(DataProblem::Cells {
            index: i,
            len: *len,
            labels,
            labels_at: "data.labels",
        });
    }
    Ok(())
}

/// `accuracy=0.95 loss=0.11`: a step's float metrics on one line, if it has any.
pub fn metrics_line(metrics: Option<&Value>) -> Option<String> {
    let m = metrics?.as_object().filter(|m| !m.is_empty())?;
    Some(
        m.iter()
            .map(|(k, v)| format!("{k}={}", short_number(v)))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A metric for a table: at most four decimals, the full value stays in `--json`.
pub fn short_number(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() != 0.0 => {
            let t = format!("{x:.4}");
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn parse(text: &str) -> Result<Metrics, MetricsError> {
        parse_metrics(text, Path::new("/x/m.json"))
    }

    /// What a chart's or a table's data lacks, in full: the field and what was expected.
    #[test]
    fn data_problems_name_the_field_and_what_was_expected() {
        let problem = |data: Value| {
            let Value::Object(d) = data else { panic!() };
            check_chart(&d).err().or_else(|| check_table(&d).err())
        };
        let cases = [
            (
                json!({"x_axis": 3}),
                "needs `data.x_axis` as a list of {\"title\", \"value\": [numbers]}, got a number",
            ),
            (
                json!({}),
                "needs `data.x_axis`, a list of {\"title\", \"value\": [numbers]}",
            ),
            (json!({"x_axis": []}), "has an empty `data.x_axis`"),
            (
                json!({"x_axis": [{"title": 1, "value": [1]}]}),
                "has `data.x_axis[0].title` as a number; it must be a string",
            ),
            (
                json!({"x_axis": [{"value": [1, "a"]}]}),
                "needs `data.x_axis[0].value` as a list of numbers, but item 1 is a string",
            ),
            (
                json!({"x_axis": [{"value": [1, 2]}], "y_axis": [{"value": [1]}]}),
                "has `data.y_axis[0].value` with 1 numbers but `data.x_axis[0].value` with 2; the axes must be the same length",
            ),
        ];
        for (data, want) in cases {
            assert_eq!(problem(data).map(|p| p.to_string()).as_deref(), Some(want));
        }
        let Value::Object(table) = json!({"cell_value": [[1]], "col_labels": {"value": ["a"]},
            "row_labels": {"value": 2}})
        else {
            panic!()
        };
        assert_eq!(
            check_table(&table).unwrap_err(),
            DataProblem::Expected {
                at: "data.row_labels.value".into(),
                expected: "a list of strings",
                got: "a number",
            }
        );
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(m) => panic!("accepted {text}: {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A file under the system temp folder with a name no other test uses.
    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wf-metrics-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).expect("write temp file");
        path
    }

    const FLOATS: &str = r#"[
      {"key": "loss", "title": "loss", "type": "float", "data": {"value": 1.2}},
      {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": 1}}
    ]"#;

    const LINE: &str = r#"[{"key": "metric", "title": "metric", "type": "line chart",
      "data": {"x_axis": [{"title": "step/epoch", "value": [1, 2, 3]}],
               "y_axis": [{"title": "value", "value": [0.5, 0.4, 0.3]}]}}]"#;

    const TABLE: &str = r#"[{"key": "confusion_matrix", "title": "confusion_matrix", "type": "table",
      "data": {"cell_value": [[1, 2], [2, 3]],
               "col_labels": {"title": "labels", "value": ["daisy", "dandelion"]},
               "row_labels": {"title": "predictions", "value": ["daisy", "dandelion"]}}}]"#;

    const ONE_DIM: &str = r#"[{"key": "Application Evaluation Results",
      "title": "Application Evaluation Results", "type": "one-dimensional-table",
      "data": {"cell_value": [[10, 2, 0.5]], "labels": ["samples", "maxResTine", "p99"]}}]"#;

    #[test]
    fn floats_become_scalars_in_order() {
        let m = parse(FLOATS).unwrap();
        let got: Vec<_> = m.scalars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(got, [("loss", 1.2), ("accuracy", 1.0)]);
        assert_eq!(m.entries.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn empty_array_is_no_metrics() {
        let m = parse("[]").unwrap();
        assert!(m.scalars.is_empty());
    }

    #[test]
    fn charts_and_tables_are_accepted_without_scalars() {
        let histogram = LINE.replace("line chart", "histogram");
        for text in [LINE, histogram.as_str(), TABLE, ONE_DIM] {
            let m = parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert!(m.scalars.is_empty());
            assert_eq!(m.entries, serde_json::from_str::<Value>(text).unwrap());
        }
    }

    #[test]
    fn mixed_file_keeps_every_entry() {
        let text = format!(
            "[{}, {}, {}]",
            &FLOATS.trim()[1..FLOATS.trim().len() - 1],
            &LINE[1..LINE.len() - 1],
            &TABLE[1..TABLE.len() - 1]
        );
        let m = parse(&text).unwrap();
        assert_eq!(m.scalars.len(), 2);
        assert_eq!(m.entries.as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn float_value_must_be_a_number() {
        let e = err(r#"[{"key": "loss", "type": "float", "data": {"value": 1}},
                {"key": "accuracy", "title": "accuracy", "type": "float", "data": {"value": "0.9"}}]"#);
        assert_eq!(
            e,
            "metrics file `/x/m.json`: entry 1 (`accuracy`) of type \"float\" needs `data.value` as a number, got a string"
        );
        let e = err(r#"[{"key": "a", "type": "float", "data": {}}]"#);
        assert!(
            e.contains("entry 0 (`a`) of type \"float\" needs `data.value`"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_float_keys_are_refused() {
        let e = err(r#"[{"key": "acc", "type": "float", "data": {"value": 1}},
                {"key": "loss", "type": "float", "data": {"value": 2}},
                {"key": "acc", "type": "float", "data": {"value": 3}}]"#);
        assert!(
            e.contains("entries 0 and 2 both give the float metric `acc`"),
            "{e}"
        );
    }

    #[test]
    fn entry_shape_errors() {
        let e = err(r#"[3]"#);
        assert!(
            e.contains("entry 0 is a number; each entry is an object"),
            "{e}"
        );
        let e = err(r#"[{"type": "float", "data": {"value": 1}}]"#);
        assert!(e.contains("entry 0 has no `key`"), "{e}");
        let e = err(r#"[{"key": 5, "type": "float", "data": {"value": 1}}]"#);
        assert!(e.contains("has `key` as a number"), "{e}");
        let e = err(r#"[{"key": "a", "data": {"value": 1}}]"#);
        assert!(e.contains("entry 0 (`a`) has no `type`"), "{e}");
        let e = err(r#"[{"key": "a", "type": "pie", "data": {}}]"#);
        assert!(
            e.contains(r#"unknown type "pie"; the types are "float", "line chart", "histogram", "table", "one-dimensional-table""#),
            "{e}"
        );
        let e = err(r#"[{"key": "a", "type": "float"}]"#);
        assert!(e.contains("has no `data`"), "{e}");
        let e = err(r#"[{"key": "a", "type": "float", "data": 1.0}]"#);
        assert!(e.contains("needs `data` as an object, got a number"), "{e}");
        let e = err(r#"[{"key": "a", "title": 1, "type": "float", "data": {"value": 1}}]"#);
        assert!(e.contains("has `title` as a number"), "{e}");
    }

    #[test]
    fn chart_errors() {
        let e = err(&LINE.replace("[0.5, 0.4, 0.3]", "[0.5, 0.4]"));
        assert!(
            e.contains("`data.y_axis[0].value` with 2 numbers but `data.x_axis[0].value` with 3"),
            "{e}"
        );
        let e = err(&LINE.replace("[1, 2, 3]", "[1, \"2\", 3]"));
        assert!(
            e.contains("`data.x_axis[0].value` as a list of numbers, but item 1 is a string"),
            "{e}"
        );
        let e = err(&LINE.replace("\"y_axis\"", "\"z_axis\""));
        assert!(
            e.contains("of type \"line chart\" needs `data.y_axis`"),
            "{e}"
        );
        let e = err(r#"[{"key": "m", "type": "histogram", "data": {"x_axis": [], "y_axis": []}}]"#);
        assert!(e.contains("empty `data.x_axis`"), "{e}");
        let e =
            err(r#"[{"key": "m", "type": "histogram", "data": {"x_axis": [1], "y_axis": [1]}}]"#);
        assert!(e.contains("needs `data.x_axis[0]` as an object"), "{e}");
        // The manual's page break: y_axis beside data.
        let e = err(r#"[{"key": "m", "type": "line chart",
                 "data": {"x_axis": [{"title": "t", "value": [1]}]},
                 "y_axis": [{"title": "v", "value": [1]}]}]"#);
        assert!(
            e.contains("`y_axis` beside `data`; it belongs inside `data`"),
            "{e}"
        );
    }

    #[test]
    fn table_errors() {
        let e = err(&TABLE.replace("[[1, 2], [2, 3]]", "[[1, 2], [2]]"));
        assert!(
            e.contains("1 cells in `data.cell_value[1]` but 2 in `data.col_labels.value`"),
            "{e}"
        );
        let e = err(&TABLE.replace("[[1, 2], [2, 3]]", "[[1, 2]]"));
        assert!(
            e.contains("1 rows in `data.cell_value` but 2 in `data.row_labels.value`"),
            "{e}"
        );
        let e = err(&TABLE.replace("\"dandelion\"]", "2]"));
        assert!(
            e.contains("`data.col_labels.value` as a list of strings, but item 1 is a number"),
            "{e}"
        );
        let e = err(&TABLE.replace("\"row_labels\"", "\"rows\""));
        assert!(e.contains("needs `data.row_labels`"), "{e}");
        let e = err(&TABLE.replace("[[1, 2], [2, 3]]", "[1, 2]"));
        assert!(
            e.contains("`data.cell_value[0]` as a list of numbers, got a number"),
            "{e}"
        );
    }

    #[test]
    fn one_dimensional_table_errors() {
        let e = err(&ONE_DIM.replace("[[10, 2, 0.5]]", "[[10, 2]]"));
        assert!(
            e.contains("2 cells in `data.cell_value[0]` but 3 in `data.labels`"),
            "{e}"
        );
        let e = err(&ONE_DIM.replace("\"labels\"", "\"names\""));
        assert!(e.contains("needs `data.labels`, a list of strings"), "{e}");
        let e = err(&ONE_DIM.replace("[[10, 2, 0.5]]", "[]"));
        assert!(e.contains("empty `data.cell_value`"), "{e}");
    }

    #[test]
    fn top_level_must_be_an_array() {
        let e = err(r#"{"accuracy": 0.9}"#);
        assert!(
            e.starts_with("metrics file `/x/m.json` holds a JSON object (a plain key-value object is not a metrics format) at the top level; it must be a JSON array"),
            "{e}"
        );
        let e = err(r#"{"key": "a", "type": "float", "data": {"value": 1}}"#);
        assert!(
            e.contains("a single JSON object (wrap the entry in [ ])"),
            "{e}"
        );
        let e = err("0.9");
        assert!(e.contains("holds a number at the top level"), "{e}");
    }

    #[test]
    fn not_json_names_line_and_column() {
        let e = err("[\n  {\"key\": }\n]");
        assert!(
            e.starts_with("metrics file `/x/m.json` is not JSON: "),
            "{e}"
        );
        assert!(e.ends_with(" at 2:11"), "{e}");
        assert!(err("  \n").contains("is empty"));
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        assert!(parse("\u{feff}[]").is_ok());
    }

    #[test]
    fn reads_a_file() {
        let p = temp_file("ok.json", FLOATS.as_bytes());
        let m = read_metrics(&p).unwrap();
        assert_eq!(m.scalars.get("loss"), Some(&1.2));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn missing_file() {
        let p = std::env::temp_dir().join("wf-metrics-surely-missing-7f3a/m.json");
        let e = read_metrics(&p).unwrap_err();
        assert!(matches!(e, MetricsError::Missing { .. }));
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[test]
    fn directory_is_refused() {
        let e = read_metrics(&std::env::temp_dir()).unwrap_err();
        assert!(e.to_string().contains("it is a directory"), "{e}");
    }

    #[test]
    fn size_limit() {
        // Exactly 1 MB is allowed: a valid array padded with spaces.
        let mut at_limit = b"[]".to_vec();
        at_limit.resize(MAX_METRICS_BYTES as usize, b' ');
        let p = temp_file("limit.json", &at_limit);
        assert!(read_metrics(&p).is_ok());
        let _ = std::fs::remove_file(&p);

        at_limit.push(b' ');
        let p = temp_file("big.json", &at_limit);
        let e = read_metrics(&p).unwrap_err();
        assert!(matches!(e, MetricsError::TooLarge { size, .. } if size == MAX_METRICS_BYTES + 1));
        let msg = e.to_string();
        assert!(msg.contains("is 1.0 MB (1048577 bytes)"), "{msg}");
        assert!(msg.contains("at most 1 MB"), "{msg}");
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn binary_file_is_refused() {
        let p = temp_file("bin", &[0x89, b'P', b'N', b'G', 0xff, 0x00]);
        let e = read_metrics(&p).unwrap_err().to_string();
        assert!(
            e.contains("is not UTF-8 text (invalid byte at offset 0)"),
            "{e}"
        );
        let _ = std::fs::remove_file(p);

        // Valid UTF-8 that is not JSON either.
        let p = temp_file("csv", b"accuracy,0.9\n");
        let e = read_metrics(&p).unwrap_err().to_string();
        assert!(e.contains("is not JSON"), "{e}");
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn foreign_json_file_is_refused() {
        let p = temp_file("foreign.json", br#"{"accuracy": 0.9}"#);
        let e = read_metrics(&p).unwrap_err();
        assert!(matches!(e, MetricsError::NotArray { .. }), "{e}");
        let _ = std::fs::remove_file(p);
    }
}
