"""One erasure: every table that holds per-user rows, rewritten without some users.

The ids to erase come with their cutoff (`Requested`). A user id is also resolved to every
Amplitude id seen with it in the lake (events and cohort membership), so that the user's
anonymous events go too. Delta commits one table at a time, so the order is what keeps the
erasure whole:

1. the requests are recorded in `privacy_deletions`: from then on every load drops the users'
   rows before it publishes (`scrub`);
2. each table that holds per-user rows is rewritten without them, one erasure commit each;
3. one audit row goes to `privacy_erasures`.

A reader of one table sees it before or after its erasure, never between. Nothing here logs or
returns an erased value.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.amplitude.privacy.deletion_api import IdRequest
from loader.amplitude.privacy.records import (
    DELETIONS,
    DELETIONS_SCHEMA,
    ERASABLE,
    ERASURES,
    ERASURES_SCHEMA,
    unaudited_ids,
)
from loader.catalog import lake_session, quote_list
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.pinned import PinnedLake
from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds
from loader.privacy.tables import erase_table
from loader.snapshot.layout import TableLayout
from loader.snapshot_tables import SnapshotWriter, snapshot_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Requested:
    """One id to erase, and the request it came with.

    Attributes:
        job: The request's name (`amplitude/<day>` for a deletion job, `forget/<id>`).
        status: The job's status when seen (`staging`, `submitted`, `done`, `local`).
        id: The id.
        erase_before: Rows that arrived from this moment on (naive UTC) are new data and stay.
        job_day: The day the job runs in Amplitude, if it is one.
    """

    job: str
    status: str
    id: IdRequest
    erase_before: datetime
    job_day: date | None = None


@dataclass
class ErasureReport:
    """What one erasure did (no erased value in it).

    Attributes:
        project: The project id.
        jobs: The requests it served.
        ids: Ids erased: those asked for, and the Amplitude ids their user ids resolved to.
        resolved: Amplitude ids found for the user ids.
        rows: `<table>.<part>` to rows removed.
        files: Files rewritten.
        version: The snapshot committed (None if nothing was committed).
    """

    project: str
    jobs: list[str] = field(default_factory=list)
    ids: int = 0
    resolved: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    version: int | None = None


def linked_amplitude_ids(
    lake: Lake, pinned: PinnedLake, project: str, user_ids: list[str]
) -> dict[str, set[int]]:
    """Every Amplitude id seen with each of some user ids in a project's events and cohorts.

    Args:
        lake: The lake.
        pinned: The tables to read.
        project: The project id.
        user_ids: The user ids.

    Returns:
        User id to the Amplitude ids seen with it.
    """
    found: dict[str, set[int]] = {}
    if not user_ids:
        return found
    layout = TableLayout(lake, SOURCE, project, TABLE)
    events = pinned.table(layout.key).files
    members = pinned.table(layout.sibling("cohort_members").key).files
    with lake_session(lake.duckdb_filesystem) as con:
        for files in (events, members):
            if not files:
                continue
            urls = quote_list([lake.url(lake.join(p)) for p in files])
            # The ids are a parameter: they never enter the text of a query (nor a log of it).
            pairs = con.execute(
                "SELECT DISTINCT user_id, amplitude_id FROM read_parquet("
                f"{urls}, hive_partitioning = false, union_by_name = true)"
                " WHERE amplitude_id IS NOT NULL AND user_id IN (SELECT unnest($ids))",
                {"ids": user_ids},
            ).fetchall()
            for user, amplitude in pairs:
                found.setdefault(user, set()).add(int(amplitude))
    return found


def erase_users(
    lake: Lake,
    project: str,
    requested: list[Requested],
    *,
    trigger: str,
    status_rows: Iterable[tuple[str, str, date | None]] = (),
    now: datetime | None = None,
    log_retention: timedelta = timedelta(days=7),
) -> ErasureReport:
    """Erase users from a project, and record the requests.

    Args:
        lake: The lake.
        project: The project id.
        requested: The ids, with their requests.
        trigger: What asked (`deletion sync`, `forget`), for the audit.
        status_rows: (job, status, day) of jobs whose status changed, to record.
        now: The current moment.
        log_retention: The Delta log's retention (a new table's property).

    Returns:
        What was done.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    naive_now = now.replace(tzinfo=None)
    report = ErasureReport(project, jobs=sorted({r.job for r in requested}))
    statuses = list(status_rows)
    digests = IdDigests.of_lake(lake)
    pinned = PinnedLake.newest(lake, [SOURCE])
    pending = unaudited_ids(pinned, lake, project, digests)
    if not requested and not statuses and not pending:
        return report
    scratch = lake.scratch(uuid.uuid4().hex)
    tables = DeltaTables(lake)
    try:
        linked = linked_amplitude_ids(
            lake,
            pinned,
            project,
            sorted({str(r.id.value) for r in requested if r.id.kind == "user_id"}),
        )
        rows, erased = _deletion_rows(requested, linked, digests, naive_now)
        for job, status, day in statuses:
            rows.append(_row(job, status, None, "", None, None, day, naive_now))
        report.resolved = sum(1 for r in rows if r["resolved_from_sha256"])
        for (kind, digest), cutoff in pending.cutoffs.items():  # an erasure a kill cut short
            erased.add(kind, digest, cutoff)
        report.ids = len(erased.cutoffs)
        writer = SnapshotWriter(lake, SOURCE, project, now, scratch, log_retention=log_retention)
        if rows:  # recorded first: from now on every load drops these users' rows
            local, _ = writer.write_local(
                pa.Table.from_pylist(rows, DELETIONS_SCHEMA), DELETIONS_SCHEMA
            )
            report.version = writer.commit_file(
                DELETIONS, snapshot_spec(DELETIONS_SCHEMA), local, replace=False
            )
        if erased:
            removed: dict[str, int] = {}
            per_hour: dict[str, Counter[Any]] = {}
            for table, spec in ERASABLE.items():
                key = TableLayout(lake, SOURCE, project, table).key
                data_spec = _spec_of(tables, key)
                if data_spec is None:
                    continue
                done = erase_table(
                    tables,
                    key,
                    data_spec,
                    spec,
                    erased,
                    scratch,
                    operation=f"erase {report.ids} id(s) from {table} of project {project}",
                    log_retention=log_retention,
                )
                per_hour[table] = done.by_time
                if done.rows:  # an hourly table's rejected lines are its `rejects`
                    part = (
                        f"{table.removesuffix('_rejects')}.rejects"
                        if table.endswith("_rejects")
                        else f"{table}.rows"
                    )
                    removed[part] = done.rows
                report.files += done.files
            report.rows = removed
            _record_in_load_log(lake, project, per_hour, scratch, log_retention)
            audit = _audit(report, erased, trigger, report.version or 0, naive_now)
            local, _ = writer.write_local(audit, ERASURES_SCHEMA)
            writer.commit_file(ERASURES, snapshot_spec(ERASURES_SCHEMA), local, replace=False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "project %s: erased %d id(s) (%d resolved from user ids): %s row(s) in %d file(s)",
        project,
        report.ids,
        report.resolved,
        sum(report.rows.values()),
        report.files,
    )
    return report


