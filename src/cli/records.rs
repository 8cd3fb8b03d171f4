//! What the reading commands share: the home's records, opened only when there are some.

use std::path::Path;

use super::error::{Error, Result};
use crate::store::{home_dir, Store};

/// The records, for a command that only reads them: a home that has none is not created.
pub fn open_records(home: Option<&Path>) -> Result<Option<Store>> {
    let dir = home_dir(home);
    if (!dir.exists() || dir.is_dir()) && !dir.join("wf.db").exists() {
        return Ok(None);
    }
    open(home).map(Some)
}

/// The home's records, made when there are none yet.
pub fn open(home: Option<&Path>) -> Result<Store> {
    Ok(Store::open(&home_dir(home))?)
}

/// What a reading command says when the home holds no records.
pub fn no_records(home: Option<&Path>, asked: &str) -> Error {
    Error::failed(format!(
        "no execution `{asked}`: `{}` holds no executions yet; `wf run SCRIPT` starts one",
        home_dir(home).display()
    ))
}
