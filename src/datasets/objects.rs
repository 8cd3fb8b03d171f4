//! Sample bytes kept by content hash under `HOME/datasets/objects/`, and folders of them.
//!
//! A sample's bytes are copied once into the home (read once, hashed while read, written
//! once), so a source file that changes later never changes a dataset; the folders given to
//! jobs are hard links to those objects.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::formats::{Content, Found};
use super::{DataError, Result};
use crate::store::private_dir;

/// A worker thread that panicked: the message is all there is to say.
fn thread_failed(what: &str) -> DataError {
    DataError::Invalid(what.to_string())
}

/// The error an import stopped on the way gives.
pub const STOPPED: &str = "stopped";

/// Files larger than this are streamed instead of read whole.
const WHOLE: u64 = 8 << 20;

/// A sample whose bytes are in the home.
#[derive(Debug, Clone)]
pub struct Kept {
    pub hash: String,
    pub ext: String,
    pub size: u64,
    pub found: Found,
}

pub fn objects_dir(home: &Path) -> PathBuf {
    home.join("datasets").join("objects")
}

pub fn object_path(home: &Path, hash: &str) -> PathBuf {
    objects_dir(home).join(&hash[..2]).join(hash)
}

fn hex(d: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn hash_bytes(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn ext_of(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

fn tmp_path(home: &Path) -> PathBuf {
    objects_dir(home)
        .join("tmp")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Puts `bytes` in the objects under its hash (a no-op when already there).
fn keep_bytes(home: &Path, bytes: &[u8], made: &mut Dirs) -> std::io::Result<String> {
    let hash = hash_bytes(bytes);
    let dest = object_path(home, &hash);
    if dest.exists() {
        return Ok(hash);
    }
    made.ensure(dest.parent().expect("an object has a folder"))?;
    let tmp = tmp_path(home);
    write_new(&tmp, bytes)?;
    fs::rename(&tmp, &dest)?;
    Ok(hash)
}

/// Streams a large file into the objects, hashing what was copied (not what was read
/// before), so the hash always names the bytes kept.
fn keep_stream(home: &Path, src: &Path, made: &mut Dirs) -> std::io::Result<(String, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(home);
    let mut out = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut input = fs::File::open(src)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    drop(out);
    let hash = hex(&hasher.finalize());
    let dest = object_path(home, &hash);
    if dest.exists() {
        let _ = fs::remove_file(&tmp);
    } else {
        made.ensure(dest.parent().expect("an object has a folder"))?;
        fs::rename(&tmp, &dest)?;
    }
    Ok((hash, size))
}

/// Folders already made by this worker.
#[derive(Default)]
struct Dirs(std::collections::HashSet<PathBuf>);

impl Dirs {
    fn ensure(&mut self, dir: &Path) -> std::io::Result<()> {
        if !self.0.contains(dir) {
            private_dir(dir)?;
            self.0.insert(dir.to_path_buf());
        }
        Ok(())
    }
}

fn keep_one(home: &Path, f: Found, made: &mut Dirs) -> Result<Kept> {
    let (hash, size, ext) = match &f.content {
        Content::Bytes { bytes, ext } => (
            keep_bytes(home, bytes, made).map_err(|e| {
                DataError::io(format!("cannot keep `{}`", f.name), &objects_dir(home), e)
            })?,
            bytes.len() as u64,
            ext.clone(),
        ),
        Content::File(path) => {
            let err = |e: std::io::Error| {
                DataError::io(format!("cannot read `{}`", path.display()), path, e)
            };
            let len = fs::metadata(path).map_err(err)?.len();
            let ext = ext_of(&f.name);
            if len <= WHOLE {
                let bytes = fs::read(path).map_err(err)?;
                let hash = keep_bytes(home, &bytes, made).map_err(|e| {
                    DataError::io(format!("cannot keep `{}`", path.display()), path, e)
                })?;
                (hash, bytes.len() as u64, ext)
            } else {
                let (hash, size) = keep_stream(home, path, made).map_err(err)?;
                (hash, size, ext)
            }
        }
    };
    Ok(Kept {
        hash,
        ext,
        size,
        found: f,
    })
}

/// Copies the samples found into the objects (on two threads), in the order found.
pub fn keep(
    home: &Path,
    found: Vec<Found>,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Vec<Kept>> {
    let stopped = || stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
    let one = |f: Found, made: &mut Dirs| -> Result<Kept> {
        if stopped() {
            return Err(DataError::Stopped);
        }
        keep_one(home, f, made)
    };
    let tmp = objects_dir(home).join("tmp");
    private_dir(&tmp).map_err(|e| {
        DataError::io(
            "cannot make the dataset folder in the home".to_string(),
            &tmp,
            e,
        )
    })?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    if found.len() < 64 || workers == 1 {
        let mut made = Dirs::default();
        return found
            .into_iter()
            .map(|f| keep_one(home, f, &mut made))
            .collect();
    }
    let chunk = found.len().div_ceil(workers);
    let mut parts: Vec<Vec<Found>> = Vec::new();
    let mut it = found.into_iter().peekable();
    while it.peek().is_some() {
        parts.push(it.by_ref().take(chunk).collect());
    }
    let results: Vec<Result<Vec<Kept>>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                let one = &one;
                s.spawn(move || {
                    let mut made = Dirs::default();
                    part.into_iter()
                        .map(|f| one(f, &mut made))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(thread_failed("a copying thread failed")))
            })
            .collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The file name of a sample in a folder given to a job: unique by hash, readable by name.
pub fn file_name(hash: &str, name: &str, ext: &str) -> String {
    let base = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .replace(['#', ' ', '\\'], "_");
    let stem = Path::new(&base)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("sample");
    if ext.is_empty() {
        format!("{}_{stem}", &hash[..12])
    } else {
        format!("{}_{stem}.{ext}", &hash[..12])
    }
}

/// Makes `dir/data/` hold the samples `(hash, file name)`, linked from the objects (copied
/// where links cannot be made), built aside and renamed into place so that a folder that
/// exists is whole. Returns at once when it is already there.
pub fn materialize(home: &Path, dir: &Path, files: &[(String, String)]) -> Result<()> {
    let data = dir.join("data");
    if data.is_dir() {
        return Ok(());
    }
    let err =
        |e: std::io::Error| DataError::io(format!("cannot make `{}`", data.display()), &data, e);
    let tmp = dir.join(format!("data.tmp-{}", uuid::Uuid::new_v4().simple()));
    private_dir(&tmp).map_err(err)?;
    let link = |(hash, file): &(String, String)| -> Result<()> {
        let src = object_path(home, hash);
        let dst = tmp.join(file);
        match fs::hard_link(&src, &dst) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) => fs::copy(&src, &dst).map(|_| ()).map_err(|e| {
                DataError::io(
                    format!("cannot give sample {} to `{}`", &hash[..12], data.display()),
                    &dst,
                    e,
                )
            }),
        }
    };
    let done: Result<()> = if files.len() < 256 {
        files.iter().try_for_each(link)
    } else {
        let half = files.len() / 2;
        std::thread::scope(|s| {
            let a = s.spawn(|| files[..half].iter().try_for_each(link));
            let b = files[half..].iter().try_for_each(link);
            a.join()
                .unwrap_or_else(|_| Err(thread_failed("a linking thread failed")))?;
            b
        })
    };
    if let Err(e) = done {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &data) {
        Ok(()) => Ok(()),
        // Another process made it meanwhile: theirs is as good as ours.
        Err(_) if data.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(err(e))
        }
    }
}
