"""Snapshots of cohorts, taxonomy, the events list and annotations, for several projects."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from loader.amplitude.clients import project_client
from loader.amplitude.cohorts import CohortOptions, CohortReport, CohortSnapshot
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE
from loader.amplitude.experiment.snapshot import (
    ExperimentOptions,
    ExperimentReport,
    ExperimentSnapshot,
)
from loader.amplitude.experiment_keys import ENV as EXPERIMENT_ENV
from loader.amplitude.lake_access import open_lake
from loader.amplitude.taxonomy import (
    TaxonomyReport,
    TaxonomySnapshot,
    snapshot_annotations,
    snapshot_events_list,
)
from loader.errors import ConfigError, LoaderError
from loader.hours import utc_now
from loader.progress import Progress
from loader.snapshot_tables import SnapshotWriter

log = logging.getLogger(__name__)

KINDS = ("events-list", "taxonomy", "cohorts", "annotations", "experiment")


@dataclass
class SnapshotReport:
    """What one project's snapshot did.

    Attributes:
        project: The project's label.
        snapshot_at: The snapshot's time.
        event_types: Rows of the events list.
        taxonomy: The taxonomy report, if taken.
        cohorts: The cohort report, if taken.
        annotations: Rows of annotations.
        experiment: The Experiment report, if taken.
        seconds: Wall time.
    """

    project: str
    snapshot_at: datetime
    event_types: int | None = None
    taxonomy: TaxonomyReport | None = None
    cohorts: CohortReport | None = None
    annotations: int | None = None
    experiment: ExperimentReport | None = None
    seconds: float = 0.0


def snapshot_project(
    project: ProjectConfig,
    settings: LoaderSettings,
    kinds: tuple[str, ...] = KINDS,
    *,
    cohort_options: CohortOptions | None = None,
    experiment_options: ExperimentOptions | None = None,
    strict_taxonomy: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SnapshotReport:
    """Take the snapshots of one project.

    The events list goes first: it proves the keys, so that a later 403 from the Taxonomy API
    means the plan lacks it, not that the keys are wrong.

    Args:
        project: The project.
        settings: Loader settings.
        kinds: What to snapshot, among `KINDS`.
        cohort_options: Cohort selection and budget.
        experiment_options: Whose Experiment variants to record, the cap and the rate.
        strict_taxonomy: Fail if the plan lacks the Taxonomy API.
        now: The snapshot's time.
        progress: Where cohort downloads and Experiment evaluations are counted.

    Returns:
        What was done.

    Raises:
        ConfigError: If only Experiment is asked for and the project has no deployment key.
    """
    if kinds == ("experiment",) and not project.experiment:
        raise ConfigError(
            "no Experiment deployment key is configured",
            project=project.label,
            remedy=f"export {EXPERIMENT_ENV}=server=<deployment key> (or experiment_keys_env in"
            " the projects file)",
        )
    started = time.monotonic()
    snapshot_at = (now or utc_now()).replace(microsecond=0)
    lake = open_lake(settings)
    scratch = lake.scratch(uuid.uuid4().hex)
    writer = SnapshotWriter(
        lake,
        SOURCE,
        str(project.project_id),
        snapshot_at,
        scratch,
        log_retention=settings.log_retention,
    )
    client = project_client(project, settings, "REST API", read_seconds=300)
    report = SnapshotReport(project.label, snapshot_at)
    try:
        if "events-list" in kinds:
            report.event_types = snapshot_events_list(client, writer)
        if "taxonomy" in kinds:
            report.taxonomy = TaxonomySnapshot(client, writer, strict_taxonomy).run()
        if "cohorts" in kinds:
            report.cohorts = CohortSnapshot(
                client, writer, cohort_options or CohortOptions(), progress
            ).run()
        if "annotations" in kinds:
            report.annotations = snapshot_annotations(client, writer)
        if "experiment" in kinds:
            report.experiment = ExperimentSnapshot(
                project, settings, writer, experiment_options or ExperimentOptions(), progress
            ).run()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        report.seconds = time.monotonic() - started
    return report


def describe_snapshot(report: SnapshotReport) -> str:
    """Summarise a snapshot in a few lines for people.

    Args:
        report: The snapshot's report.

    Returns:
        The summary.
    """
    lines = [
        f"project {report.project}: snapshot {report.snapshot_at:%Y-%m-%d %H:%M} UTC"
        f" in {report.seconds:.1f} s"
    ]
    if report.event_types is not None:
        lines.append(f"  events list   {report.event_types} event types")
    if report.taxonomy is not None:
        t = report.taxonomy
        lines.append(
            f"  taxonomy      {sum(t.rows.values())} rows in {len(t.rows)} tables (cost {t.cost})"
            if t.available
            else f"  taxonomy      unavailable: {t.reason}"
        )
    if report.cohorts is not None:
        c = report.cohorts
        lines.append(
            f"  cohorts       {c.cohorts} cohorts; downloaded {len(c.downloaded)}"
            f" ({c.members:,} members), {len(c.unchanged)} unchanged (not downloaded again),"
            f" {len(c.skipped)} skipped; quota {c.quota_used}/{c.quota_budget} this month"
        )
        lines += [f"    skipped {cohort}: {reason}" for cohort, reason in c.skipped.items()]
    if report.annotations is not None:
        lines.append(f"  annotations   {report.annotations}")
    if report.experiment is not None:
        lines += _describe_experiment(report.experiment)
    return "\n".join(lines)


def _describe_experiment(e: ExperimentReport) -> list[str]:
    if not e.configured:
        return [f"  experiment    not configured (no deployment key in {EXPERIMENT_ENV})"]
    s = e.selection
    flags = ", ".join(f"{name} {count}" for name, count in e.flags.items())
    lines = [
        f"  experiment    flags per deployment: {flags}; {e.assignments} assignments of"
        f" {e.users} users in {e.requests} evaluations (not tracked)"
    ]
    if s.over_cap or s.erased or s.unmatched or s.without_ids:
        lines.append(
            f"    left out: {s.over_cap} over the cap, {s.erased} erased,"
            f" {s.without_ids} cohort members without a user id; patterns matching no cohort:"
            f" {', '.join(s.unmatched) or 'none'}"
        )
    return lines


def snapshot_projects(
    projects: list[ProjectConfig],
    settings: LoaderSettings,
    kinds: tuple[str, ...] = KINDS,
    **options: object,
) -> list[SnapshotReport]:
    """Take the snapshots of several projects; one failing does not stop the others.

    Args:
        projects: The projects.
        settings: Loader settings.
        kinds: What to snapshot.
        **options: Passed to `snapshot_project`.

    Returns:
        One report per project that succeeded.

    Raises:
        LoaderError: If any project failed, after the others were done.
    """
    reports, errors = [], []
    for project in projects:
        try:
            reports.append(snapshot_project(project, settings, kinds, **options))  # type: ignore[arg-type]
        except LoaderError as exc:
            errors.append(exc)
    if errors:
        raise LoaderError.together(errors)
    return reports
