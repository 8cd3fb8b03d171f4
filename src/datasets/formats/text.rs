//! Text classification: a `NAME_result.txt` of labels beside each `NAME.txt`
//! (`MA_TEXT_CLASSIFICATION_V1`), or files of `text<sep>labels` lines, one sample a line
//! (`MA_TEXT_CLASSIFICATION_COMBINE_V1`).

use super::folder::{Entry, Index};
use super::labels::{classification, file_sample, lines_labels, read_text};
use super::{malformed, Content, Found, ReadOpts, Result, KIND_TEXT_CLASSIFICATION};

/// The samples of a combined text file: one a non-blank line, `text<sep>label,label`.
pub(super) fn read_combined(e: &Entry, opts: &ReadOpts, found: &mut Vec<Found>) -> Result<()> {
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
            return Err(malformed(format!(
                "{}:{}: expected `text{}label`, but the text is empty",
                e.path.display(),
                i + 1,
                sep.escape_default()
            )));
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

/// Each text with the labels of the `NAME_result.txt` beside it; the result files are no
/// samples.
pub(super) fn read_results(
    samples: &[&Entry],
    index: &Index,
    opts: &ReadOpts,
) -> Result<Vec<Found>> {
    let mut found = Vec::with_capacity(samples.len());
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
    Ok(found)
}

/// The samples of every combined text file.
pub(super) fn read_combined_files(samples: &[&Entry], opts: &ReadOpts) -> Result<Vec<Found>> {
    let mut found = Vec::new();
    for e in samples {
        read_combined(e, opts, &mut found)?;
    }
    Ok(found)
}
