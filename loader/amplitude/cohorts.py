"""Cohort definitions and membership.

Membership comes from the asynchronous Behavioral Cohorts download: request (202), poll while
202, then `/file`, which answers with the file or a 302 to a pre-signed storage URL that is valid
for one minute. That URL is fetched at once and **without** the Basic auth header (a pre-signed
URL refuses a second credential, and the keys must not leave for another host); if it has
expired, `/file` (valid 7 days) is asked again for a fresh link.

Limits respected here: 60 requests per 10 minutes per project for step 1, one download at a time
(under the 4-in-parallel and 5-concurrent limits), cohorts over the downloadable size skipped, and a
monthly download budget (Amplitude allows 500) kept in a ledger in the lake, which refuses before
the budget is exceeded. Only cohorts whose `lastComputed` changed since their last download are
downloaded again.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from loader.errors import HttpError, LoaderError
from loader.http import HttpClient
from loader.lake import Lake
from loader.progress import NoProgress, Progress, counted
from loader.ratelimit import SlidingWindow
from loader.snapshot_tables import SnapshotWriter

log = logging.getLogger(__name__)

COHORTS_SCHEMA = pa.schema(
    [
        ("cohort_id", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("size", pa.int64()),
        ("archived", pa.bool_()),
        ("published", pa.bool_()),
        ("hidden", pa.bool_()),
        ("last_computed", pa.timestamp("us")),
        ("last_modified", pa.timestamp("us")),
        ("created_at", pa.timestamp("us")),
        ("owners", pa.json_(pa.string())),
        ("definition", pa.json_(pa.string())),
        ("raw", pa.json_(pa.string())),
    ]
)
MEMBERS_SCHEMA = pa.schema(
    [
        ("cohort_id", pa.string()),
        ("amplitude_id", pa.int64()),
        ("user_id", pa.string()),
        ("group_value", pa.string()),
        ("properties", pa.json_(pa.string())),
    ]
)
_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class CohortOptions:
    """How cohorts are snapshotted.

    Attributes:
        include: Glob patterns of cohort names or ids to download (default: all).
        exclude: Glob patterns of cohort names or ids never to download.
        props: Ask for user properties in the membership files.
        monthly_budget: Downloads allowed per calendar month (UTC); Amplitude allows 500.
        max_size: Cohorts larger than this are not downloadable and are skipped.
        poll_seconds: Wait between status polls.
        max_polls: Polls before a job counts as stuck.
        requests_per_10_minutes: Amplitude's limit on step 1.
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    props: bool = False
    monthly_budget: int = 450
    max_size: int = 2_000_000
    poll_seconds: float = 2.0
    max_polls: int = 900
    requests_per_10_minutes: int = 60


def cohort_matches(patterns: Iterable[str], cohort_id: str, name: str) -> bool:
    """Whether a glob pattern matches a cohort's name or id."""
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(cohort_id, p) for p in patterns)


class QuotaExceededError(LoaderError):
    """The monthly cohort download budget would be exceeded."""


@dataclass
class CohortReport:
    """What a cohort snapshot did.

    Attributes:
        cohorts: Cohort definitions recorded.
        downloaded: Cohorts whose membership was downloaded.
        unchanged: Cohorts not downloaded because `lastComputed` did not change.
        skipped: Cohorts skipped, with the reason.
        members: Membership rows written.
        quota_used: Downloads counted in the ledger this month, after the run.
        quota_budget: The monthly budget.
    """

    cohorts: int = 0
    downloaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    members: int = 0
    quota_used: int = 0
    quota_budget: int = 0


class DownloadLedger:
    """Counts cohort downloads per calendar month, in a file in the lake.

    Args:
        lake: The lake.
        path: The ledger file.
        budget: Downloads allowed per month.
    """

    def __init__(self, lake: Lake, path: str, budget: int) -> None:
        self.lake = lake
        self.path = path
        self.budget = budget

    def _entries(self) -> list[dict[str, str]]:
        if not self.lake.exists(self.path):
            return []
        entries: list[dict[str, str]] = json.loads(self.lake.read_bytes(self.path))
        return entries

    def used(self, now: datetime) -> int:
        """Downloads recorded in the month of `now`."""
        month = f"{now:%Y-%m}"
        return sum(1 for e in self._entries() if e["at"].startswith(month))

    def take(self, cohort: str, now: datetime) -> None:
        """Record one download, or refuse if it would exceed the budget.

        Raises:
            QuotaExceededError: If the month's budget is used up.
        """
        used = self.used(now)
        if used + 1 > self.budget:
            raise QuotaExceededError(
                f"the monthly cohort download budget of {self.budget} is used up"
                f" ({used} downloads in {now:%Y-%m}); cohort {cohort} was not downloaded",
                remedy="wait for next month, narrow the cohorts with include/exclude patterns, or"
                " raise the budget (Amplitude allows 500 downloads a month)",
            )
        entries = self._entries()
        entries.append({"at": now.isoformat(), "cohort": cohort})
        self.lake.write_bytes(self.path, json.dumps(entries, indent=0).encode())


