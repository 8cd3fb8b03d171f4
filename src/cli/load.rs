//! Reading a workflow from a script or a JSON definition, then validating it.

pub use crate::loader::{load_and_check, Checked};
