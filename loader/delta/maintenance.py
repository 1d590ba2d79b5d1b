"""Keeping a Delta table small and fast: compaction, vacuum, checkpoints, log clean-up.

All of it is delta-rs's; what is the loader's is when and with which retention:

- a finished partition (an upload day past the lag and the re-check window) is compacted once
  (`compact`), as the loader's own day files were;
- the vacuum deletes a removed file once it was removed more than the retention ago, so a
  reader that pinned an older version keeps it for that long; a file an erasure removed holds an
  erased user's rows, so once the erasure is older than the erasure retention every file removed
  up to it goes, whatever the retention;
- a file that no commit ever listed (a crash, a writer that lost its commit) goes once it is
  older than the retention, and never before `UNCOMMITTED_MIN_AGE`: another writer may be about
  to commit it;
- a checkpoint is written and the log's expired records removed (`delta.logRetentionDuration`,
  no longer than the erasure retention), so opening the newest version reads a checkpoint and a
  few records, not a year of them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake.transaction import CommitProperties

from loader.delta.commit import ERASURE, OPERATION
from loader.delta.tables import DeltaTables, TableSpec
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: DuckDB's own row-group size: one scan task per group.
ROW_GROUP_ROWS = 122_880
#: The size a compacted file aims at.
TARGET_FILE_BYTES = 512 << 20
#: How long a file that no commit lists is kept at the least: far longer than a commit takes.
UNCOMMITTED_MIN_AGE = timedelta(hours=6)


@dataclass
class TableVacuum:
    """What vacuuming one table did.

    Attributes:
        removed: Files deleted (relative to the table).
        retention_hours: The retention applied to removed files.
        log_records: Log records deleted.
    """

    removed: list[str] = field(default_factory=list)
    retention_hours: int = 0
    log_records: int = 0


def compact(table: DeltaTable, partition: dict[str, str], operation: str, spec: TableSpec) -> int:
    """Compact one partition's files into as few as the target size allows.

    Rows keep their order (the hours' files one after the other, each sorted by its writer).

    Args:
        table: The table, at its newest version.
        partition: The partition (column to value).
        operation: What the compaction is, for the log.
        spec: What the table is (the columns written without a dictionary).

    Returns:
        Files the compaction removed (0 if the partition had one file or none).
    """
    crash_point("delta.before_compact")
    metrics = table.optimize.compact(
        partition_filters=[(k, "=", v) for k, v in partition.items()],
        target_size=TARGET_FILE_BYTES,
        writer_properties=WriterProperties(
            compression="ZSTD",
            max_row_group_size=ROW_GROUP_ROWS,
            column_properties={c: ColumnProperties(dictionary_enabled=False) for c in spec.plain},
        ),
        commit_properties=CommitProperties(custom_metadata={OPERATION: operation}),
    )
    return int(metrics.get("numFilesRemoved", 0))


def readable_since(
    history: list[dict[str, Any]], retention: timedelta, erasure_retention: timedelta, now: datetime
) -> datetime:
    """The moment from which every version current stays readable.

    Normally now minus the retention; once an erasure is older than the erasure retention, the
    erasure itself (no version before it stays, whatever the retention).

    Args:
        history: The table's commits (`DeltaTable.history()`).
        retention: How long a removed file stays readable.
        erasure_retention: How long, at most, a file an erasure removed stays.
        now: The current moment.

    Returns:
        The moment.
    """
    since = now - retention
    if erasure_retention < retention:
        erased = [_moment(entry) for entry in history if entry.get(ERASURE)]
        due = [moment for moment in erased if moment <= now - erasure_retention]
        if due:
            since = max(since, max(due))
    return since


def kept_versions(history: list[dict[str, Any]], since: datetime) -> list[int]:
    """The versions current at some moment from `since` on: the one current then, and later."""
    versions = sorted((int(e["version"]), _moment(e)) for e in history)
    current_then = [v for v, moment in versions if moment <= since]
    first = current_then[-1] if current_then else (versions[0][0] if versions else 0)
    return [v for v, _ in versions if v >= first]


def _moment(entry: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)


def vacuum(
    tables: DeltaTables,
    key: str,
    retention: timedelta,
    erasure_retention: timedelta,
    now: datetime | None = None,
) -> TableVacuum:
    """Delete a table's files that no version a reader may hold needs; clean its log.

    delta-rs counts its retention in whole hours; the versions to keep are given to it instead
    (`keep_versions`), so a retention of minutes is honoured to the second.

    Args:
        tables: The lake's tables.
        key: The table's key.
        retention: How long a removed file stays readable.
        erasure_retention: How long, at most, a file an erasure removed stays.
        now: The current moment, for the versions kept (tests pin a later one); files no
            commit lists are aged by the clock.

    Returns:
        What was deleted.
    """
    table = tables.open(key)
    if table is None:
        return TableVacuum()
    now = now or datetime.now(UTC)
    history = table.history()
    since = readable_since(history, retention, erasure_retention, now)
    keep = kept_versions(history, since)
    report = TableVacuum(retention_hours=max(0, int((now - since).total_seconds() // 3600)))
    crash_point("delta.before_vacuum")
    # Removed files of versions no reader may hold any more, then files no commit lists, once
    # old enough that no writer is about to commit them.
    passes = [(0, False), (math.ceil(UNCOMMITTED_MIN_AGE.total_seconds() / 3600), True)]
    lake = tables.lake
    for hours, full in passes:
        # delta-rs names a removed file again at every vacuum until its tombstone expires:
        # only those still there are reported.
        found = table.vacuum(
            retention_hours=hours,
            dry_run=True,
            enforce_retention_duration=False,
            full=full,
            keep_versions=keep,
        )
        present = [path for path in found if lake.exists(lake.join(key, path))]
        if present:
            table.vacuum(
                retention_hours=hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=full,
                keep_versions=keep,
            )
        report.removed += present
    before = _log_records(tables, key)
    table.create_checkpoint()
    table.cleanup_metadata()
    report.log_records = max(0, before - _log_records(tables, key))
    return report


def _log_records(tables: DeltaTables, key: str) -> int:
    """How many commit records the table's log holds (a listing: no record is read)."""
    names = tables.lake.names(tables.lake.join(key, "_delta_log"))
    return sum(1 for name in names if name.endswith(".json") and name[:-5].isdigit())