def _ts(seconds: Any) -> datetime | None:
    if seconds in (None, ""):
        return None
    return datetime.fromtimestamp(float(seconds), tz=UTC).replace(tzinfo=None)


def _held(entry: Any) -> tuple[Any, bool]:
    """What a cohort's last download holds: its `lastComputed`, and whether it has properties.

    Entries written before properties were recorded are the bare `lastComputed`, without them.
    """
    if isinstance(entry, dict) and "last_computed" in entry:
        return entry["last_computed"], bool(entry.get("props"))
    return entry, False


def cohort_rows(cohorts: list[dict[str, Any]]) -> pa.Table:
    """Turn cohort objects into rows; every field is kept in `raw`.

    Args:
        cohorts: Objects of `GET /api/3/cohorts`.

    Returns:
        Rows of `COHORTS_SCHEMA`.
    """
    rows = [
        {
            "cohort_id": str(c.get("id")),
            "name": c.get("name"),
            "description": c.get("description"),
            "size": c.get("size"),
            "archived": c.get("archived"),
            "published": c.get("published"),
            "hidden": c.get("hidden"),
            "last_computed": _ts(c.get("lastComputed")),
            "last_modified": _ts(c.get("lastMod")),
            "created_at": _ts(c.get("createdAt")),
            "owners": json.dumps(c.get("owners")),
            "definition": json.dumps(c.get("definition"), ensure_ascii=False),
            "raw": json.dumps(c, ensure_ascii=False),
        }
        for c in cohorts
    ]
    return pa.Table.from_pylist(rows, schema=COHORTS_SCHEMA)


def parse_members(cohort: str, text: io.TextIOBase) -> Iterator[pa.RecordBatch]:
    """Parse a membership CSV in batches, robust to its quirks.

    Fields may all be quoted; headers may carry spaces or a leading tab; an anonymous user has an
    empty `user_id` (stored as NULL); group cohorts have `group_value`; any other column is a user
    property, kept in `properties` as JSON.

    Args:
        cohort: The cohort's id.
        text: The CSV.

    Yields:
        Batches of `MEMBERS_SCHEMA` rows.
    """
    reader = csv.reader(text)
    header = [h.strip() for h in next(reader, [])]
    known = {"amplitude_id", "user_id", "group_value"}
    index = {name: i for i, name in enumerate(header)}
    extras = [(i, name) for i, name in enumerate(header) if name not in known]
    rows: list[dict[str, Any]] = []
    for record in reader:
        if not any(value.strip() for value in record):
            continue
        values = [value.strip() for value in record]

        def get(name: str, values: list[str] = values) -> str | None:
            i = index.get(name)
            return values[i] if i is not None and i < len(values) and values[i] != "" else None

        amplitude = get("amplitude_id")
        rows.append(
            {
                "cohort_id": cohort,
                "amplitude_id": int(amplitude) if amplitude else None,
                "user_id": get("user_id"),
                "group_value": get("group_value"),
                "properties": json.dumps(
                    {name: values[i] for i, name in extras if i < len(values)},
                    ensure_ascii=False,
                )
                if extras
                else None,
            }
        )
        if len(rows) >= _BATCH_ROWS:
            yield pa.RecordBatch.from_pylist(rows, schema=MEMBERS_SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=MEMBERS_SCHEMA)


