//! Classification by names: labels in a `.txt` beside each image, one a line
//! (`MA_IMAGE_CLASSIFICATION_V1`), or the top folder a sample is in
//! (`MA_IMAGENET_V1`, `MA_AUDIO_CLASSIFICATION_DIR_V1`).

use super::folder::{Entry, Index};
use super::labels::{classification, file_sample, lines_labels, read_text};
use super::{Found, Result, KIND_IMAGE_CLASSIFICATION};

/// Each image with the labels of the `.txt` of its name beside it (none without one).
pub(super) fn read_beside(samples: &[&Entry], index: &Index) -> Result<Vec<Found>> {
    let mut found = Vec::with_capacity(samples.len());
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
    Ok(found)
}

/// Each sample labelled with the top folder it is in (none at the top), as `kind`.
pub(super) fn read_by_folder(samples: &[&Entry], kind: &str) -> Vec<Found> {
    let mut found = Vec::with_capacity(samples.len());
    for e in samples {
        let labels = e
            .top_folder()
            .map(|l| vec![l.to_string()])
            .unwrap_or_default();
        found.push(file_sample(e, classification(labels, kind)));
    }
    found
}
