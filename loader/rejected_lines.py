"""The rejected lines of an hourly table: a Delta table of their own, replaced hour by hour.

One row per line that could not be loaded, with its reason, member, line number and text;
`loaded` is false for the lines of an hour that failed (too many rejects) and is not loaded.
Each hour's lines are one file, so replacing an hour's lines (the hour loaded again, or failed
again) removes that file: the log's range of `upload_hour` says which file is whose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from loader.delta.commit import Change, commit
from loader.delta.files import add_file, removal
from loader.delta.rewrite import live_files
from loader.delta.tables import DeltaTables, TableSpec
from loader.hours import describe_hours
from loader.snapshot.layout import TableLayout

_UTC = pa.timestamp("us", tz="UTC")
REJECTS_SPEC = TableSpec(
    schema=pa.schema(
        [
            ("project_id", pa.int64()),
            ("upload_hour", _UTC),
            ("member", pa.string()),
            ("line_no", pa.int64()),
            ("reason", pa.string()),
            ("line", pa.string()),
            ("loaded", pa.bool_()),
        ]
    ),
    stats=("upload_hour",),
)

#: Removes rows that must not enter the lake (erased users) from new files of a table, as of
#: now: (table key, spec, new files) -> the files to add instead, and the rows removed per value
#: of the table's time column (an hourly table's hours).
Scrub = Callable[[str, TableSpec, list[AddAction]], tuple[list[AddAction], Counter[Any]]]


def replace_rejects(
    tables: DeltaTables,
    layout: TableLayout,
    hours: list[tuple[datetime, Path | None]],
    *,
    loaded: bool,
    scrub: Scrub | None,
    log_retention: timedelta,
) -> int | None:
    """One transaction that replaces some hours' rejected lines with theirs.

    Args:
        tables: The lake's tables.
        layout: The rejects table.
        hours: Each hour, and its rejected lines on local disk (None: it has none now).
        loaded: Whether the hours are loaded (false: they failed, and the lines wait).
        scrub: Drops erased users' lines first, if given.
        log_retention: The Delta log's retention (a new table's property).

    Returns:
        The version committed, or None if there was nothing to replace.
    """
    replaced = {hour for hour, _ in hours}
    if not replaced:
        return None
    adds = []
    for _, local in hours:
        if local is not None:
            _mark_loaded(local, loaded)
            adds.append(add_file(tables, layout.key, REJECTS_SPEC, local))

    def change(table: DeltaTable | None) -> Change:
        found = live_files(table, "upload_hour") if table is not None else []
        new = list(adds)
        if scrub is not None:
            new, _ = scrub(layout.key, REJECTS_SPEC, new)
        removes = [
            removal(f.path, f.size, f.partition)
            for f in found
            if f.low is not None and f.low == f.high and f.low in replaced
        ]
        return Change(adds=new, removes=removes)

    return commit(
        tables,
        layout.key,
        REJECTS_SPEC,
        f"{'replace' if loaded else 'quarantine'} the rejected lines of {layout.table}"
        f" of project {layout.project}: {describe_hours(replaced)}",
        change,
        log_retention=log_retention,
    )


def _mark_loaded(path: Path, loaded: bool) -> None:
    """Give a staged rejects file its `loaded` column as the hour's fate says."""
    table = pq.read_table(path)
    if "loaded" in table.column_names:
        table = table.drop_columns(["loaded"])
    table = table.append_column("loaded", pa.array([loaded] * table.num_rows, pa.bool_()))
    pq.write_table(table.cast(REJECTS_SPEC.schema), path, compression="zstd")
