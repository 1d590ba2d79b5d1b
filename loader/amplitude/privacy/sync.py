"""The deletion sync and `forget`: requests to erase users, from Amplitude or from the user.

The sync lists the project's deletion jobs, from the oldest job not yet `done` (the first time:
from the project's first hour) to a month ahead (a job runs 10 to 13 days after its first
request), records every new id and status change, and erases the new ids at once: it does not
wait for Amplitude's job to run, so the lake is never behind Amplitude, and Amplitude may take
weeks to reach `done`. Each id's cutoff is the end of its job's day: Amplitude deletes what it
received until the job ran, and keeps what arrives after; so does the lake.

`forget` erases ids that did not come through Amplitude (a request sent to you), from now
backwards; with `submit` it also asks Amplitude to delete them.

Both end with a vacuum, so that the files an erasure superseded are deleted once the
retention (at most the erasure retention) has passed: run the sync daily.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from loader.amplitude.clients import project_client
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.amplitude.lake_access import open_lake, vacuum_lake
from loader.amplitude.privacy.deletion_api import DeletionApi, DeletionJob, IdRequest
from loader.amplitude.privacy.erase import ErasureReport, Requested, erase_users
from loader.amplitude.privacy.records import DELETIONS, deletion_rows, end_of, job_statuses
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.pinned import PinnedLake
from loader.privacy.digests import IdDigests
from loader.snapshot.layout import TableLayout
from loader.vacuum import VacuumReport

log = logging.getLogger(__name__)

#: How far ahead of today the sync lists jobs: a request made today runs in 10 to 13 days.
LOOK_AHEAD = timedelta(days=31)
#: The first sync of a project with no first hour lists this far back.
FIRST_LOOK_BACK = timedelta(days=180)
_NOTE = "sync.json"


@dataclass
class DeletionSyncReport:
    """What one project's deletion sync did.

    Attributes:
        project: The project's label.
        listed: The days listed (`first..last`).
        jobs: Jobs listed.
        new_ids: Ids not seen before (erased now).
        status_changes: Jobs whose status changed.
        erasure: The erasure, if anything was recorded.
        vacuum: The vacuum that followed.
    """

    project: str
    listed: str = ""
    jobs: int = 0
    new_ids: int = 0
    status_changes: int = 0
    erasure: ErasureReport | None = None
    vacuum: VacuumReport | None = field(default=None, repr=False)


def _note(lake: Lake, project: str) -> str:
    return lake.join(TableLayout(lake, SOURCE, project, DELETIONS).state_file(_NOTE))


def _first_day(lake: Lake, project: ProjectConfig, settings: LoaderSettings, today: date) -> date:
    """Where the listing starts: the oldest open job, or the last sync, or the first hour.

    The first hour is the earlier of the configured start and the oldest hour the lake holds
    (a lake loaded with another start, or with none configured now); only a project with
    neither lists `FIRST_LOOK_BACK`.
    """
    pid = str(project.project_id)
    rows = deletion_rows(PinnedLake.newest(lake, [SOURCE]), lake, pid)
    statuses = job_statuses(rows)
    days = dict(
        zip(rows.column("job").to_pylist(), rows.column("job_day").to_pylist(), strict=True)
    )
    open_days = [days[j] for j, s in statuses.items() if s != "done" and days.get(j)]
    path = _note(lake, pid)
    if lake.exists(path):
        last = date.fromisoformat(json.loads(lake.read_bytes(path))["last_synced_day"])
        return min([last - timedelta(days=1), *open_days])
    start = project.start or settings.start
    held = ManifestStore(TableLayout(lake, SOURCE, pid, TABLE)).loaded_hours()
    firsts = [d for d in (start, min(held) if held else None) if d is not None]
    return min(firsts).date() if firsts else today - FIRST_LOOK_BACK


def sync_deletions(
    project: ProjectConfig,
    settings: LoaderSettings,
    *,
    now: datetime | None = None,
    since: date | None = None,
) -> DeletionSyncReport:
    """List a project's deletion jobs, record them, and erase their new ids.

    Args:
        project: The project.
        settings: Loader settings.
        now: The current moment (tests pin it).
        since: List from this day too, if it is earlier than where the listing starts (for
            requests older than the project's first hour, before a backfill of older hours).

    Returns:
        What was done.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    lake = open_lake(settings)
    pid = str(project.project_id)
    report = DeletionSyncReport(project.label)
    first, last = _first_day(lake, project, settings, today), today + LOOK_AHEAD
    first = min(first, since) if since else first
    report.listed = f"{first}..{last}"
    api = DeletionApi(project_client(project, settings, "User Privacy API"))
    jobs = api.jobs(first, last)
    report.jobs = len(jobs)
    requested, changed = _news(lake, pid, jobs)
    report.new_ids, report.status_changes = len(requested), len(changed)
    # Called with nothing new too: it finishes an erasure a kill cut short.
    erasure = erase_users(
        lake,
        pid,
        requested,
        trigger="deletion sync",
        status_rows=changed,
        now=now,
        log_retention=settings.log_retention,
    )
    if requested or changed or erasure.ids:
        report.erasure = erasure
    lake.write_bytes(_note(lake, pid), json.dumps({"last_synced_day": str(today)}).encode())
    report.vacuum = vacuum_lake(settings, now=now)
    return report


def _news(
    lake: Lake, project: str, jobs: list[DeletionJob]
) -> tuple[list[Requested], list[tuple[str, str, date | None]]]:
    """The ids of the jobs not recorded yet, and the jobs whose status changed."""
    rows = deletion_rows(PinnedLake.newest(lake, [SOURCE]), lake, project)
    statuses = job_statuses(rows)
    recorded = {
        (job, kind, digest)
        for job, kind, digest, resolved in zip(
            rows.column("job").to_pylist(),
            rows.column("id_kind").to_pylist(),
            rows.column("id_sha256").to_pylist(),
            rows.column("resolved_from_sha256").to_pylist(),
            strict=True,
        )
        if digest and not resolved
    }
    digests = IdDigests.of_lake(lake) if jobs else None
    requested: list[Requested] = []
    changed: list[tuple[str, str, date | None]] = []
    for job in jobs:
        assert digests is not None
        new = [
            i
            for i in job.ids
            if (job.name, i.kind, digests.digest(i.kind, i.value)) not in recorded
        ]
        requested += [Requested(job.name, job.status, i, end_of(job.day), job.day) for i in new]
        if not new and statuses.get(job.name) != job.status:
            changed.append((job.name, job.status, job.day))
    return requested, changed


def forget(
    project: ProjectConfig,
    settings: LoaderSettings,
    ids: list[IdRequest],
    requester: str,
    *,
    submit: bool = False,
    now: datetime | None = None,
) -> tuple[ErasureReport, list[DeletionJob]]:
    """Erase users from a project now, and optionally ask Amplitude to delete them too.

    Args:
        project: The project.
        settings: Loader settings.
        ids: The ids.
        requester: Who asked (kept with the request).
        submit: Also submit the ids to Amplitude's User Privacy API.
        now: The current moment.

    Returns:
        The erasure, and the Amplitude jobs the ids joined (if submitted).
    """
    now = now or datetime.now(UTC)
    lake = open_lake(settings)
    pid = str(project.project_id)
    job = f"forget/{uuid.uuid4().hex[:12]}"
    cutoff = now.astimezone(UTC).replace(tzinfo=None)
    today = cutoff.date()
    requested = [
        Requested(job, "local", IdRequest(i.kind, i.value, requester, today), cutoff) for i in ids
    ]
    report = erase_users(
        lake, pid, requested, trigger="forget", now=now, log_retention=settings.log_retention
    )
    jobs: list[DeletionJob] = []
    if submit:
        api = DeletionApi(project_client(project, settings, "User Privacy API"))
        jobs = api.submit(ids, requester)
        status = [(job, f"submitted to Amplitude, job of {j.day}", j.day) for j in jobs]
        # Recorded when it happened, after the request's own rows (a pinned `now` is earlier).
        erase_users(
            lake,
            pid,
            [],
            trigger="forget",
            status_rows=status,
            log_retention=settings.log_retention,
        )
    vacuum_lake(settings, now=now)
    return report, jobs
