//! The `ajuste_py` extension module: every kernel as a Python function taking and returning
//! `pyarrow.Table`s (any object with `__arrow_c_stream__` is accepted), through the Arrow C data
//! interface (arrow-rs's own `arrow-pyarrow`, zero-copy). Configurations are JSON strings in
//! the bundle's `DedupConfig` form. Kernel errors raise `ajuste_py.DedupError`, a `ValueError`.
//! The kernels run without the GIL, so threads of one worker can share them.

use ajuste_shared::dedup::DedupConfig;
use ajuste_shared::formats::Format;
use arrow_array::RecordBatch;
use arrow_pyarrow::{PyArrowType, Table};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::columns;
use crate::error::KernelError;
use crate::{cluster as clustering, config, prepare as prep, read, stages};

create_exception!(
    ajuste_py,
    DedupError,
    PyValueError,
    "A dedup kernel could not run: a bad table, configuration or input file."
);

impl From<KernelError> for PyErr {
    fn from(e: KernelError) -> PyErr {
        DedupError::new_err(e.to_string())
    }
}

type PyTable = PyArrowType<Table>;

/// The batches of a table.
fn batches(table: PyTable) -> Vec<RecordBatch> {
    table.0.into_inner().0
}

/// A table from kernel output batches (at least one, so the schema is known).
fn table(out: Vec<RecordBatch>) -> PyResult<PyTable> {
    let schema = out
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| DedupError::new_err("a kernel produced no batch"))?;
    Table::try_new(out, schema)
        .map(PyArrowType)
        .map_err(|e| DedupError::new_err(e.to_string()))
}

/// Runs a per-batch kernel over every batch of a table, without the GIL.
fn map_batches(
    py: Python<'_>,
    input: PyTable,
    f: impl Fn(&RecordBatch) -> Result<RecordBatch, KernelError> + Send + Sync,
) -> PyResult<PyTable> {
    let input = batches(input);
    let out = py.detach(|| input.iter().map(&f).collect::<Result<Vec<_>, _>>())?;
    table(out)
}

fn parse_config(json: Option<&str>) -> PyResult<DedupConfig> {
    Ok(config::parse(json)?)
}

fn parse_format(name: &str) -> PyResult<Format> {
    name.parse::<Format>()
        .map_err(|e| DedupError::new_err(e.to_string()))
}

/// The configuration `config` (JSON; None for the defaults) checked and written out in full,
/// as the bundle's manifest and every output table's metadata record it.
#[pyfunction]
#[pyo3(signature = (config=None))]
fn normalize_config(config: Option<&str>) -> PyResult<String> {
    let cfg = parse_config(config)?;
    serde_json::to_string(&cfg).map_err(|e| DedupError::new_err(e.to_string()))
}

/// The container (`jsonl`, `json`, `csv`, `tsv`, `parquet`) of a file from its first 64 KiB and
/// its name; raises the whole-file problem the local loader would report.
#[pyfunction]
fn container_of(head: &[u8], name: &str) -> PyResult<String> {
    Ok(read::container_of(head, name)?.as_str().to_owned())
}

/// Every record of a whole file as `(id, line)` rows (`line`: the record's JSON, null when it
/// cannot be read), read with ajuste's own reader; ids for file number `file`.
#[pyfunction]
fn read_container(py: Python<'_>, data: Vec<u8>, name: &str, file: u64) -> PyResult<PyTable> {
    let batch = py.detach(|| read::read_container(&data, name, file))?;
    table(vec![batch])
}

/// The id of record (or line) `index` of file number `file`.
#[pyfunction]
fn record_id(file: u64, index: u64) -> PyResult<u64> {
    Ok(read::record_id(file, index)?)
}

/// The format (`sharegpt`, `openai`, ...) of a file from its first `(id, line)` rows, decided
/// as the local loader decides it.
#[pyfunction]
fn detect_format(rows: PyTable) -> PyResult<String> {
    Ok(read::detect_format(&batches(rows))?.as_str().to_owned())
}

/// Stage "parse": `(id, line)` rows to `(id, key_hi, key_lo, text, out, out_error)` rows, one per
/// record the local loader keeps.
#[pyfunction]
fn prepare(py: Python<'_>, rows: PyTable, format: &str) -> PyResult<PyTable> {
    let format = parse_format(format)?;
    map_batches(py, rows, |b| prep::prepare(b, format))
}

/// Stage "sign": `(id, text[, key_hi, key_lo])` rows, or `(id, line)` rows of records as JSON
/// with `format`, to `(id, band, band_hash, key_hi, key_lo)` rows.
#[pyfunction]
#[pyo3(signature = (rows, config=None, format=None))]
fn signatures(
    py: Python<'_>,
    rows: PyTable,
    config: Option<&str>,
    format: Option<&str>,
) -> PyResult<PyTable> {
    let cfg = parse_config(config)?;
    let format = format.map(parse_format).transpose()?;
    map_batches(py, rows, |b| stages::signatures(b, &cfg, format))
}

