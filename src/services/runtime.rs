//! The Python serving package model processes run on: ModelArts' base service classes
//! (`model_service.*`) and the server that loads a model folder's `customize_service.py`.
//! Shipped inside the binary and written out to `HOME/runtime/python/` when missing or
//! changed, so that an inference file written for ModelArts runs unchanged.

use std::path::{Path, PathBuf};

use crate::store::private_dir;

const FILES: &[(&str, &str)] = &[
    ("log.py", include_str!("python/log.py")),
    (
        "model_service/__init__.py",
        include_str!("python/model_service/__init__.py"),
    ),
    (
        "model_service/caffe_model_service.py",
        include_str!("python/model_service/caffe_model_service.py"),
    ),
    (
        "model_service/log.py",
        include_str!("python/model_service/log.py"),
    ),
    (
        "model_service/model_service.py",
        include_str!("python/model_service/model_service.py"),
    ),
    (
        "model_service/python_model_service.py",
        include_str!("python/model_service/python_model_service.py"),
    ),
    (
        "model_service/pytorch_model_service.py",
        include_str!("python/model_service/pytorch_model_service.py"),
    ),
    (
        "model_service/spark_model_service.py",
        include_str!("python/model_service/spark_model_service.py"),
    ),
    (
        "model_service/tfserving_model_service.py",
        include_str!("python/model_service/tfserving_model_service.py"),
    ),
    (
        "wf_model_server.py",
        include_str!("python/wf_model_server.py"),
    ),
];

/// Writes the package (when it differs) and gives the server script's path.
pub fn python_server(home: &Path) -> std::io::Result<PathBuf> {
    let root = std::path::absolute(home)?.join("runtime").join("python");
    for (rel, text) in FILES {
        let path = root.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(*text) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            continue;
        }
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        crate::store::private_write(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(root.join("wf_model_server.py"))
}
