"""Rewriting files of a table's version: replacing some rows, or changing them, in one commit.

A file is never changed in place (a reader of an older version may be reading it): a file that
must change is read row group by row group, written again under a new name, and the commit that
adds the new file removes the old one. The new file keeps the old one's schema, its row groups
(one per old group, minus the rows dropped) and its dictionary columns, so a compacted day
keeps its layout.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from loader.delta.commit import Change
from loader.delta.files import add_file, removal
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake

#: Changes one row group: returns the rows to keep (changed or not).
Transform = Callable[[pa.Table], pa.Table]


@dataclass(frozen=True)
class LiveFile:
    """A data file of a table's version, as its log entry describes it.

    Attributes:
        path: Relative to the table.
        size: Bytes.
        partition: Its partition values.
        rows: Its rows.
        low: The smallest value of the column asked about (None if the log has none).
        high: The largest.
    """

    path: str
    size: int
    partition: dict[str, str | None]
    rows: int
    low: Any = None
    high: Any = None


def live_files(table: DeltaTable, column: str | None = None) -> list[LiveFile]:
    """Every data file of a table's version, with the range of one column from the log."""
    actions = pa.table(table.get_add_actions(flatten=True))
    names = actions.column_names
    parts = [n for n in names if n.startswith("partition.")]
    rows = actions.to_pylist()
    return [
        LiveFile(
            path=row["path"],
            size=int(row["size_bytes"]),
            partition={p.split(".", 1)[1]: _text(row[p]) for p in parts},
            rows=int(row.get("num_records") or 0),
            low=_utc(row.get(f"min.{column}")) if column else None,
            high=_utc(row.get(f"max.{column}")) if column else None,
        )
        for row in rows
    ]


def _text(value: Any) -> str | None:
    """A partition value as the log writes it (text)."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Rewritten:
    """What rewriting one file did.

    Attributes:
        local: The new file on local disk, None if no row is left.
        rows: Rows it holds.
        removed: Rows dropped.
    """

    local: Path | None
    rows: int
    removed: int


def rewrite_parquet(lake: Lake, path: str, scratch: Path, transform: Transform) -> Rewritten:
    """Write a file of the lake again, each row group through `transform`.

    Args:
        lake: The lake.
        path: The file, relative to the lake.
        scratch: A local folder for the new file.
        transform: Returns the rows of a row group to keep, changed as they must be.

    Returns:
        The new file and its counts.
    """
    local = scratch / f"rewrite-{uuid.uuid4().hex}.parquet"
    rows = removed = 0
    writer: pq.ParquetWriter | None = None
    with lake.table_files.open(lake.join(path), "rb") as handle:
        parquet = pq.ParquetFile(handle)
        try:
            for group in range(parquet.num_row_groups):
                before = parquet.read_row_group(group, use_threads=False)
                after = transform(before)
                removed += before.num_rows - after.num_rows
                if not after.num_rows:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(
                        local,
                        parquet.schema_arrow,
                        compression="zstd",
                        use_dictionary=dictionary_columns(parquet.metadata),
                    )
                writer.write_table(after.cast(parquet.schema_arrow), row_group_size=after.num_rows)
                rows += after.num_rows
        finally:
            if writer is not None:
                writer.close()
    return Rewritten(local if writer is not None else None, rows, removed)


def dictionary_columns(metadata: pq.FileMetaData) -> list[str]:
    """The columns a Parquet file encodes with a dictionary, to write a copy the same way.

    The writer of the source file chose them by measurement (a dictionary shrinks repeated values
    and wastes time and space on unique ones); a file without row groups tells nothing: none.
    """
    if not metadata.num_row_groups:
        return []
    group = metadata.row_group(0)
    return [
        group.column(i).path_in_schema
        for i in range(group.num_columns)
        if any("DICTIONARY" in e for e in group.column(i).encodings)
    ]


def holds_any(lake: Lake, path: str, column: str, values: Collection[datetime]) -> bool:
    """Whether a file of the lake has a row whose `column` is one of `values` (one column read)."""
    with lake.table_files.open(lake.join(path), "rb") as handle:
        parquet = pq.ParquetFile(handle)
        kind = parquet.schema_arrow.field(column).type
        wanted = pa.array(sorted(values), kind)
        for group in range(parquet.num_row_groups):
            found = parquet.read_row_group(group, columns=[column], use_threads=False)
            if pc.any(pc.is_in(found.column(column), value_set=wanted)).as_py():
                return True
    return False


def replace_file(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    file: LiveFile,
    scratch: Path,
    transform: Transform,
) -> tuple[Change, Rewritten]:
    """The change that puts a rewritten copy of a file in its place.

    Returns:
        The change (the old file removed, its copy added unless no row is left) and what the
        rewrite did.
    """
    done = rewrite_parquet(tables.lake, f"{key}/{file.path}", scratch, transform)
    adds: list[AddAction] = []
    if done.local is not None:
        partition = {k: v for k, v in file.partition.items() if v is not None}
        adds.append(add_file(tables, key, spec, done.local, partition))
    return Change(adds=adds, removes=[removal(file.path, file.size, file.partition)]), done
