"""Files the loader writes itself, as the Delta actions that add them to a table or remove them.

The loader writes its Parquet files with its own writer (rows sorted, dictionaries chosen by
measurement, row groups sized for DuckDB) and commits them with delta-rs, which owns the log.
Each file gets a name never used before, so no file is ever written over a path a reader may be
reading. Its statistics come from its own footer, for the table's statistics columns only (see
`TableSpec.stats`): no user's id ever enters the log.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake.transaction import AddAction, RemoveAction

from loader.delta.tables import DeltaTables, TableSpec


def now_ms() -> int:
    """The current time in milliseconds since the epoch, as the Delta log keeps times."""
    return int(time.time() * 1000)


def new_file_name(partition: Mapping[str, str]) -> str:
    """A new name for a data file, in its partition's folder (relative to the table)."""
    folders = "".join(f"{k}={v}/" for k, v in partition.items())
    return f"{folders}part-{uuid.uuid4().hex[:20]}.parquet"


def add_file(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    local: Path,
    partition: Mapping[str, str] | None = None,
) -> AddAction:
    """Move a finished local Parquet file into a table's folder; the action that adds it.

    The file counts once a commit lists the action; until then no reader sees it, and one a
    crash leaves behind is removed by the vacuum.

    Args:
        tables: The lake's tables.
        key: The table's key.
        spec: What the table is (its statistics columns).
        local: The file on local disk (moved, not copied, on a local lake).
        partition: Its partition values (column to text), empty if the table has none.

    Returns:
        The action.
    """
    partition = dict(partition or {})
    name = new_file_name(partition)
    stats = file_stats(pq.read_metadata(local), spec.stats)
    size = local.stat().st_size
    lake = tables.lake
    lake.put(local, lake.join(key, name))
    return AddAction(name, size, partition, now_ms(), True, stats)


def removal(path: str, size: int | None, partition: Mapping[str, str | None]) -> RemoveAction:
    """The action that removes a file of the table's current version (kept for the retention).

    Args:
        path: The file, as the log names it (relative to the table).
        size: Its size in bytes.
        partition: Its partition values.

    Returns:
        The action.
    """
    return RemoveAction(path, True, now_ms(), size, dict(partition))


def file_stats(metadata: pq.FileMetaData, columns: tuple[str, ...]) -> str:
    """A file's Delta statistics: its rows, and the range and nulls of some columns.

    Timestamps are kept to the millisecond, as the log's readers expect: a minimum rounded
    down, a maximum rounded up, so that no reader ever skips a file holding a matching row.

    Args:
        metadata: The file's Parquet footer.
        columns: The columns to describe (those absent from the file are left out).

    Returns:
        The statistics, as JSON.
    """
    schema = metadata.schema.to_arrow_schema()
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in columns:
        if name not in schema.names:
            continue
        index = schema.get_field_index(name)
        kind = schema.field(index).type
        found = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if any(s is None for s in found):
            continue  # a row group without statistics: the column is left out
        nulls[name] = sum(s.null_count for s in found if s is not None)
        ranged = [s for s in found if s is not None and s.has_min_max]
        if ranged:
            least = min(_python(s.min, kind) for s in ranged)
            most = max(_python(s.max, kind) for s in ranged)
            if isinstance(least, str) and max(len(least), len(most)) > _TEXT_STATS:
                continue  # a reader would take a cut text for the whole: no range at all
            low[name] = _json_value(least, kind, up=False)
            high[name] = _json_value(most, kind, up=True)
    return json.dumps(
        {"numRecords": metadata.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls},
        separators=(",", ":"),
    )


#: The longest text whose range the log keeps (Spark cuts longer ones at 32 characters).
_TEXT_STATS = 32


def _python(value: Any, kind: pa.DataType) -> Any:
    """A statistic as pyarrow gives it, as a comparable Python value of the column's type."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if pa.types.is_timestamp(kind) and not isinstance(value, datetime):
        return pa.scalar(value, kind).as_py()
    if pa.types.is_timestamp(kind) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _json_value(value: Any, kind: pa.DataType, *, up: bool) -> Any:
    """A statistic as the Delta log writes it."""
    if pa.types.is_timestamp(kind):
        moment = value.astimezone(UTC)
        rest = moment.microsecond % 1000
        moment -= timedelta(microseconds=rest)
        if up and rest:
            moment += timedelta(milliseconds=1)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"no Delta statistics for a column of type {kind}")
