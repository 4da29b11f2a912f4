//! End-to-end tests of the `ajuste` binary, one module per command group.

mod util;

mod bench;
mod bundle;
mod data;
mod devices;
mod export;
mod pretrain;
mod robustness;
mod train;
