//! ajuste-py: ajuste's near-duplicate stages over Arrow tables, for Ray Data (or any engine that
//! hands out Arrow batches) and, with the `python` feature, as the `ajuste_py` extension module.
//!
//! A distributed run reads, signs, buckets, confirms and clusters exactly as
//! `ajuste data dedup --near` does on one machine, stage by stage:
//!
//! | stage | kernel | engine work between stages |
//! |-------|--------|----------------------------|
//! | read  | [`read::read_container`] / JSONL lines split by the driver | one task per file |
//! | parse | [`prepare::prepare`]: keep the records the local loader keeps, their matching text, exact key and export line | map |
//! | sign  | [`stages::signatures`]: `(id, band, band_hash)` rows | map |
//! | bucket | [`stages::bucket_pairs`]: candidate pairs of each `(band, band_hash)` group | hash shuffle on `(band, band_hash)` |
//! | exact | [`stages::exact_duplicates`]: records whose text another record has | hash shuffle on the exact key |
//! | confirm | [`stages::confirm`]: exact shingle Jaccard of each pair's two texts | join of pairs with texts |
//! | cluster | [`cluster::cluster`]: union-find keeping the smallest id, on one node | collect |
//!
//! Record ids are any numbers that sort like the records' positions in the input (the driver
//! uses `file << 40 | line`); [`cluster::cluster`] turns them into the 0-based positions among
//! the loaded records that the local report uses. Every output table carries the
//! [`DedupConfig`](ajuste_shared::dedup::DedupConfig) in its schema metadata
//! ([`config::metadata`]).
//!
//! The kernels are plain Rust over [`arrow_array::RecordBatch`]es; [`python`] (feature `python`)
//! only converts tables through the Arrow C data interface and maps errors to Python
//! exceptions.

pub mod cluster;
pub mod columns;
pub mod config;
pub mod error;
pub mod prepare;
pub mod read;
pub mod stages;

#[cfg(feature = "python")]
pub mod python;

pub use error::KernelError;
