"""Looking for ids in every byte of a lake: raw, decompressed and decoded.

Parquet pages are compressed, so a raw byte search alone would find nothing and prove nothing:
each Parquet file is also decoded, every row group rendered as JSON text, and each gzipped file
decompressed. An Amplitude id is searched as its decimal digits, a user id as its text, neither
as part of a longer id (`user_1` is not found in `user_12`).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def patterns(amplitude_ids: Iterable[int], user_ids: Iterable[str]) -> dict[str, re.Pattern[bytes]]:
    """A pattern per id, named by the id."""
    out = {
        str(a): re.compile(rb"(?<![0-9])" + str(a).encode() + rb"(?![0-9])") for a in amplitude_ids
    }
    for user in user_ids:
        text = re.escape(user.encode())
        out[user] = re.compile(rb"(?<![0-9A-Za-z_])" + text + rb"(?![0-9A-Za-z_])")
    return out


def _views(path: Path) -> Iterable[bytes]:
    """The file's bytes as they are, and decoded where compression hides them."""
    raw = path.read_bytes()
    yield raw
    if path.name.endswith(".gz"):
        yield gzip.decompress(raw)
    if path.name.endswith(".parquet"):
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group)
            yield "\n".join(_text(column) for column in table.columns).encode()


def _text(column: pa.ChunkedArray) -> str:
    """Every value of a column as text (nested values as JSON)."""
    if isinstance(column.type, pa.ExtensionType):
        column = pa.chunked_array([c.storage for c in column.chunks], column.type.storage_type)
    try:
        values = pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = [json.dumps(v, default=str, ensure_ascii=False) for v in column.to_pylist()]
    return "\n".join(v for v in values if v is not None)


def holders(files: Iterable[Path], wanted: dict[str, re.Pattern[bytes]]) -> dict[str, set[str]]:
    """Which files hold which ids: file to the ids found in it."""
    found: dict[str, set[str]] = {}
    for path in files:
        for view in _views(path):
            hits = {name for name, pattern in wanted.items() if pattern.search(view)}
            if hits:
                found.setdefault(str(path), set()).update(hits)
    return found


def every_file(folder: Path) -> list[Path]:
    """Every file below a folder."""
    return sorted(p for p in folder.rglob("*") if p.is_file())
