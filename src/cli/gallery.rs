//! `wf gallery list|show|subscribe`.

use std::path::Path;

use clap::Subcommand;

use super::exit;

#[derive(Subcommand, Debug)]
pub enum GalleryCommand {
    /// The gallery's assets
    List,
}

pub fn gallery(_home: Option<&Path>, _c: GalleryCommand) -> i32 {
    exit::FAILED
}