class CohortSnapshot:
    """Snapshots one project's cohorts and the membership of the changed ones.

    Args:
        client: HTTP client for the project's host and keys.
        writer: Where the snapshot goes.
        options: Selection, limits and budget.
        progress: Where the cohorts are counted as they are dealt with.
    """

    def __init__(
        self,
        client: HttpClient,
        writer: SnapshotWriter,
        options: CohortOptions,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.progress = progress or NoProgress()
        self.writer = writer
        self.options = options
        self.window = SlidingWindow(options.requests_per_10_minutes, 600)
        state = writer.layout("cohorts").state_file
        self.ledger = DownloadLedger(
            writer.lake, writer.lake.join(state("downloads.json")), options.monthly_budget
        )
        self.last_computed_path = writer.lake.join(state("last_computed.json"))

    def run(self) -> CohortReport:
        """List the cohorts, record them, and download the membership of the changed ones.

        Returns:
            What was done.

        Raises:
            QuotaExceededError: After recording what it could, if the budget ran out.
        """
        report = CohortReport(quota_budget=self.options.monthly_budget)
        cohorts = self.client.get("/api/3/cohorts").json_body.get("cohorts", [])
        report.cohorts = self.writer.write("cohorts", cohort_rows(cohorts), COHORTS_SCHEMA)
        seen = self._last_computed()
        quota_error: QuotaExceededError | None = None
        self.progress.steps(f"cohorts of project {self.writer.project}", len(cohorts), "cohorts")
        for cohort in counted(cohorts, self.progress):
            cid, name = str(cohort.get("id")), str(cohort.get("name", ""))
            reason = self._skip_reason(cid, name, cohort)
            if reason:
                report.skipped[cid] = reason
                continue
            computed, with_props = _held(seen.get(cid))
            # Unchanged only if the last download holds what is asked now: a download without
            # user properties does not answer a request for them.
            if computed == cohort.get("lastComputed") and (with_props or not self.options.props):
                report.unchanged.append(cid)
                continue
            if quota_error is not None:
                report.skipped[cid] = "monthly download budget used up"
                continue
            try:
                self.ledger.take(cid, datetime.now(UTC))
            except QuotaExceededError as exc:
                quota_error = exc
                report.skipped[cid] = "monthly download budget used up"
                continue
            report.members += self._download(cid)
            report.downloaded.append(cid)
            seen[cid] = {"last_computed": cohort.get("lastComputed"), "props": self.options.props}
            self._save_last_computed(seen)
        report.quota_used = self.ledger.used(datetime.now(UTC))
        self.writer.log("cohorts", {"report": report.__dict__})
        if quota_error is not None:
            raise quota_error
        return report

    def _skip_reason(self, cid: str, name: str, cohort: dict[str, Any]) -> str | None:
        if not cohort_matches(self.options.include, cid, name) or cohort_matches(
            self.options.exclude, cid, name
        ):
            return "not selected by the include/exclude patterns"
        size = cohort.get("size") or 0
        if size > self.options.max_size:
            return (
                f"{size:,} members, over the downloadable {self.options.max_size:,}; use a cohort"
                " sync (Profile API, webhook) for it"
            )
        return None

    def _last_computed(self) -> dict[str, Any]:
        lake = self.writer.lake
        if not lake.exists(self.last_computed_path):
            return {}
        seen: dict[str, Any] = json.loads(lake.read_bytes(self.last_computed_path))
        return seen

    def _save_last_computed(self, seen: dict[str, Any]) -> None:
        self.writer.lake.write_bytes(self.last_computed_path, json.dumps(seen, indent=1).encode())

    def _download(self, cohort: str) -> int:
        self.window.acquire()
        params = {"props": "1" if self.options.props else "0"}
        started = self.client.get(
            f"/api/5/cohorts/request/{cohort}", params, accept=frozenset({202})
        ).json_body
        request_id = started["request_id"]
        for _ in range(self.options.max_polls):
            status = self.client.get(
                f"/api/5/cohorts/request-status/{request_id}", accept=frozenset({202})
            )
            if status.status == 200:
                break
            time.sleep(self.options.poll_seconds)
        else:
            raise LoaderError(
                f"cohort {cohort}'s download job did not finish after {self.options.max_polls}"
                " polls",
                project=self.writer.project,
                remedy="run the snapshot again later; large cohorts can take long to compute",
            )
        path = self._fetch_file(request_id)
        try:
            with path.open(encoding="utf-8-sig", newline="") as text:
                return self.writer.write(
                    "cohort_members",
                    parse_members(cohort, text),
                    MEMBERS_SCHEMA,
                    part=("cohort_id", cohort),
                )
        finally:
            path.unlink(missing_ok=True)

    def _fetch_file(self, request_id: str) -> Path:
        """Get the membership file, following the storage redirect without our credentials."""
        dest = self.writer.scratch / f"cohort-{request_id}.csv"
        for _ in range(3):
            fetched = self.client.download(
                f"/api/5/cohorts/request/{request_id}/file",
                None,
                dest,
                accept=frozenset({302}),
            )
            if fetched.status != 302:
                return dest
            storage, path = self.client.for_link(
                fetched.headers.get("Location", ""),
                f"cohort storage (project {self.writer.project})",
            )
            try:
                stored = storage.download(path, None, dest, accept=frozenset({403}))
            except HttpError as exc:
                raise exc.locate(project=self.writer.project, hours=None) from None
            if stored.status == 403:  # the one-minute link expired
                log.warning("the storage link expired; asking for a new one")
                continue
            return dest
        raise LoaderError(
            "the cohort file's storage link expired three times before it could be fetched",
            project=self.writer.project,
            remedy="check this machine's clock and its network to the storage host, then run again",
        )
