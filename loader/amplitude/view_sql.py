"""SQL pieces of the catalog's views: a snapshot table's history, and an empty SELECT."""

from __future__ import annotations

import pyarrow as pa

from loader.amplitude.hour_manifests import SOURCE
from loader.catalog import quote_list
from loader.snapshot.reader import LakeSnapshot


def empty(columns: list[tuple[str, str]]) -> str:
    """A SELECT of no row with the given (column, SQL type)s: a view of what has no file yet."""
    return "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in columns) + " WHERE false"


def snapshot_files(pinned: LakeSnapshot, table: str) -> list[str]:
    """Every project's files of a snapshot table, as DuckDB opens them."""
    return pinned.urls(
        path for _, state in pinned.snapshot.tables_named(SOURCE, table) for path in state.files
    )


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


def history(pinned: LakeSnapshot, table: str, schema: pa.Schema) -> str:
    """Every snapshot of a snapshot table (an empty SELECT of its columns before the first)."""
    files = snapshot_files(pinned, table)
    if not files:
        return empty(snapshot_columns(schema))
    return (
        f"SELECT * FROM read_parquet({quote_list(files)}, hive_partitioning = false,"
        " union_by_name = true)"
    )
