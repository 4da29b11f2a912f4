//! The training worker's Rust side, natively: the tiny model the browser tests train is what the
//! code makes, and every method and adapter of the Train page trains through the worker's path.
//!
//! One test binary: each links burn, and CI has two cores.

mod fixture;
mod methods;

use std::path::{Path, PathBuf};

/// A path in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}
