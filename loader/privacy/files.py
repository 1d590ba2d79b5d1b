"""Rewriting one file of the lake without its erased rows, under a new name.

Files are never changed in place (readers of older snapshots may be reading them): a file
holding erased rows is written again without them, and the commit that lists the new file
supersedes the old one. A Parquet file keeps its schema and its row groups (one per old row
group, minus the erased rows), so a day file keeps the late rows apart; a file without an
erased row is left as it is, after reading only its id and time columns.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loader.day_files import dictionary_columns
from loader.lake import Lake
from loader.privacy.erased import ErasedIds


@dataclass(frozen=True)
class Rewritten:
    """What rewriting one file did.

    Attributes:
        rows: Rows (or records) the new file holds.
        removed: Rows (or records) erased.
        local: The new file on local disk, None for a file left empty (or unchanged).
        keys: The erased rows' key columns (for the duplicate index), if asked for.
    """

    rows: int
    removed: int
    local: Path | None
    keys: pa.Table | None = None


def rewrite_parquet(
    lake: Lake,
    path: str,
    erased: ErasedIds,
    ids: Mapping[str, str],
    time: str,
    scratch: Path,
    keys: tuple[str, ...] = (),
) -> Rewritten | None:
    """Write a Parquet file of the lake again without its erased rows.

    Args:
        lake: The lake.
        path: The file, relative to the lake.
        erased: The erased ids.
        ids: Kind of id to its column.
        time: The column compared with the cutoffs.
        scratch: A local folder for the new file.
        keys: Columns of the erased rows to return.

    Returns:
        What was done, or None if the file holds no erased row.
    """
    with lake.table_files.open(lake.join(path), "rb") as handle:
        parquet = pq.ParquetFile(handle)
        masks = _masks(parquet, erased, ids, time)
        if not any(m is not None for m in masks):
            return None
        local = scratch / f"erased-{uuid.uuid4().hex}.parquet"
        rows = removed = 0
        removed_keys: list[pa.Table] = []
        writer: pq.ParquetWriter | None = None
        try:
            for group, mask in enumerate(masks):
                table = parquet.read_row_group(group, use_threads=False)
                if mask is not None:
                    removed += pc.sum(mask).as_py() or 0
                    if keys:
                        removed_keys.append(table.filter(mask).select(list(keys)))
                    table = table.filter(pc.invert(mask))
                if not table.num_rows:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(
                        local,
                        parquet.schema_arrow,
                        compression="zstd",
                        use_dictionary=dictionary_columns(parquet.metadata),
                    )
                writer.write_table(table, row_group_size=table.num_rows)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
    return Rewritten(
        rows=rows,
        removed=removed,
        local=local if writer is not None else None,
        keys=pa.concat_tables(removed_keys) if removed_keys else None,
    )


def _masks(
    parquet: pq.ParquetFile, erased: ErasedIds, ids: Mapping[str, str], time: str
) -> list[pa.Array | None]:
    """Each row group's erased rows (None: none), read from the id and time columns only."""
    present = [c for c in (*ids.values(), time) if c in parquet.schema_arrow.names]
    if time not in present:
        return []
    return [
        erased.row_mask(
            parquet.read_row_group(group, columns=present, use_threads=False), ids, time
        )
        for group in range(parquet.num_row_groups)
    ]


def count_erased_rows(
    lake: Lake, path: str, erased: ErasedIds, ids: Mapping[str, str], time: str
) -> int:
    """How many rows of a Parquet file of the lake are erased ones (a check: nothing written)."""
    with lake.table_files.open(lake.join(path), "rb") as handle:
        masks = _masks(pq.ParquetFile(handle), erased, ids, time)
    return sum(pc.sum(m).as_py() or 0 for m in masks if m is not None)


def rewrite_records(
    lake: Lake,
    path: str,
    erased: ErasedIds,
    kinds: Iterable[str],
    time: str,
    scratch: Path,
) -> Rewritten | None:
    """Write a gzipped JSON-lines file (rejected lines) again without the erased records.

    A record is erased when any of its text (the rejected line included) names an erased id
    whose cutoff is after the record's time.

    Args:
        lake: The lake.
        path: The file, relative to the lake.
        erased: The erased ids.
        kinds: The kinds of id to look for in the text.
        time: The record's field that holds its time (ISO text).
        scratch: A local folder for the new file.

    Returns:
        What was done, or None if no record names an erased id.
    """
    lines, kept = _kept_records(lake, path, erased, kinds, time)
    if len(kept) == len(lines):
        return None
    local = None
    if kept:
        local = scratch / f"erased-{uuid.uuid4().hex}.jsonl.gz"
        local.write_bytes(gzip.compress(b"\n".join(kept) + b"\n", mtime=0))
    return Rewritten(rows=len(kept), removed=len(lines) - len(kept), local=local)


def _kept_records(
    lake: Lake, path: str, erased: ErasedIds, kinds: Iterable[str], time: str
) -> tuple[list[bytes], list[bytes]]:
    """A file's records, and those that name no erased id (or arrived after its cutoff)."""
    kinds = tuple(kinds)
    with lake.table_files.open(lake.join(path), "rb") as handle:
        lines = gzip.decompress(handle.read()).splitlines()
    kept: list[bytes] = []
    for line in lines:
        record = json.loads(line)
        text = " ".join(str(v) for v in record.values() if isinstance(v, str))
        cutoff = erased.text_cutoff(text, kinds)
        if cutoff is None or not _before(record.get(time), cutoff):
            kept.append(line)
    return lines, kept


def count_erased_records(
    lake: Lake, path: str, erased: ErasedIds, kinds: Iterable[str], time: str
) -> int:
    """How many records of a rejects file name an erased id (a check: nothing written)."""
    lines, kept = _kept_records(lake, path, erased, kinds, time)
    return len(lines) - len(kept)


def _before(moment: Any, cutoff: datetime) -> bool:
    """Whether an ISO time (or a missing one, which counts as before) is before a cutoff."""
    if not isinstance(moment, str):
        return True
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return True
    return parsed.replace(tzinfo=None) < cutoff


def drop_keys(lake: Lake, path: str, removed: pa.Table, scratch: Path) -> Rewritten | None:
    """Write an index file again without the rows whose keys were erased.

    Args:
        lake: The lake.
        path: The index, relative to the lake.
        removed: The erased rows' keys (columns the index has).
        scratch: A local folder for the new file.

    Returns:
        What was done, or None if the index lists none of the keys.
    """
    with lake.table_files.open(lake.join(path), "rb") as handle:
        index = pq.read_table(handle, use_threads=False)
    mask = _rows_in(index, removed)
    if not pc.any(mask).as_py():
        return None
    kept = index.filter(pc.invert(mask))
    local = None
    if kept.num_rows:
        local = scratch / f"erased-{uuid.uuid4().hex}.parquet"
        pq.write_table(kept, local, compression="zstd")
    return Rewritten(rows=kept.num_rows, removed=index.num_rows - kept.num_rows, local=local)


def _rows_in(table: pa.Table, keys: pa.Table) -> pa.Array:
    """Which rows of a table have all of `keys`' columns equal to one of its rows."""
    names = keys.column_names
    joined = table.select(names).append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    matched = joined.join(keys.group_by(names).aggregate([]), keys=names, join_type="inner")
    return pc.is_in(pa.array(range(table.num_rows), pa.int64()), value_set=matched.column("__row"))
