"""Reading dataset files into ``(id, line)`` blocks that mean what ajuste's own loader means.

Ray's built-in readers do not fit an exact comparison with the local run: ``read_text`` splits on
every Unicode line break (``str.splitlines``: U+2028 inside a JSON string ends its "line") and
``read_json``/``read_parquet`` give rows without their place in the file, which the
smallest-id-wins rule and the local report's record indices need. So files are read by a
:class:`ray.data.datasource.FileBasedDatasource` (one read task per file, as Ray's own readers):

* JSONL (the container ajuste detects from the first bytes) is streamed and split on ``b"\\n"``
  only; each line, with its newline, becomes a row whose ``id`` is ``record_id(file, line)``.
  Blank and broken lines are decided later, in Rust, by the JSONL reader's rules.
* Every other container (JSON array, CSV/TSV, Parquet) is read whole by ajuste's reader
  (``ajuste_py.read_container``) and re-emitted as rows of JSON text, so that a Parquet row, a CSV
  row and a JSON element become exactly the value the local loader sees.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import ajuste_py
import pyarrow as pa
from ray.data.datasource import FileBasedDatasource

#: Bytes looked at to decide the container (ajuste's reader sniffs as much).
SNIFF_BYTES = 64 * 1024
#: Bytes read at a time while splitting JSONL.
CHUNK_BYTES = 8 << 20
BOM = b"\xef\xbb\xbf"


def _key(path: str) -> str:
    """A path as Ray may hand it back (with or without a ``local://``-style scheme)."""
    if "://" in path:
        path = path.split("://", 1)[1]
    return os.path.normpath(os.path.abspath(path))


def _rows(ids: list[int], lines: list[bytes]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, type=pa.uint64()),
            "line": pa.array(lines, type=pa.large_binary()),
        }
    )


def read_blocks(f, name: str, file_index: int, rows_per_block: int) -> Iterator[pa.Table]:
    """``(id, line)`` blocks of one open binary file (``f.read(n)``), ``name`` for messages and
    for the container decision, ``file_index`` for the ids."""
    head = f.read(SNIFF_BYTES)
    whole = head.startswith(b"\x1f\x8b") or head.startswith(b"PAR1")
    if not whole and ajuste_py.container_of(head, name) != "jsonl":
        whole = True
    if whole:
        data = head + f.read()
        table = ajuste_py.read_container(data, name, file_index)
        for start in range(0, max(table.num_rows, 1), rows_per_block):
            yield table.slice(start, rows_per_block)
        return
    yield from _jsonl_blocks(f, head, file_index, rows_per_block)


def _jsonl_blocks(f, head: bytes, file_index: int, rows_per_block: int) -> Iterator[pa.Table]:
    """Splits a JSONL stream on ``\\n`` (the BOM of the file's start dropped), numbering lines."""
    buf = head[len(BOM) :] if head.startswith(BOM) else head
    line_no = 0
    ids: list[int] = []
    lines: list[bytes] = []
    base = file_index << ajuste_py.INDEX_BITS
    done = False
    while not done:
        chunk = f.read(CHUNK_BYTES)
        if chunk:
            buf += chunk
            parts = buf.split(b"\n")
            buf = parts.pop()
        else:
            done = True
            parts = buf.split(b"\n") if buf else []
            last = parts.pop() if parts else b""
            buf = b""
        for part in parts:
            ids.append(base + line_no)
            lines.append(part + b"\n")
            line_no += 1
        if done and last:
            ids.append(base + line_no)
            lines.append(last)
            line_no += 1
        if line_no >= 1 << ajuste_py.INDEX_BITS:
            raise ajuste_py.DedupError("the file has more lines than a record id can number")
        while len(ids) >= rows_per_block or (done and ids):
            yield _rows(ids[:rows_per_block], lines[:rows_per_block])
            del ids[:rows_per_block], lines[:rows_per_block]


class AjusteRecords(FileBasedDatasource):
    """The records of ``paths`` (in that order: file ``k`` gets ids ``k << 40 | n``) as
    ``(id, line)`` blocks of at most ``rows_per_block`` rows."""

    def __init__(self, paths: Sequence[str], *, rows_per_block: int = 8192, **kwargs):
        paths = list(paths)
        super().__init__(paths, **kwargs)
        self._index = {_key(p): k for k, p in enumerate(paths)}
        if len(self._index) != len(paths):
            raise ValueError("the same file is named twice")
        self._rows_per_block = rows_per_block

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[pa.Table]:
        index = self._index.get(_key(path))
        if index is None:
            raise ajuste_py.DedupError(f"{path}: not one of the files the run was given")
        yield from read_blocks(f, os.path.basename(path), index, self._rows_per_block)
