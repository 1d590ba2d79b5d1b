"""Snapshots of Experiment: every deployment's flags, and chosen users' current variants.

`experiment_flags` holds one row per flag per deployment per snapshot (history, like the other
snapshot tables); `experiment_assignments` one row per user, deployment and flag that Experiment
assigns the user now. Evaluations are paced by a rate limit and bounded by a cap on users, both
settings, and never tracked (`loader.amplitude.experiment.api`).
"""

from __future__ import annotations

import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment.api import MAX_CONCURRENT_REQUESTS, ExperimentApi
from loader.amplitude.experiment.users import ExperimentUser, Selection, select_users
from loader.amplitude.hour_manifests import SOURCE
from loader.amplitude.setting_names import named
from loader.errors import ConfigError
from loader.pinned import PinnedLake
from loader.progress import NoProgress, Progress
from loader.ratelimit import SlidingWindow
from loader.snapshot_tables import SnapshotWriter

log = logging.getLogger(__name__)

_J = pa.json_(pa.string())
FLAGS_SCHEMA = pa.schema(
    [
        ("deployment", pa.string()),
        ("flag_key", pa.string()),
        ("name", pa.string()),
        ("flag_type", pa.string()),
        ("flag_version", pa.int64()),
        ("deployed", pa.bool_()),
        ("evaluation_mode", pa.string()),
        ("experiment_key", pa.string()),
        ("variants", _J),
        ("segments", _J),
        ("dependencies", _J),
        ("metadata", _J),
        ("raw", _J),
    ]
)
ASSIGNMENTS_SCHEMA = pa.schema(
    [
        ("deployment", pa.string()),
        ("amplitude_id", pa.int64()),
        ("user_id", pa.string()),
        ("device_id", pa.string()),
        ("flag_key", pa.string()),
        ("variant", pa.string()),
        ("payload", _J),
        ("raw", _J),
    ]
)
TABLES = {"experiment_flags": FLAGS_SCHEMA, "experiment_assignments": ASSIGNMENTS_SCHEMA}


@dataclass(frozen=True)
class ExperimentOptions:
    """Whose variants a snapshot records, and how fast it may ask.

    Attributes:
        cohorts: Glob patterns of cohort names or ids whose members are evaluated.
        users: Users given by list.
        max_users: The most users evaluated per snapshot (per project).
        requests_per_second: The most evaluation requests per second (per project).
    """

    cohorts: tuple[str, ...] = ()
    users: tuple[ExperimentUser, ...] = ()
    max_users: int = 1000
    requests_per_second: float = 10.0

    def __post_init__(self) -> None:
        if self.max_users < 0 or not self.requests_per_second > 0:
            raise ConfigError(
                "the Experiment user cap cannot be negative and the rate must be above zero",
                remedy=f"set {named('experiment_max_users')} and"
                f" {named('experiment_requests_per_second')} (defaults 1000 and 10)",
            )


