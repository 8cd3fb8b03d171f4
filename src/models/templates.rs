//! The built-in model templates (`wf.steps.Template(#{ template_id, template_inputs })`):
//! serving code `wf` ships, filled with the files the template's inputs name.

use std::path::{Path, PathBuf};

use crate::store::{private_dir, Classify, ErrorKind};

/// Why a template's folder could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no built-in template `{0}`")]
    NoTemplate(String),
    #[error("template input id `{0}` cannot be a file name")]
    BadInputId(String),
    #[error("template input `{name}`: `{}` does not exist", path.display())]
    NoInput { name: String, path: PathBuf },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: walkdir::Error,
    },
    #[error("cannot stage template `{id}`: {source}")]
    Io { id: String, source: std::io::Error },
}

impl Classify for TemplateError {
    fn kind(&self) -> ErrorKind {
        match self {
            TemplateError::NoTemplate(_) | TemplateError::NoInput { .. } => ErrorKind::NotFound,
            TemplateError::BadInputId(_) => ErrorKind::Invalid,
            TemplateError::Read { .. } | TemplateError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// For callers that still carry failures as their message.
impl From<TemplateError> for String {
    fn from(e: TemplateError) -> String {
        e.to_string()
    }
}

const PYTHON_FUNCTION: &str = include_str!("templates/python_function.py");

/// A staged model folder, removed when dropped.
pub struct Staged(PathBuf);

impl Staged {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the template's files and copies each input under its `input_id`.
pub fn stage(home: &Path, id: &str, inputs: &[(String, PathBuf)]) -> Result<Staged, TemplateError> {
    let dir = super::models_dir(home).join(format!(".staging-{}", uuid::Uuid::new_v4().simple()));
    let staged = Staged(dir.clone());
    let io = |source: std::io::Error| TemplateError::Io {
        id: id.to_string(),
        source,
    };
    private_dir(&dir).map_err(io)?;
    match id {
        "python-function" => crate::store::private_write(
            &dir.join("customize_service.py"),
            PYTHON_FUNCTION.as_bytes(),
        )
        .map_err(io)?,
        other => return Err(TemplateError::NoTemplate(other.to_string())),
    }
    for (input_id, from) in inputs {
        let name = if input_id.is_empty() {
            "input"
        } else {
            input_id.as_str()
        };
        if name.contains('/') || name.starts_with('.') {
            return Err(TemplateError::BadInputId(name.to_string()));
        }
        let to = dir.join(name);
        if from.is_dir() {
            for e in walkdir::WalkDir::new(from) {
                let e = e.map_err(|source| TemplateError::Read {
                    path: from.clone(),
                    source,
                })?;
                let rel = e.path().strip_prefix(from).unwrap_or(e.path());
                if e.file_type().is_dir() {
                    private_dir(&to.join(rel)).map_err(io)?;
                } else {
                    crate::store::private_copy(e.path(), &to.join(rel)).map_err(io)?;
                }
            }
        } else if from.is_file() {
            private_dir(&to).map_err(io)?;
            crate::store::private_copy(from, &to.join(from.file_name().unwrap_or_default()))
                .map_err(io)?;
        } else {
            return Err(TemplateError::NoInput {
                name: name.to_string(),
                path: from.clone(),
            });
        }
    }
    Ok(staged)
}
