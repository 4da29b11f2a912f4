//! ajuste-train-worker: the trainer library (`ajuste-trainer`) in a Web Worker, driven by the
//! studio's Train page through the messages of [`ajuste_shared::train_protocol`].
//!
//! - [`check`]: whether a model fits a browser tab, from its `config.json` alone.
//! - [`plan`]: the studio's bundle and the model's tokenizer to training examples, exactly as
//!   `ajuste train BUNDLE` prepares them.
//! - [`events`]: the trainer's events for the page and for `events.jsonl`.
//! - [`package`]: the adapter as one zip of PEFT's files.
//! - `worker` (wasm32 only): the message handler, WebGPU or flex, the run loop with pause and
//!   stop, the chat, the adapter download.
//!
//! The studio crate (`ajuste-web`) never depends on this one: burn stays out of its graph, and
//! this module is fetched only when the Train page opens.
#![recursion_limit = "256"]

pub mod check;
pub mod events;
pub mod package;
pub mod plan;
#[cfg(target_arch = "wasm32")]
pub mod worker;
