//! Leaving ajuste: files other tools run.
//!
//! - [`to_gguf`]: a Hugging Face model (plus a PEFT adapter, merged) as a GGUF file for
//!   llama.cpp and Ollama ([`gguf`] is the container, [`vocab`] the tokenizer part), and
//!   [`ollama`] the Modelfile beside it.
//! - [`handoff`]: a bundle as a ready-to-launch TRL, Axolotl or LLaMA-Factory job (data in the
//!   target's format, its config, accelerate/DeepSpeed configs for several GPUs and machines,
//!   a README with the launch lines).
//!
//! Everything carries the chat template the data was prepared with, as exact text where the
//! target takes text, so the format a model is trained on is the one it is served with.

pub mod gguf;
pub mod handoff;
pub mod ollama;
pub mod to_gguf;
pub mod vocab;

use std::path::Path;

pub use to_gguf::{GgufExport, GgufOptions};

/// Why an export cannot be made. Every variant is the user's input or the file system, never a
/// bug: the CLI exits 2 on all of them.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model or adapter cannot be loaded (or the adapter does not fit the model).
    #[error(transparent)]
    Load(#[from] crate::model::LoadError),
    /// The tokenizer cannot be written as a GGUF vocabulary.
    #[error(transparent)]
    Vocab(#[from] vocab::VocabError),
    /// An input is unusable; the message names it.
    #[error("{0}")]
    Input(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error("{0}")]
    Write(String),
}

impl ExportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ExportError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
