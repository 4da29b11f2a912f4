//! ajuste-trainer: the training engine and, behind the `cli` feature, the `ajuste` command.

#[cfg(feature = "cli")]
pub mod cli;
pub mod objective;
