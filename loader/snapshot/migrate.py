"""Adopting a lake written before the commit log: its files become the first snapshot.

Earlier versions kept one file per hour at a fixed path (`.../hour=HH/data.parquet`), a manifest
per hour whose presence meant "loaded", a duplicate index and day copies rewritten in place, and
snapshot tables at `.../snapshot_at=<stamp>/data.parquet`. None of these paths is ever written
again (new files get new names), so they can be adopted as they are:

- every hour with a manifest, with its data and rejects files, except the hours a publish was
  interrupted in (named by its journal): those are loaded again;
- the day copies of days no interrupted publish touched, as compacted days;
- every snapshot table file and snapshot log record.

The duplicate index is computed afresh from the adopted hours. The old bookkeeping (journal,
index, schema markers, lock) is removed once the snapshot is committed; files not adopted are
left to the vacuum.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from loader.hours import hour_from_key, hour_key
from loader.lake import Lake
from loader.snapshot.duplicates import DuplicateIndex, UniqueKey
from loader.snapshot.layout import DAY_SUFFIX, SNAPSHOT_LOG, STATE, TableLayout
from loader.snapshot.log import CommitLog
from loader.snapshot.state import HourEntry, Snapshot, TableState, with_files

log = logging.getLogger(__name__)

_JOURNAL = "publishing.json"
_OLD_STATE = ("duplicates.parquet", _JOURNAL, "publish.lock")


def migrate_legacy(lake: Lake, scratch: Path, unique: UniqueKey) -> Snapshot | None:
    """Commit a lake written by an earlier version as its first snapshot, once.

    Args:
        lake: The lake.
        scratch: A local folder for the duplicate index being built.
        unique: The key of the hourly tables, for their duplicate index.

    Returns:
        The snapshot committed, or None if there was nothing to adopt.
    """
    commits = CommitLog(lake)
    with commits.locked():
        if commits.versions():
            return None
        tables: dict[str, TableState] = {}
        cleanup: list[str] = []
        for source in lake.names(lake.root):
            for folder in lake.names(lake.join(source)):
                if folder.startswith("project="):
                    project = folder.split("=", 1)[1]
                    cleanup += _adopt_project(lake, source, project, tables, scratch, unique)
        if not tables:
            return None
        snapshot = commits.commit(
            "adopt the lake written by an earlier version", lambda base: tables
        )
        for path in cleanup:
            lake.delete(path)
    log.warning(
        "adopted a lake written by an earlier version as snapshot %d (%d tables)",
        snapshot.version,
        len(tables),
    )
    return snapshot


def _adopt_project(
    lake: Lake,
    source: str,
    project: str,
    tables: dict[str, TableState],
    scratch: Path,
    unique: UniqueKey,
) -> list[str]:
    root = f"{source}/project={project}"
    cleanup = []
    for table in lake.names(lake.join(root, "_manifests")):
        layout = TableLayout(lake, source, project, table)
        journal = lake.join(root, STATE, table, _JOURNAL)
        # The journal names hours as ISO datetimes; their first 13 characters are hour keys.
        interrupted = (
            {h[:13] for h in json.loads(lake.read_bytes(journal))}
            if lake.exists(journal)
            else set()
        )
        hours: dict[str, HourEntry] = {}
        for name in sorted(lake.names(lake.join(root, "_manifests", table))):
            key = name[:-5]
            if not name.endswith(".json") or len(key) != 13:
                continue
            hour = hour_from_key(key)
            if key in interrupted:
                continue
            manifest = json.loads(lake.read_bytes(lake.join(root, "_manifests", table, name)))
            data = f"{root}/{table}/upload_date={hour:%Y-%m-%d}/hour={hour:%H}/data.parquet"
            rejects = f"{root}/_rejects/{table}/{hour_key(hour)}.jsonl.gz"
            hours[key] = HourEntry(
                manifest=f"{root}/_manifests/{table}/{name}",
                data=data if manifest.get("rows") and lake.exists(lake.join(data)) else None,
                rejects=rejects if lake.exists(lake.join(rejects)) else None,
                rows=int(manifest.get("rows") or 0),
                rejected=int(manifest.get("rejects") or 0),
                schema_version=int(manifest.get("schema_version") or 0),
                content_sha256=str(manifest.get("content_sha256") or ""),
            )
        touched_days = {h[:10] for h in interrupted}
        days = {}
        for name in lake.names(lake.join(root, f"{table}{DAY_SUFFIX}")):
            day = name.split("=", 1)[-1]
            copy = f"{root}/{table}{DAY_SUFFIX}/{name}/data.parquet"
            if day not in touched_days and lake.exists(lake.join(copy)):
                days[day] = copy
        if not hours and not days:
            # Only files of this version (a first load killed before its commit): nothing
            # to adopt, and no snapshot to commit for it.
            continue
        state = TableState(hours=hours, days=days)
        hour_list = [hour_from_key(k) for k in hours]
        index, rows = DuplicateIndex(layout, unique).refresh(
            hour_list, TableState(), state, scratch
        )
        tables[layout.key] = TableState(hours=hours, days=days, index=index, index_rows=rows)
        cleanup += [lake.join(root, STATE, table, name) for name in _OLD_STATE]
        cleanup += [
            lake.join(root, STATE, table, name)
            for name in lake.names(lake.join(root, STATE, table))
            if name.startswith("schema_version=")
        ]
    for table in lake.names(lake.join(root)):
        if table.startswith("_") and table != SNAPSHOT_LOG:
            continue
        files = [
            p[len(lake.root) + 1 :]
            for pattern in (f"{root}/{table}/snapshot_at=*/*", f"{root}/{table}/*/snapshot_at=*/*")
            for p in lake.glob(lake.join(pattern))
        ]
        if table == SNAPSHOT_LOG:
            files = [
                p[len(lake.root) + 1 :] for p in lake.glob(lake.join(f"{root}/{table}/*/*.json"))
            ]
        if files:
            key = TableLayout(lake, source, project, table).key
            tables[key] = with_files(tables.get(key, TableState()), sorted(files))
    return cleanup
