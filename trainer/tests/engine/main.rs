//! The trainer engine as a library, end to end: the model, the adapters and the objectives
//! against transformers, PEFT, bitsandbytes and TRL (golden fixtures), and the training loop on a
//! tiny random Llama, on one device and on several.
//!
//! One test binary (not one per file): each links burn and tokenizers, and CI has two cores.

mod common;
mod golden_model;
mod golden_objectives;
mod multi_device;
mod train;
