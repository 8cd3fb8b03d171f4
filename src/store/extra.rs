//! Reads and writes of the records the REST API needs beyond the CLI's.

use super::Store;

impl Store {}
