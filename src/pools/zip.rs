//! A code folder as a stored (uncompressed) zip archive, the way Ray takes a job's working
//! directory. The entries are sorted and undated, so the same files give the same bytes, and
//! so the same package name: a folder uploaded once is not uploaded again. Names that are not
//! ASCII are flagged as UTF-8, and zip64 records are written past 65,535 entries or 4 GiB.

use std::path::Path;

/// What the archive leaves out: version control, caches, and the home (records, logs)
/// when it lies inside the folder.
const SKIPPED: &[&str] = &[".git", "__pycache__", ".wf", ".hg", ".svn"];

/// The zip of every file under `dir` (symbolic links followed inside it), at most `limit`
/// bytes of content, and the `extra` files; `skip` is a folder to leave out (the home).
pub fn zip_dir(
    dir: &Path,
    skip: Option<&Path>,
    limit: u64,
    extra: &[(&str, &[u8])],
) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.depth() > 0 && e.file_type().is_dir() && SKIPPED.contains(&name.as_ref()))
                && skip.is_none_or(|s| e.path() != s)
        });
    let mut total = 0u64;
    for entry in walk {
        let entry = entry.map_err(|e| format!("cannot read the code folder: {e}"))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(entry.path())
            .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
        total += bytes.len() as u64;
        if total > limit {
            return Err(format!(
                "the code folder {} holds more than {} MiB; point `code_dir` at the code alone",
                dir.display(),
                limit >> 20
            ));
        }
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            entry
                .metadata()
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644)
        };
        files.push((rel, bytes, mode));
    }
    for (name, bytes) in extra {
        files.retain(|(n, _, _)| n != name);
        files.push((name.to_string(), bytes.to_vec(), 0o644));
    }
    stored_zip(&files)
}

/// A zip of `(name, content, unix mode)` entries, stored without compression and dated
/// 1980-01-01.
pub fn stored_zip(files: &[(String, Vec<u8>, u32)]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let fail = |e: &dyn std::fmt::Display| format!("cannot make the code package: {e}");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .system(zip::System::Unix)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(mode & 0o777)
            .large_file(data.len() as u64 >= u64::from(u32::MAX));
        w.start_file(name.as_str(), options).map_err(|e| fail(&e))?;
        w.write_all(data).map_err(|e| fail(&e))?;
    }
    let out = w.finish().map_err(|e| fail(&e))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_folder_gives_the_same_bytes_and_unzip_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg/__pycache__")).unwrap();
        std::fs::write(dir.path().join("train.py"), "print('hi')\n").unwrap();
        std::fs::write(dir.path().join("pkg/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("pkg/__pycache__/x.pyc"), "x").unwrap();
        let a = zip_dir(dir.path(), None, 1 << 20, &[]).unwrap();
        let b = zip_dir(dir.path(), None, 1 << 20, &[]).unwrap();
        assert_eq!(a, b);
        let z = dir.path().join("out.zip");
        std::fs::write(&z, &a).unwrap();
        if let Ok(out) = std::process::Command::new("unzip")
            .arg("-l")
            .arg(&z)
            .output()
        {
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(
                listing.contains("train.py") && listing.contains("pkg/a.txt"),
                "{listing}"
            );
            assert!(!listing.contains("x.pyc"), "{listing}");
        }
        assert!(zip_dir(dir.path(), None, 5, &[]).is_err());
    }

    /// What Python's `zipfile` (Ray's reader) lists in `zip`: one name per line, or None
    /// when python3 is missing.
    fn python_names(zip: &Path) -> Option<Vec<String>> {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
            ])
            .arg(zip)
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect(),
        )
    }

    #[test]
    fn a_name_that_is_not_ascii_reads_back_as_written_in_python() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        std::fs::create_dir_all(code.join("données")).unwrap();
        std::fs::write(code.join("données/étiquettes_猫.txt"), "chat").unwrap();
        std::fs::write(code.join("train.py"), "print('hi')\n").unwrap();
        let z = dir.path().join("out.zip");
        std::fs::write(&z, zip_dir(&code, None, 1 << 20, &[]).unwrap()).unwrap();
        let Some(names) = python_names(&z) else {
            assert!(
                std::env::var_os("WF_NO_SKIP").is_none(),
                "python3 is not installed, so Python's zipfile cannot be asked (WF_NO_SKIP=1)"
            );
            eprintln!("skipped: python3 is not installed, so Python's zipfile cannot be asked");
            return;
        };
        assert_eq!(names, ["données/étiquettes_猫.txt", "train.py"]);
    }

    #[test]
    fn more_than_65535_entries_are_all_listed() {
        let n = 65_536 + 10;
        let files: Vec<(String, Vec<u8>, u32)> = (0..n)
            .map(|i| (format!("f{i}"), Vec::new(), 0o644))
            .collect();
        let bytes = stored_zip(&files).unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        assert_eq!(archive.len(), n);
        let dir = tempfile::tempdir().unwrap();
        let z = dir.path().join("many.zip");
        std::fs::write(&z, &bytes).unwrap();
        if let Some(names) = python_names(&z) {
            assert_eq!(names.len(), n);
            assert_eq!(names.last().map(String::as_str), Some("f65545"));
        }
    }
}
