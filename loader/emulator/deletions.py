"""The emulator's User Privacy API (v1, `/api/2/deletions/users`): deletion jobs per project.

As Amplitude documents it:

- `POST` schedules users for deletion: `amplitude_ids`, `user_ids` and `requester`, as JSON or
  as a form (ids repeated); at most 100 ids a request. Requests are batched: a batch's job runs
  10 to 13 days after its first request (here 10), takes more requests until 3 days before it
  runs, and requests made after that go to a new batch. The answer is the job, with the ids in
  it.
- A job's `status` is `staging` while it takes requests, `submitted` from 3 days before its
  `day` until it has run, and `done` after (here, from the day after its `day`).
- `GET ?start_day=YYYY-MM-DD&end_day=YYYY-MM-DD` lists the jobs whose `day` falls in the range
  (both required; at most six months apart): a request made on day D is found in a range that
  covers D to D + 30.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

Answer = tuple[int, bytes, str, dict[str, str]]

#: How long after a batch's first request its job runs.
BATCH_DAYS = 10
#: A job takes no more requests this many days before it runs; it is `submitted` from then.
FROZEN_DAYS = 3
#: Ids (Amplitude ids and user ids together) one request may name.
MAX_IDS = 100
#: The longest range a listing may ask for ("six months").
MAX_RANGE = timedelta(days=184)


@dataclass
class DeletionJob:
    """One project's deletion job: the users deleted on its day.

    Attributes:
        project_id: The project.
        day: The day it runs.
        amplitude_ids: `{"amplitude_id", "requester", "requested_on_day"}` per Amplitude id.
        user_ids: `{"user_id", "requester", "requested_on_day"}` per user id.
    """

    project_id: int
    day: date
    amplitude_ids: list[dict[str, Any]] = field(default_factory=list)
    user_ids: list[dict[str, Any]] = field(default_factory=list)

    def status(self, today: date) -> str:
        """`staging`, `submitted` or `done`, on a day."""
        if today < self.day - timedelta(days=FROZEN_DAYS):
            return "staging"
        return "submitted" if today <= self.day else "done"

    def as_json(self, today: date) -> dict[str, Any]:
        """The job as the API shows it."""
        shown: dict[str, Any] = {
            "day": self.day.isoformat(),
            "status": self.status(today),
            "amplitude_ids": list(self.amplitude_ids),
        }
        if self.user_ids:
            shown["user_ids"] = list(self.user_ids)
        return shown


class Deletions:
    """Every project's deletion jobs, as the emulator keeps them."""

    def __init__(self) -> None:
        self.jobs: list[DeletionJob] = []
        self._lock = threading.Lock()

    def request(
        self,
        project_id: int,
        amplitude_ids: list[int],
        user_ids: list[str],
        requester: str,
        today: date,
    ) -> DeletionJob:
        """Schedule users for deletion in the project's open batch (or a new one).

        Returns:
            The job they were added to.
        """
        with self._lock:
            job = next(
                (
                    j
                    for j in self.jobs
                    if j.project_id == project_id and j.status(today) == "staging"
                ),
                None,
            )
            if job is None:
                job = DeletionJob(project_id, today + timedelta(days=BATCH_DAYS))
                self.jobs.append(job)
            asked = {"requester": requester, "requested_on_day": today.isoformat()}
            job.amplitude_ids += [{"amplitude_id": a, **asked} for a in amplitude_ids]
            job.user_ids += [{"user_id": u, **asked} for u in user_ids]
            return job

    def listed(self, project_id: int, first: date, last: date) -> list[DeletionJob]:
        """The project's jobs whose day falls between two days (both included)."""
        with self._lock:
            return [j for j in self.jobs if j.project_id == project_id and first <= j.day <= last]

    def deleted(self, project_id: int) -> tuple[set[int], set[str]]:
        """The ground truth: every Amplitude id and user id a job of the project names."""
        with self._lock:
            jobs = [j for j in self.jobs if j.project_id == project_id]
            return (
                {e["amplitude_id"] for j in jobs for e in j.amplitude_ids},
                {e["user_id"] for j in jobs for e in j.user_ids},
            )


def list_answer(
    deletions: Deletions, project_id: int, params: dict[str, str], today: date
) -> Answer:
    """Answer `GET /api/2/deletions/users`."""
    try:
        first = date.fromisoformat(params["start_day"])
        last = date.fromisoformat(params["end_day"])
    except (KeyError, ValueError):
        return _error(400, "start_day and end_day are required, as YYYY-MM-DD")
    if last < first or last - first > MAX_RANGE:
        return _error(400, "The largest permitted time range is six months")
    jobs = deletions.listed(project_id, first, last)
    return 200, json.dumps([j.as_json(today) for j in jobs]).encode(), "json", {}


def request_answer(
    deletions: Deletions, project_id: int, body: bytes, content_type: str, today: date
) -> Answer:
    """Answer `POST /api/2/deletions/users`, whose body is JSON or a form."""
    try:
        if "json" in content_type:
            raw = json.loads(body or b"{}")
            amplitude_ids = [int(a) for a in raw.get("amplitude_ids") or []]
            user_ids = [str(u) for u in raw.get("user_ids") or []]
            requester = str(raw.get("requester") or "")
        else:
            form = parse_qs(body.decode())
            amplitude_ids = [int(a) for a in form.get("amplitude_ids", [])]
            user_ids = form.get("user_ids", [])
            requester = form.get("requester", [""])[-1]
    except (ValueError, TypeError, AttributeError):
        return _error(400, "amplitude_ids must be integers; the body must be JSON or a form")
    if not amplitude_ids and not user_ids:
        return _error(400, "Either amplitude_ids or user_ids is required")
    if len(amplitude_ids) + len(user_ids) > MAX_IDS:
        return _error(400, f"At most {MAX_IDS} ids may be deleted in one request")
    job = deletions.request(project_id, amplitude_ids, user_ids, requester, today)
    return 200, json.dumps(job.as_json(today)).encode(), "json", {}


def _error(status: int, message: str) -> Answer:
    body = {"error": {"http_code": status, "type": "invalid_request", "message": message}}
    return status, json.dumps(body).encode(), "json", {}
