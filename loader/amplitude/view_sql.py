"""SQL pieces of the catalog's views: a snapshot table's history, and an empty SELECT."""

from __future__ import annotations

import pyarrow as pa

from loader.amplitude.hour_manifests import SOURCE
from loader.catalog import quote_list
from loader.pinned import PinnedLake


def empty(columns: list[tuple[str, str]]) -> str:
    """A SELECT of no row with the given (column, SQL type)s: a view of what has no file yet."""
    return "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in columns) + " WHERE false"


def snapshot_files(pinned: PinnedLake, table: str) -> list[str]:
    """Every project's files of a snapshot table, as DuckDB opens them."""
    return pinned.files(SOURCE, table)


def as_viewed(columns: list[tuple[str, str]]) -> str:
    """`SELECT *` of a Delta table's files, typed as the views show them.

    Times are typed UTC in the files and shown naive UTC: `make_timestamp(epoch_us(...))`
    keeps a filter on the column pushed down to the files' row groups, which `AT TIME ZONE`
    does not (200 times slower on a day's events), and a plain cast would depend on the
    session's time zone. Delta has no JSON type: JSON columns are text in files that Delta's
    compaction wrote, and read as JSON here.
    """
    replaced = [
        f'make_timestamp(epoch_us("{c}")) AS "{c}"'
        if kind == "TIMESTAMP"
        else f'"{c}"::JSON AS "{c}"'
        for c, kind in columns
        if kind in ("TIMESTAMP", "JSON")
    ]
    return f"* REPLACE ({', '.join(replaced)})" if replaced else "*"


def sql_type(kind: pa.DataType) -> str:
    """DuckDB's type for an Arrow type of the snapshot tables."""
    if getattr(kind, "extension_name", None) == "arrow.json":
        return "JSON"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    if pa.types.is_list(kind):
        return f"{sql_type(kind.value_type)}[]"
    return {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.bool_(): "BOOLEAN",
        pa.string(): "VARCHAR",
        pa.date32(): "DATE",
    }[kind]


def snapshot_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """The columns of a snapshot table written with `schema` (`snapshot_at`, `project_id` first)."""
    return [("snapshot_at", "TIMESTAMP"), ("project_id", "BIGINT")] + [
        (f.name, sql_type(f.type)) for f in schema
    ]


def history(pinned: PinnedLake, table: str, schema: pa.Schema) -> str:
    """Every snapshot of a snapshot table (an empty SELECT of its columns before the first)."""
    files = snapshot_files(pinned, table)
    columns = snapshot_columns(schema)
    if not files:
        return empty(columns)
    return (
        f"SELECT {as_viewed(columns)} FROM read_parquet({quote_list(files)},"
        " hive_partitioning = false, union_by_name = true)"
    )
