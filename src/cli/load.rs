//! Reading a workflow from a script or a JSON definition, then validating it.

use std::path::Path;
use std::sync::Arc;

use crate::model::definition;
use crate::model::val::Obj;
use crate::model::validate::validate;
use crate::model::workflow::Workflow;
use crate::script::diag::{Diagnostic, Sources};
use crate::script::engine::{load_file, LoadOptions};

pub struct Checked {
    pub workflow: Option<Workflow>,
    pub obj: Option<Arc<Obj>>,
    pub diags: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Checked {
    pub fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }
}

/// Loads `path` (a `.json` definition or a script) and validates what it builds.
pub fn load_and_check(path: &Path, opts: &LoadOptions) -> Checked {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let (obj, mut diags, sources) = if is_json {
        let file: Arc<str> = path.to_string_lossy().into();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (obj, diags) = definition::from_json(&text, &file);
                (obj, diags, Sources::default())
            }
            Err(e) => (
                None,
                vec![Diagnostic::error(
                    crate::model::val::Span::new(file, 0, 0),
                    format!("cannot read the definition: {e}"),
                )],
                Sources::default(),
            ),
        }
    } else {
        let loaded = load_file(path, opts);
        (loaded.workflow, loaded.diags, loaded.sources)
    };
    let workflow = obj.as_ref().map(|o| {
        let (w, more) = validate(o);
        diags.extend(more);
        w
    });
    diags.sort_by(|a, b| a.at.cmp(&b.at).then(a.message.cmp(&b.message)));
    diags.dedup();
    Checked {
        workflow,
        obj,
        diags,
        sources,
    }
}
