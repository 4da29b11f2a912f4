//! `ajuste bench ...`: throughput figures printed side by side with the reference tools.
//! Benchmarks measure; they never assert times (that is for people reading the figures).

pub mod data;
pub mod train;
