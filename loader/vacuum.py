"""The lake's vacuum: Delta's, table by table, with the loader's retentions.

Each table keeps the files its versions removed for the retention (a reader that pinned an
older version keeps reading it), no longer than the erasure retention once an erasure removed
them, and loses the files no commit lists once they are old enough (`loader.delta.maintenance`).
Its log gets a checkpoint, and loses the records older than the log retention.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from loader.delta.maintenance import vacuum
from loader.delta.tables import DeltaTables
from loader.lake import Lake
from loader.legacy.convert import CONVERTED
from loader.pinned import table_keys

log = logging.getLogger(__name__)


@dataclass
class VacuumReport:
    """What a vacuum of the lake did.

    Attributes:
        at: When it ran (ISO, UTC).
        retention_hours: The retention of removed files.
        tables: Tables vacuumed.
        removed: Files deleted, relative to their table (`<key>: <file>`).
        log_records: Log records deleted.
        shortened: Tables whose retention an erasure shortened.
    """

    at: str
    retention_hours: float
    tables: int = 0
    removed: list[str] = field(default_factory=list)
    log_records: int = 0
    shortened: list[str] = field(default_factory=list)


def vacuum_lake_tables(
    lake: Lake, retention: timedelta, erasure_retention: timedelta, now: datetime | None = None
) -> VacuumReport:
    """Vacuum every table of the lake.

    Args:
        lake: The lake.
        retention: How long a removed file stays readable.
        erasure_retention: How long, at most, a file an erasure removed stays.
        now: The current moment (tests pin a later one).

    Returns:
        What was deleted.
    """
    now = now or datetime.now(UTC)
    report = VacuumReport(now.isoformat(), retention.total_seconds() / 3600)
    tables = DeltaTables(lake)
    for key in table_keys(lake):
        if tables.open(key) is None:
            continue
        done = vacuum(tables, key, retention, erasure_retention, now)
        report.tables += 1
        report.removed += [f"{key}: {path}" for path in done.removed]
        report.log_records += done.log_records
        if done.retention_hours < int(retention.total_seconds() // 3600):
            report.shortened.append(key)
    report.removed += _old_layout(lake, retention, now)
    log.info(
        "vacuum: %d table(s), %d file(s) and %d log record(s) deleted",
        report.tables,
        len(report.removed),
        report.log_records,
    )
    return report


def _old_layout(lake: Lake, retention: timedelta, now: datetime) -> list[str]:
    """The files a converted lake kept in its old layout, once older than the retention.

    Catalogs built before the conversion read them; no Delta table does.
    """
    note = lake.join(CONVERTED)
    if not lake.exists(note):
        return []
    converted = datetime.fromisoformat(json.loads(lake.read_bytes(note))["converted_at"])
    if converted > now - retention:
        return []
    removed = []
    folders = [lake.join(name) for name in ("_commits", "_vacuum")]
    for source in lake.names(lake.root):
        if not source.startswith(("_", ".")):
            folders += [
                lake.join(source, f)
                for f in lake.names(lake.join(source))
                if f.startswith("project=")
            ]
    for folder in folders:
        removed += [info.path[len(lake.root) + 1 :] for info in lake.files(folder)]
        with contextlib.suppress(FileNotFoundError):
            lake.fs.rm(folder, recursive=True)
    lake.delete(note)
    return removed