@dataclass
class ExperimentReport:
    """What an Experiment snapshot did.

    Attributes:
        configured: Whether the project has deployment keys.
        flags: Flags per deployment.
        users: Users evaluated.
        requests: Evaluation requests made.
        assignments: Assignment rows written.
        selection: How the users were chosen (cohorts, cap, erased).
        waited_seconds: Time the request threads spent waiting for the rate limit, summed.
    """

    configured: bool = True
    flags: dict[str, int] = field(default_factory=dict)
    users: int = 0
    requests: int = 0
    assignments: int = 0
    selection: Selection = field(default_factory=Selection)
    waited_seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The report as the snapshot log keeps it (counts only: no user id)."""
        s = self.selection
        return {
            "configured": self.configured,
            "flags": self.flags,
            "users": self.users,
            "requests": self.requests,
            "assignments": self.assignments,
            "cohorts": s.cohorts,
            "unmatched_cohort_patterns": s.unmatched,
            "users_over_cap": s.over_cap,
            "users_erased": s.erased,
            "members_without_user_id": s.without_ids,
            "waited_seconds": round(self.waited_seconds, 3),
        }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def flag_row(deployment: str, flag: dict[str, Any]) -> dict[str, Any]:
    """One flag configuration as a row of `experiment_flags`."""
    found = flag.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    version = meta.get("flagVersion")
    return {
        "deployment": deployment,
        "flag_key": str(flag["key"]),
        # Flag configurations carry no display name; keep one if Amplitude ever sends it.
        "name": flag.get("name") or meta.get("name") or meta.get("flagName"),
        "flag_type": meta.get("flagType"),
        "flag_version": version if isinstance(version, int) else None,
        "deployed": meta.get("deployed") if isinstance(meta.get("deployed"), bool) else None,
        "evaluation_mode": meta.get("evaluationMode"),
        "experiment_key": meta.get("experimentKey"),
        "variants": _json(flag.get("variants")),
        "segments": _json(flag.get("segments")),
        "dependencies": _json(flag.get("dependencies")),
        "metadata": _json(flag.get("metadata")),
        "raw": _json(flag),
    }


class ExperimentSnapshot:
    """Snapshots one project's Experiment deployments.

    Args:
        project: The project (its deployments).
        settings: Timeouts and retries.
        writer: Where the snapshot goes.
        options: Users, cap and rate.
        progress: Where the evaluations are counted (with the time left, at the rate).
    """

    def __init__(
        self,
        project: ProjectConfig,
        settings: LoaderSettings,
        writer: SnapshotWriter,
        options: ExperimentOptions,
        progress: Progress | None = None,
    ) -> None:
        self.project = project
        self.progress = progress or NoProgress()
        self.apis = [ExperimentApi(project, d, settings) for d in project.experiment]
        self.writer = writer
        self.options = options
        # One request per 1/rate seconds, never a burst: the limit holds over any second.
        self.pace = SlidingWindow(1, 1.0 / options.requests_per_second)
        self.report = ExperimentReport(configured=bool(self.apis))

    def run(self) -> ExperimentReport:
        """Snapshot the flags, then the chosen users' variants, of every deployment.

        Returns:
            What was done.
        """
        if not self.apis:
            self.writer.log("experiment", {"report": self.report.record()})
            return self.report
        rows = []
        for api in self.apis:
            flags = api.flags()
            self.report.flags[api.deployment] = len(flags)
            rows += [flag_row(api.deployment, f) for f in flags]
        rows.sort(key=lambda r: (r["deployment"], r["flag_key"]))
        self.writer.write(
            "experiment_flags", pa.Table.from_pylist(rows, schema=FLAGS_SCHEMA), FLAGS_SCHEMA
        )
        if self.options.cohorts or self.options.users:
            self._assignments()
        if self.report.selection.over_cap:
            log.info(
                "project %s: %d user(s) over the Experiment cap of %d were not evaluated; raise"
                f" {named('experiment_max_users')} to include them",
                self.project.label,
                self.report.selection.over_cap,
                self.options.max_users,
            )
        self.writer.log("experiment", {"report": self.report.record()})
        return self.report

    def _assignments(self) -> None:
        lake = self.writer.lake
        selection = select_users(
            lake,
            PinnedLake.newest(lake, [SOURCE]),
            self.writer.project,
            cohorts=self.options.cohorts,
            listed=self.options.users,
            cap=self.options.max_users,
        )
        self.report.selection = selection
        self.report.users = len(selection.users)
        calls = [(api, user) for user in selection.users for api in self.apis]
        self.progress.steps(
            f"Experiment of project {self.project.label}", len(calls), "evaluations"
        )
        workers = max(1, min(MAX_CONCURRENT_REQUESTS, math.ceil(self.options.requests_per_second)))
        with ThreadPoolExecutor(workers, thread_name_prefix="experiment") as pool:
            answers = list(pool.map(lambda call: self._evaluate(*call), calls))
        self.report.waited_seconds = sum(waited for waited, _ in answers)
        rows = [
            {
                "deployment": api.deployment,
                "amplitude_id": user.amplitude_id,
                "user_id": user.user_id,
                "device_id": user.device_id,
                "flag_key": str(flag_key),
                "variant": variant.get("key") if isinstance(variant, dict) else None,
                "payload": _json(variant.get("payload")) if isinstance(variant, dict) else None,
                "raw": _json(variant),
            }
            for (api, user), (_, answer) in zip(calls, answers, strict=True)
            for flag_key, variant in sorted(answer.items())
        ]
        self.report.requests = len(calls)
        self.report.assignments = self.writer.write(
            "experiment_assignments",
            pa.Table.from_pylist(rows, schema=ASSIGNMENTS_SCHEMA),
            ASSIGNMENTS_SCHEMA,
        )

    def _evaluate(self, api: ExperimentApi, user: ExperimentUser) -> tuple[float, dict[str, Any]]:
        waited = self.pace.acquire()
        answer = api.evaluate(user.user_id, user.device_id)
        self.progress.stepped()
        return waited, answer