/// Stage "bucket", once per partition hash-partitioned on `(band, band_hash)`: the candidate
/// pairs `(i, j)`.
#[pyfunction]
#[pyo3(signature = (bands, config=None))]
fn bucket_pairs(py: Python<'_>, bands: PyTable, config: Option<&str>) -> PyResult<PyTable> {
    let cfg = parse_config(config)?;
    let input = batches(bands);
    let out = py.detach(|| stages::bucket_pairs(&input, Some(&cfg)))?;
    table(vec![out])
}

/// Distinct `(i, j)` rows, once per partition hash-partitioned on `(i, j)`.
#[pyfunction]
#[pyo3(signature = (pairs, config=None))]
fn distinct_pairs(py: Python<'_>, pairs: PyTable, config: Option<&str>) -> PyResult<PyTable> {
    let cfg = parse_config(config)?;
    let input = batches(pairs);
    let out = py.detach(|| stages::distinct_pairs(&input, Some(&cfg)))?;
    table(vec![out])
}

/// Stage "exact", once per partition hash-partitioned on `(key_hi, key_lo)`: `(id, kept)` for
/// every record whose text a smaller id has.
#[pyfunction]
fn exact_duplicates(py: Python<'_>, rows: PyTable) -> PyResult<PyTable> {
    let input = batches(rows);
    let out = py.detach(|| stages::exact_duplicates(&input))?;
    table(vec![out])
}

/// Stage "confirm": `(i, j, text_i, text_j)` rows to the `(i, j, similarity)` rows whose exact
/// shingle Jaccard reaches the threshold.
#[pyfunction]
#[pyo3(signature = (pairs, config=None))]
fn confirm(py: Python<'_>, pairs: PyTable, config: Option<&str>) -> PyResult<PyTable> {
    let cfg = parse_config(config)?;
    map_batches(py, pairs, |b| stages::confirm(b, &cfg))
}

/// All `(a, b)` of two id columns of a table.
fn id_pairs(input: &[RecordBatch], a: &str, b: &str) -> Result<Vec<(u64, u64)>, KernelError> {
    let mut out = Vec::new();
    for batch in input {
        let x = columns::u64s(batch, a)?;
        let y = columns::u64s(batch, b)?;
        out.extend(x.into_iter().zip(y));
    }
    Ok(out)
}

/// Stage "cluster", on one node: from every record's `id`, the exact `(id, kept)` rows and the
/// confirmed `(i, j)` rows, the table `(id, position, kept, kept_by)` by position and the
/// report (JSON, the shape of `ajuste data dedup --report` without similarities).
#[pyfunction]
#[pyo3(signature = (ids, exact, near, config=None))]
fn cluster(
    py: Python<'_>,
    ids: PyTable,
    exact: PyTable,
    near: PyTable,
    config: Option<&str>,
) -> PyResult<(PyTable, String)> {
    let cfg = parse_config(config)?;
    let (ids, exact, near) = (batches(ids), batches(exact), batches(near));
    let result = py.detach(|| -> Result<_, KernelError> {
        let mut all = Vec::new();
        for batch in &ids {
            all.extend(columns::u64s(batch, read::ID)?);
        }
        let exact = id_pairs(&exact, read::ID, stages::KEPT)?;
        let near = id_pairs(&near, stages::I, stages::J)?;
        clustering::cluster(all, &exact, &near, &cfg)
    })?;
    let report =
        serde_json::to_string(&result.report).map_err(|e| DedupError::new_err(e.to_string()))?;
    Ok((table(vec![result.records])?, report))
}

/// ajuste's near-duplicate stages over Arrow tables.
#[pymodule]
fn ajuste_py(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DedupError", m.py().get_type::<DedupError>())?;
    m.add("INDEX_BITS", read::INDEX_BITS)?;
    m.add_function(wrap_pyfunction!(normalize_config, m)?)?;
    m.add_function(wrap_pyfunction!(container_of, m)?)?;
    m.add_function(wrap_pyfunction!(read_container, m)?)?;
    m.add_function(wrap_pyfunction!(record_id, m)?)?;
    m.add_function(wrap_pyfunction!(detect_format, m)?)?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(signatures, m)?)?;
    m.add_function(wrap_pyfunction!(bucket_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(distinct_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(exact_duplicates, m)?)?;
    m.add_function(wrap_pyfunction!(confirm, m)?)?;
    m.add_function(wrap_pyfunction!(cluster, m)?)?;
    Ok(())
}
