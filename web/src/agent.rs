//! Work that runs in the parse worker, off the page's thread.
//!
//! The task is defined here, in the library, so that the page (which sends it) and the worker
//! binary `src/bin/parse_worker.rs` (which runs it) agree on its message types. Messages travel
//! with yew-agent's default codec (bincode, no fixed-size buffer); the file's bytes are marked
//! `serde_bytes` so they are written as one block instead of byte by byte.

use serde::{Deserialize, Serialize};
use yew_agent::prelude::*;

use crate::analysis::{self, Analysis, AnalysisError};

/// Path of the worker script, as Trunk emits it: the worker binary's name plus `.js`.
pub const PARSE_WORKER_PATH: &str = "/parse_worker.js";

/// A file to inspect: its name (the extension will help pick a format) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseInput {
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// What the worker says about a file.
pub type ParseOutput = Result<Analysis, AnalysisError>;

/// Inspects and loads a file in the worker: size, line counts, format, record and finding
/// counts, or why it cannot be a dataset.
#[oneshot]
pub async fn ParseTask(input: ParseInput) -> ParseOutput {
    analysis::analyse(&input.name, &input.bytes)
}
