//! The errors of the kernels: bad tables, bad configurations, unreadable files.

use arrow_schema::{ArrowError, DataType};

/// Why a kernel could not run. Messages are sentences that name the column, row or record.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("The table has no `{0}` column.")]
    MissingColumn(String),
    #[error("The `{column}` column has type {found}; expected {expected}.")]
    ColumnType {
        column: String,
        found: DataType,
        expected: &'static str,
    },
    #[error("Row {row} of the `{column}` column is null.")]
    Null { column: String, row: usize },
    #[error("Row {row} of the `{column}` column is negative ({value}); ids are unsigned.")]
    Negative {
        column: String,
        row: usize,
        value: i64,
    },
    #[error("Row {row} of the `{column}` column is not UTF-8 text.")]
    NotUtf8 { column: String, row: usize },
    #[error("The dedup configuration is not valid JSON: {0}")]
    ConfigJson(String),
    #[error(transparent)]
    Config(#[from] ajuste_shared::dedup::DedupConfigError),
    #[error(transparent)]
    Format(#[from] ajuste_shared::formats::ParseFormatError),
    /// A whole-file problem, as the local loader reports it (`code`: its stable name).
    #[error("{name}: {code}: {message}")]
    File {
        name: String,
        code: &'static str,
        message: String,
    },
    #[error(
        "File index {file} or record index {index} is too large for a record id (at most 2^24 files of 2^40 records)."
    )]
    IdOverflow { file: u64, index: u64 },
    #[error("Record id {0} appears more than once in the id list.")]
    DuplicateId(u64),
    #[error("Record id {0} appears in a pair but not in the id list.")]
    UnknownId(u64),
    #[error(
        "Record id {0} is both an exact duplicate and part of a near-duplicate pair; the exact stage and the bucket stage disagree (were they run with the same input?)."
    )]
    Inconsistent(u64),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// The kernels' result type.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;
