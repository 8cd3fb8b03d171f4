//! `wf kernel install`: the kernel spec `wf` (kernel.json and its logos) where Jupyter looks
//! for kernels, as `jupyter kernelspec install` puts them.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::KernelError;

const LOGO_32: &[u8] = include_bytes!("logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("logo-64x64.png");
const LOGO_SVG: &[u8] = include_bytes!("logo-svg.svg");

/// Where the spec goes.
#[derive(Debug, Clone)]
pub enum Place {
    /// `$JUPYTER_DATA_DIR`, else `~/.local/share/jupyter`.
    User,
    /// `sys.prefix` of `python3`, `/share/jupyter`.
    SysPrefix,
    /// `DIR/share/jupyter`.
    Prefix(PathBuf),
    /// The system-wide folder, `/usr/local/share/jupyter`.
    System,
}

/// The `kernels/wf` folder for `place`.
pub fn kernel_dir(place: &Place) -> Result<PathBuf, KernelError> {
    let data = match place {
        Place::User => match std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => {
                let home = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| {
                        KernelError::Place(
                            "neither $JUPYTER_DATA_DIR nor $HOME is set: give --prefix DIR".into(),
                        )
                    })?;
                PathBuf::from(home).join(".local/share/jupyter")
            }
        },
        Place::SysPrefix => {
            let out = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .map_err(|e| {
                    KernelError::Place(format!("cannot ask `python3` for its sys.prefix: {e}"))
                })?;
            let prefix = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || prefix.is_empty() {
                return Err(KernelError::Place(
                    "`python3` did not say its sys.prefix: give --prefix DIR".into(),
                ));
            }
            PathBuf::from(prefix).join("share/jupyter")
        }
        Place::Prefix(dir) => dir.join("share/jupyter"),
        Place::System => PathBuf::from("/usr/local/share/jupyter"),
    };
    Ok(data.join("kernels").join("wf"))
}

/// The spec's `kernel.json`: `exe kernel --connection-file {connection_file}`.
pub fn kernel_json(exe: &Path) -> serde_json::Value {
    json!({
        "argv": [exe.to_string_lossy(), "kernel", "--connection-file", "{connection_file}"],
        "display_name": "wf (Rhai)",
        "language": "rhai",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    })
}

/// Writes the spec; the folder it wrote.
pub fn install(place: &Place) -> Result<PathBuf, KernelError> {
    let dir = kernel_dir(place)?;
    let exe = std::env::current_exe().map_err(|e| {
        KernelError::Place(format!("cannot find the path of this `wf` binary: {e}"))
    })?;
    let exe = exe.canonicalize().unwrap_or(exe);
    std::fs::create_dir_all(&dir).map_err(|source| KernelError::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    let spec = serde_json::to_string_pretty(&kernel_json(&exe)).unwrap_or_default();
    let files: [(&str, &[u8]); 4] = [
        ("kernel.json", spec.as_bytes()),
        ("logo-32x32.png", LOGO_32),
        ("logo-64x64.png", LOGO_64),
        ("logo-svg.svg", LOGO_SVG),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| KernelError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logos_are_pngs_of_their_size() {
        for (bytes, size) in [(LOGO_32, 32u32), (LOGO_64, 64)] {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
            let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
            assert_eq!((w, h), (size, size));
        }
    }

    #[test]
    fn the_spec_starts_this_binary_with_the_connection_file() {
        let j = kernel_json(Path::new("/opt/wf"));
        assert_eq!(
            j["argv"],
            json!([
                "/opt/wf",
                "kernel",
                "--connection-file",
                "{connection_file}"
            ])
        );
        assert_eq!(j["language"], "rhai");
        assert_eq!(j["interrupt_mode"], "message");
        let d = kernel_dir(&Place::Prefix("/p".into())).unwrap();
        assert_eq!(d, Path::new("/p/share/jupyter/kernels/wf"));
    }
}
