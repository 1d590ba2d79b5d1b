"""Amplitude's User Privacy API, v1: the deletion jobs of one project.

v1 (`/api/2/deletions/users` on the project's API host) is used, not v2
(`privacy.amplitude.com`): v1 lists and creates jobs of the project whose keys it is given, which
is the unit the loader works in; v2 always deletes across the whole organisation.

A job is one day's batch of requests: `GET ?start_day&end_day` lists the jobs whose `day` falls
in the range (at most six months a call), each with its status (`staging`, `submitted`, `done`)
and its ids, every one with who asked and when. `POST` adds ids to the open batch, at most 100
a request; Amplitude asks for no more than one request a second and emails every admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from loader.http import HttpClient
from loader.ratelimit import SlidingWindow

PATH = "/api/2/deletions/users"
#: Ids (Amplitude ids and user ids together) one request may name.
MAX_IDS = 100
#: The longest range one listing asks for ("six months": stay under it).
RANGE_DAYS = 180


@dataclass(frozen=True)
class IdRequest:
    """One id of a deletion request.

    Attributes:
        kind: `amplitude_id` or `user_id`.
        value: The id (kept in memory only: the lake keeps its digest).
        requester: Who asked.
        requested_on_day: When they asked.
    """

    kind: str
    value: int | str
    requester: str = ""
    requested_on_day: date | None = None

    def __repr__(self) -> str:  # never the id itself, in a log or a traceback
        return f"IdRequest({self.kind}, <erased>, requested on {self.requested_on_day})"


@dataclass(frozen=True)
class DeletionJob:
    """One project's deletion job.

    Attributes:
        day: The day it runs (Amplitude deletes what it received until then).
        status: `staging`, `submitted` or `done`.
        ids: Its ids.
    """

    day: date
    status: str
    ids: tuple[IdRequest, ...] = field(default=())

    @property
    def name(self) -> str:
        """The job's name in the lake's tables."""
        return f"amplitude/{self.day.isoformat()}"


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _job(raw: dict[str, Any]) -> DeletionJob | None:
    day = _day(raw.get("day"))
    if day is None:
        return None
    ids = []
    for kind in ("amplitude_id", "user_id"):
        for entry in raw.get(f"{kind}s") or []:
            value = entry.get(kind) if isinstance(entry, dict) else entry
            if value in (None, ""):
                continue
            if kind == "amplitude_id" and not str(value).isdigit():
                continue  # not an Amplitude id: nothing in the lake can hold it
            ids.append(
                IdRequest(
                    kind,
                    int(str(value)) if kind == "amplitude_id" else str(value),
                    str(entry.get("requester") or "") if isinstance(entry, dict) else "",
                    _day(entry.get("requested_on_day")) if isinstance(entry, dict) else None,
                )
            )
    return DeletionJob(day, str(raw.get("status") or ""), tuple(ids))


def ranges(first: date, last: date) -> Iterator[tuple[date, date]]:
    """Split a range of days into listings of at most `RANGE_DAYS`."""
    while first <= last:
        end = min(last, first + timedelta(days=RANGE_DAYS))
        yield first, end
        first = end + timedelta(days=1)


class DeletionApi:
    """The deletion jobs of one project.

    Args:
        client: The project's HTTP client.
        pace: How often requests may be created (default: one a second).
    """

    def __init__(self, client: HttpClient, pace: SlidingWindow | None = None) -> None:
        self.client = client
        self.pace = pace or SlidingWindow(1, 1.0)

    def jobs(self, first: date, last: date) -> list[DeletionJob]:
        """The jobs whose day falls between two days (both included), oldest first."""
        found: dict[date, DeletionJob] = {}
        for start, end in ranges(first, last):
            body = self.client.get(
                PATH, {"start_day": start.isoformat(), "end_day": end.isoformat()}
            ).json_body
            for raw in body if isinstance(body, list) else []:
                job = _job(raw) if isinstance(raw, dict) else None
                if job is not None:
                    found[job.day] = job
        return [found[day] for day in sorted(found)]

    def submit(self, ids: list[IdRequest], requester: str) -> list[DeletionJob]:
        """Ask Amplitude to delete users, in requests of at most `MAX_IDS` ids.

        Args:
            ids: The ids.
            requester: Who asks (Amplitude keeps it with each id).

        Returns:
            The job each request joined.
        """
        jobs = []
        for at in range(0, len(ids), MAX_IDS):
            batch = ids[at : at + MAX_IDS]
            self.pace.acquire()
            body = {
                "amplitude_ids": [i.value for i in batch if i.kind == "amplitude_id"],
                "user_ids": [i.value for i in batch if i.kind == "user_id"],
                "requester": requester,
            }
            job = _job(self.client.post(PATH, body).json_body or {})
            if job is not None:
                jobs.append(job)
        return jobs
