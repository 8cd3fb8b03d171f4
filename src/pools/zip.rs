//! A code folder as a stored (uncompressed) zip archive, the way Ray takes a job's working
//! directory. The entries are sorted and undated, so the same files give the same bytes, and
//! so the same package name: a folder uploaded once is not uploaded again.

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
    Ok(stored_zip(&files))
}

/// A zip of `(name, content, unix mode)` entries, stored without compression.
pub fn stored_zip(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, mode) in files {
        let crc = crc32(data);
        let offset = out.len() as u32;
        let header = |sig: u32, central_dir: bool| {
            let mut h = Vec::new();
            h.extend_from_slice(&sig.to_le_bytes());
            if central_dir {
                h.extend_from_slice(&(0x0314u16).to_le_bytes()); // made by: unix, 2.0
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u16.to_le_bytes()); // time
            h.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central_dir {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
                h.extend_from_slice(&((mode & 0o777 | 0o100000) << 16).to_le_bytes());
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(data);
        central.extend(header(0x0201_4b50, true));
    }
    let start = out.len() as u32;
    let size = central.len() as u32;
    out.extend(central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut c = !0u32;
    for b in data {
        c = table[((c ^ *b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_text() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

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
}
