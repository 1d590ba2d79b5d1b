"""Erasing users from a Delta table: one transaction that rewrites every file holding them.

A file that holds an erased user's row is written again without it (`loader.delta.rewrite`) and
the commit removes the old file and adds the new one, marked as an erasure: the vacuum keeps
the old file no longer than the erasure retention. The log names files, never the erased ids:
the table's statistics leave out its id columns, and no predicate is written. Files are read
by their id, time and text columns first; a file that holds no erased row is left as it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from loader.delta.commit import Change, commit
from loader.delta.rewrite import LiveFile, live_files, replace_file
from loader.delta.tables import DeltaTables, TableSpec
from loader.privacy.erased import ErasedIds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasableTable:
    """How a table's rows name users.

    Attributes:
        ids: Kind of id (`amplitude_id`, `user_id`, ...) to the column that holds it.
        time: The column compared with an erased id's cutoff (when the row arrived).
        text: A column of free text (a rejected line) searched for erased ids, if any.
        kinds: The kinds of id looked for in `text`.
    """

    ids: Mapping[str, str]
    time: str
    text: str | None = None
    kinds: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The columns that tell whether a row is erased."""
        return [*self.ids.values(), self.time, *((self.text,) if self.text else ())]


def erased_mask(rows: pa.Table, table: ErasableTable, erased: ErasedIds) -> pa.Array | None:
    """Which rows are erased (None if none is)."""
    mask = erased.row_mask(rows, table.ids, table.time) if table.ids else None
    if table.text and table.text in rows.column_names:
        times = rows.column(table.time).cast(pa.timestamp("us")).to_pylist()
        found = [
            cutoff is not None and (moment is None or moment < cutoff)
            for text, moment in zip(rows.column(table.text).to_pylist(), times, strict=True)
            for cutoff in [erased.text_cutoff(text or "", table.kinds)]
        ]
        text_mask = pa.array(found, pa.bool_())
        mask = text_mask if mask is None else pc.or_(mask, text_mask)
    return mask if mask is not None and pc.any(mask).as_py() else None


@dataclass
class TableErasure:
    """What erasing one table did.

    Attributes:
        rows: Rows removed.
        files: Files rewritten (a file left empty counts: it is removed).
        version: The version committed (None if nothing was erased).
        by_time: Rows removed per value of the table's time column (an hourly table's hours).
    """

    rows: int = 0
    files: int = 0
    version: int | None = None
    by_time: Counter[Any] = field(default_factory=Counter)


def _holds_erased(
    tables: DeltaTables, key: str, path: str, table: ErasableTable, erased: ErasedIds
) -> bool:
    """Whether a file holds an erased row, from its id, time and text columns only."""
    lake = tables.lake
    with lake.table_files.open(lake.join(key, path), "rb") as handle:
        parquet = pq.ParquetFile(handle)
        present = [c for c in table.columns if c in parquet.schema_arrow.names]
        if table.time not in present:
            return False
        for group in range(parquet.num_row_groups):
            rows = parquet.read_row_group(group, columns=present, use_threads=False)
            if erased_mask(rows, table, erased) is not None:
                return True
    return False


def erase_files(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    table: ErasableTable,
    erased: ErasedIds,
    files: Iterable[LiveFile],
    scratch: Path,
    by_time: Counter[Any] | None = None,
) -> tuple[Change, int]:
    """The change that rewrites some files of a table without the erased users' rows.

    Args:
        tables: The lake's tables.
        key: The table's key.
        spec: What the table is.
        table: How its rows name users.
        erased: The erased ids.
        files: The files to look into.
        scratch: A local folder for the new files.
        by_time: Counts the rows removed per value of the time column, if given.

    Returns:
        The change, and the rows it removes.
    """
    change, removed = Change(), 0
    if not erased:
        return change, removed
    for file in files:
        if not _holds_erased(tables, key, file.path, table, erased):
            continue

        def keep(rows: pa.Table) -> pa.Table:
            mask = erased_mask(rows, table, erased)
            if mask is None:
                return rows
            if by_time is not None:
                by_time.update(rows.filter(mask).column(table.time).to_pylist())
            return rows.filter(pc.invert(mask))

        rewritten, done = replace_file(tables, key, spec, file, scratch, keep)
        change.adds += rewritten.adds
        change.removes += rewritten.removes
        removed += done.removed
    return change, removed


def erase_table(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    table: ErasableTable,
    erased: ErasedIds,
    scratch: Path,
    *,
    operation: str,
    log_retention: timedelta,
) -> TableErasure:
    """Erase users from a table's newest version, in one transaction marked as an erasure."""
    report = TableErasure()

    def change(current: DeltaTable | None) -> Change:
        if current is None:
            return Change()
        report.by_time.clear()  # counted again if the change is made again
        made, removed = erase_files(
            tables, key, spec, table, erased, live_files(current), scratch, report.by_time
        )
        report.rows, report.files = removed, len(made.removes)
        return made

    report.version = commit(
        tables, key, spec, operation, change, log_retention=log_retention, erasure=True
    )
    return report


def scrub_new_files(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    table: ErasableTable,
    erased: ErasedIds,
    adds: list[AddAction],
    scratch: Path,
) -> tuple[list[AddAction], Counter[Any]]:
    """New files (not committed yet) without the erased users' rows.

    Returns:
        The files to add instead, and the rows removed per value of the time column.
    """
    files = [LiveFile(a.path, a.size, dict(a.partition_values), 0) for a in adds]
    removed: Counter[Any] = Counter()
    change, _ = erase_files(tables, key, spec, table, erased, files, scratch, removed)
    if not change.removes:
        return adds, removed
    gone = {r.path for r in change.removes}
    lake = tables.lake
    for path in gone:  # never committed: no reader has them
        lake.delete(lake.join(key, path))
    return [a for a in adds if a.path not in gone] + change.adds, removed


def erased_rows_left(tables: DeltaTables, key: str, table: ErasableTable, erased: ErasedIds) -> int:
    """Rows of erased users a table's newest version still holds (a check: nothing written)."""
    current = tables.open(key)
    if current is None or not erased:
        return 0
    lake = tables.lake
    left = 0
    for file in live_files(current):
        with lake.table_files.open(lake.join(key, file.path), "rb") as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in table.columns if c in parquet.schema_arrow.names]
            if table.time not in present:
                continue
            for group in range(parquet.num_row_groups):
                rows = parquet.read_row_group(group, columns=present, use_threads=False)
                mask = erased_mask(rows, table, erased)
                left += 0 if mask is None else int(pc.sum(mask).as_py() or 0)
    return left