def _record_in_load_log(
    lake: Lake,
    project: str,
    per_hour: dict[str, Counter[Any]],
    scratch: Path,
    log_retention: timedelta,
) -> None:
    """A new load-log row for each hour that lost rows or rejected lines: what is left."""
    rows, rejects = per_hour.get(TABLE, Counter()), per_hour.get(f"{TABLE}_rejects", Counter())
    hours = {_utc(h) for h in (*rows, *rejects)}
    if not hours:
        return
    store = ManifestStore(TableLayout(lake, SOURCE, project, TABLE))
    now = datetime.now(UTC).isoformat()
    changed = []
    for hour in sorted(hours):
        manifest = store.read(hour)
        if manifest is None:
            continue
        gone = sum(n for h, n in rows.items() if _utc(h) == hour)
        lines = sum(n for h, n in rejects.items() if _utc(h) == hour)
        manifest.rows -= gone
        manifest.rejects -= lines
        manifest.extra["erased_rows"] = int(manifest.extra.get("erased_rows", 0)) + gone
        manifest.extra["erased_rejects"] = int(manifest.extra.get("erased_rejects", 0)) + lines
        manifest.loaded_at = now  # the newest record of the hour
        changed.append(manifest)
    store.append(changed, scratch, log_retention=log_retention)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _spec_of(tables: DeltaTables, key: str) -> TableSpec | None:
    """A table's spec as its newest version declares it (None if it has no commit yet)."""
    current = tables.open(key)
    if current is None:
        return None
    configuration = current.metadata().configuration
    stats = configuration.get("delta.dataSkippingStatsColumns") or ""
    return TableSpec(
        schema=pa.schema(current.schema().to_arrow()),
        partition_by=tuple(current.metadata().partition_columns),
        stats=tuple(c for c in stats.split(",") if c),
    )


