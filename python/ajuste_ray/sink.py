"""Writing the kept records: one JSONL file per block, named by the block's first record id, so
that the files concatenated in name order hold the kept records in input order, byte for byte
what ``ajuste data dedup -o OUT.jsonl`` writes."""

from __future__ import annotations

import os
import uuid
from typing import Iterable

import pyarrow as pa
import pyarrow.fs as pafs
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink


def _filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(path)


class JsonlLines(Datasink):
    """Writes the ``out`` column of ``(id, out)`` blocks as ``part-<first id>.jsonl`` files in the
    directory ``path`` (created; files are written under a temporary name, then renamed)."""

    def __init__(self, path: str):
        self._path = path

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        fs, base = _filesystem(self._path)
        fs.create_dir(base, recursive=True)

    def write(self, blocks: Iterable[Block], ctx) -> None:
        fs, base = _filesystem(self._path)
        for block in blocks:
            table = BlockAccessor.for_block(block).to_arrow()
            if table.num_rows == 0:
                continue
            first = table.column("id")[0].as_py()
            lines = table.column("out").to_pylist()
            data = ("\n".join(lines) + "\n").encode("utf-8")
            final = f"{base}/part-{first:020d}.jsonl"
            tmp = f"{final}.{uuid.uuid4().hex}.tmp"
            with fs.open_output_stream(tmp) as out:
                out.write(data)
            fs.move(tmp, final)

    def get_name(self) -> str:
        return "AjusteJsonl"
