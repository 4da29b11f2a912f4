"""The near-duplicate pipeline on Ray Data.

Stages (the Rust kernels of ``ajuste_py``; the engine does the reading, the shuffles and the
joins)::

    read (AjusteRecords) -> prepare (map) -> materialize
      |-> signatures (map) -> repartition on (band, band_hash) -> bucket_pairs (per partition)
      |     -> repartition on (i, j) -> distinct_pairs (per partition)
      |     -> join texts on i, join texts on j -> confirm (map: exact shingle Jaccard)
      |-> repartition on the exact key -> exact_duplicates (per partition)
      '-> ids
    cluster (union-find, smallest id kept) on the driver -> write the kept records

Pairs are confirmed with the exact Jaccard of the two records' shingle sets, as
``ajuste data dedup --near`` confirms them, so the kept records are the same ones; the texts
reach the pairs through two hash joins (only the texts of records that are in some pair are
shuffled).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import ajuste_py
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import ray
from ray.data.context import DataContext, ShuffleStrategy

from .sink import JsonlLines
from .source import AjusteRecords, read_blocks

#: Shuffle strategies whose key-based repartition emits each partition as one block, which the
#: per-partition kernels need (Ray's own ``map_groups`` relies on the same).
_KEYED = {ShuffleStrategy.SHUFFLE_V2, ShuffleStrategy.HASH_SHUFFLE}

_WITH_I = pa.schema([("i", pa.uint64()), ("j", pa.uint64()), ("text_i", pa.large_string())])
_WITH_BOTH = _WITH_I.append(pa.field("text_j", pa.large_string()))


@dataclass
class DedupResult:
    """What a run found: ``report`` has the local report's shape (``records``, ``kept``,
    ``exact_duplicates``, ``near_duplicates``, ``clusters`` by 0-based record position,
    ``config``); ``records`` is ``(id, position, kept, kept_by)`` for every loaded record;
    ``format`` the dataset format read."""

    report: dict[str, Any]
    records: pa.Table
    format: str

    @property
    def kept_positions(self) -> list[int]:
        """0-based positions (among the loaded records) of the records kept."""
        mask = self.records.column("kept")
        return self.records.column("position").filter(mask).to_pylist()


# --- map functions (module level, so Ray workers import them by name) -----------------------


def _prepare(batch: pa.Table, format: str) -> pa.Table:
    return ajuste_py.prepare(batch, format)


def _signatures(batch: pa.Table, config: str) -> pa.Table:
    return ajuste_py.signatures(batch, config)


def _bucket_pairs(batch: pa.Table, config: str) -> pa.Table:
    return ajuste_py.bucket_pairs(batch, config)


def _distinct_pairs(batch: pa.Table, config: str) -> pa.Table:
    return ajuste_py.distinct_pairs(batch, config)


def _exact_duplicates(batch: pa.Table) -> pa.Table:
    return ajuste_py.exact_duplicates(batch)


def _confirm(batch: pa.Table, config: str) -> pa.Table:
    return ajuste_py.confirm(batch, config)


def _rows_with_ids(batch: pa.Table, ids: ray.ObjectRef, keep: bool) -> pa.Table:
    """The rows whose ``id`` is in the array ``ids`` (``keep``) or not in it. ``ids`` is
    broadcast through the object store (Ray Data does not resolve references in ``fn_args``;
    ``ray.get`` maps the one shared copy of the node)."""
    mask = np.isin(batch.column("id").to_numpy(), ray.get(ids))
    return batch.filter(pa.array(mask if keep else ~mask))


def _rename(batch: pa.Table, old: str, new: str, empty: pa.Schema) -> pa.Table:
    """Renames column ``old``. A join partition that received no rows comes out of Ray without
    any column; it becomes an empty table of schema ``empty``."""
    if batch.num_rows == 0 and old not in batch.column_names:
        return empty.empty_table()
    return batch.rename_columns([new if c == old else c for c in batch.column_names])


def _kept_lines(batch: pa.Table, removed: ray.ObjectRef) -> pa.Table:
    kept = _rows_with_ids(batch, removed, keep=False)
    missing = pc.is_null(kept.column("out"))
    if pc.any(missing).as_py():
        row = kept.filter(missing).slice(0, 1)
        raise ajuste_py.DedupError(
            f"record id {row.column('id')[0].as_py()} cannot be written back: "
            f"{row.column('out_error')[0].as_py()}"
        )
    return kept.select(["id", "out"])


# --- the driver --------------------------------------------------------------------------------


def detect_format(path: str, rows_per_block: int = 8192) -> str:
    """The dataset format of ``path``, decided from its first records as the local loader does."""
    blocks = []
    records = 0
    if "://" in path:
        fs, inner = pafs.FileSystem.from_uri(path)
        opened = fs.open_input_stream(inner)
    else:
        opened = open(path, "rb")
    with opened as f:
        for block in read_blocks(f, os.path.basename(path), 0, rows_per_block):
            blocks.append(block)
            # Rows that are not ASCII-blank bound the records the loader looks ahead at.
            records += sum(1 for b in block.column("line").to_pylist() if b and b.strip())
            if records >= 4096:
                break
    if not blocks:
        raise ajuste_py.DedupError(f"{path}: the file holds no records")
    return ajuste_py.detect_format(pa.concat_tables(blocks))


def _collect(ds: ray.data.Dataset, schema: pa.Schema) -> pa.Table:
    """A (small) dataset's rows on the driver, as one table of `schema`'s columns."""
    tables = [ray.get(r) for r in ds.to_arrow_refs()]
    tables = [t.select(schema.names).cast(schema) for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _config_json(config: dict[str, Any] | str | None) -> str:
    if isinstance(config, dict):
        config = json.dumps(config)
    return ajuste_py.normalize_config(config)


def _ensure_keyed_shuffle() -> None:
    ctx = DataContext.get_current()
    if ctx.shuffle_strategy not in _KEYED:
        ctx.shuffle_strategy = ShuffleStrategy.SHUFFLE_V2


def dedup(
    paths: str | Sequence[str],
    *,
    output: str | None = None,
    report: str | None = None,
    config: dict[str, Any] | str | None = None,
    format: str | None = None,
    partitions: int | None = None,
    rows_per_block: int = 8192,
) -> DedupResult:
    """Exact and near duplicates of the records in ``paths`` (one file or several, read in the
    given order), on the Ray cluster ``ray.init`` connected to.

    ``config`` is a ``DedupConfig`` (dict or JSON; missing keys take the defaults of
    ``ajuste data dedup``: 5-grams, 112 permutations in 14 bands, threshold 0.8, seed 1).
    ``format`` overrides the detection from the first file. ``output``: a directory for the kept
    records, JSONL in the input's format, as ``ajuste data dedup -o`` writes them (one file per
    block; their lines, concatenated in name order, are in input order). ``report``: a JSON file
    with the clusters. ``partitions``: hash partitions of each shuffle (default: 4 per CPU).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ajuste_py.DedupError("no input file")
    config_json = _config_json(config)
    fmt = format or detect_format(paths[0], rows_per_block)
    _ensure_keyed_shuffle()
    if partitions is None:
        partitions = max(2, 4 * int(ray.cluster_resources().get("CPU", 1)))

    raw = ray.data.read_datasource(AjusteRecords(paths, rows_per_block=rows_per_block))
    prepared = raw.map_batches(
        _prepare, fn_kwargs={"format": fmt}, batch_format="pyarrow", batch_size=None
    ).materialize()

    exact = (
        prepared.select_columns(["id", "key_hi", "key_lo"])
        .repartition(partitions, keys=["key_hi", "key_lo"])
        .map_batches(_exact_duplicates, batch_format="pyarrow", batch_size=None)
    )
    pairs = (
        prepared.select_columns(["id", "text", "key_hi", "key_lo"])
        .map_batches(
            _signatures, fn_kwargs={"config": config_json}, batch_format="pyarrow", batch_size=None
        )
        .repartition(partitions, keys=["band", "band_hash"])
        .map_batches(
            _bucket_pairs, fn_kwargs={"config": config_json}, batch_format="pyarrow", batch_size=None
        )
        .repartition(partitions, keys=["i", "j"])
        .map_batches(
            _distinct_pairs,
            fn_kwargs={"config": config_json},
            batch_format="pyarrow",
            batch_size=None,
        )
        .materialize()
    )
    pair_table = _collect(pairs, pa.schema([("i", pa.uint64()), ("j", pa.uint64())]))
    candidates = np.unique(
        np.concatenate([pair_table.column("i").to_numpy(), pair_table.column("j").to_numpy()])
    )
    confirmed_schema = pa.schema([("i", pa.uint64()), ("j", pa.uint64())])
    if pair_table.num_rows:
        texts = prepared.select_columns(["id", "text"]).map_batches(
            _rows_with_ids,
            fn_args=(ray.put(candidates), True),
            batch_format="pyarrow",
            batch_size=None,
        )
        with_i = pairs.join(texts, "inner", partitions, on=("i",), right_on=("id",)).map_batches(
            _rename, fn_args=("text", "text_i", _WITH_I), batch_format="pyarrow", batch_size=None
        )
        with_both = with_i.join(
            texts, "inner", partitions, on=("j",), right_on=("id",)
        ).map_batches(
            _rename, fn_args=("text", "text_j", _WITH_BOTH), batch_format="pyarrow", batch_size=None
        )
        confirmed = with_both.map_batches(
            _confirm, fn_kwargs={"config": config_json}, batch_format="pyarrow", batch_size=None
        )
        near = _collect(confirmed, confirmed_schema)
    else:
        near = confirmed_schema.empty_table()
    exact_table = _collect(exact, pa.schema([("id", pa.uint64()), ("kept", pa.uint64())]))
    ids = _collect(prepared.select_columns(["id"]), pa.schema([("id", pa.uint64())]))

    records, report_json = ajuste_py.cluster(ids, exact_table, near, config_json)
    result = DedupResult(report=json.loads(report_json), records=records, format=fmt)
    if report is not None:
        _write_json(report, result.report)
    if output is not None:
        removed = np.sort(records.filter(pc.invert(records.column("kept"))).column("id").to_numpy())
        prepared.map_batches(
            _kept_lines, fn_args=(ray.put(removed),), batch_format="pyarrow", batch_size=None
        ).write_datasink(JsonlLines(output))
    return result


def _write_json(path: str, value: Any) -> None:
    """Writes ``value`` as pretty JSON through a temporary file and a rename."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