def _row(
    job: str,
    status: str,
    request: IdRequest | None,
    digest: str,
    resolved_from: str | None,
    cutoff: datetime | None,
    day: date | None,
    now: datetime,
) -> dict[str, object]:
    return {
        "job": job,
        "job_day": day,
        "status": status,
        "requester": request.requester if request else None,
        "requested_on_day": request.requested_on_day if request else None,
        "id_kind": request.kind if request else None,
        "id_sha256": digest or None,
        "resolved_from_sha256": resolved_from,
        "erase_before": cutoff,
        "seen_at": now,
        "erased_at": now if request else None,  # in the commit that records it
    }


def _deletion_rows(
    requested: list[Requested],
    linked: dict[str, set[int]],
    digests: IdDigests,
    now: datetime,
) -> tuple[list[dict[str, object]], ErasedIds]:
    """The deletions table's rows for some requests, and the ids they erase."""
    rows = []
    erased = ErasedIds(digests)
    for item in requested:
        request = item.id
        digest = digests.digest(request.kind, request.value)
        erased.add(request.kind, digest, item.erase_before)
        rows.append(
            _row(item.job, item.status, request, digest, None, item.erase_before, item.job_day, now)
        )
        if request.kind != "user_id":
            continue
        for amplitude_id in sorted(linked.get(str(request.value), ())):
            found = IdRequest(
                "amplitude_id", amplitude_id, request.requester, request.requested_on_day
            )
            resolved = digests.digest("amplitude_id", amplitude_id)
            erased.add("amplitude_id", resolved, item.erase_before)
            rows.append(
                _row(
                    item.job,
                    item.status,
                    found,
                    resolved,
                    digest,
                    item.erase_before,
                    item.job_day,
                    now,
                )
            )
    return rows, erased


def _audit(
    report: ErasureReport, erased: ErasedIds, trigger: str, version: int, now: datetime
) -> pa.Table:
    """The audit row of one erasure: counts and digests, never an erased value."""
    per_table: dict[str, dict[str, int]] = {}
    for name, rows in sorted(report.rows.items()):
        table, part = name.split(".", 1)
        per_table.setdefault(table, {})[part] = rows
    row = {
        "erasure_id": uuid.uuid4().hex[:16],
        "trigger": trigger,
        "jobs": report.jobs,
        "ids": len(erased.cutoffs),
        "id_sha256": sorted(d for _, d in erased.cutoffs),
        "rows_removed": json.dumps(per_table, sort_keys=True),
        "files_rewritten": report.files,
        "snapshot_version": version,
        "erased_at": now,
    }
    return pa.Table.from_pylist([row], ERASURES_SCHEMA)
