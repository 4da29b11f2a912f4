//! ajuste-trainer: the training engine and, behind the `cli` feature, the `ajuste` command.

pub mod adapter;
#[cfg(feature = "cli")]
pub mod cli;
pub mod device;
pub mod export;
pub mod generate;
pub mod model;
pub mod objective;
pub mod pretrain;
pub mod train;
