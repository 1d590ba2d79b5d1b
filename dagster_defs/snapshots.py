"""One asset per snapshot table: cohorts and their members, the taxonomy, events list, annotations.

A single multi-asset takes them, so that one run makes one pass per project with one snapshot
time; selecting a subset of the assets takes only the snapshots they need.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from dagster_defs.keys import KIND_OF_TABLE
from dagster_defs.location import Location
from dagster_defs.logs import library_logs
from dagster_defs.resources import AmplitudeResource, LakeResource
from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.experiment.snapshot import ExperimentReport
from loader.amplitude.experiment.users import ExperimentUser
from loader.amplitude.snapshot_runner import SnapshotReport, snapshot_projects
from loader.errors import LoaderError

DESCRIPTIONS = {
    "cohorts": "Cohort definitions, one row per cohort per snapshot.",
    "cohort_members": "Cohort membership; only cohorts whose lastComputed changed are downloaded.",
    "event_types": "The events list, with the event types' ids.",
    "annotations": "Chart annotations.",
    "experiment_flags": "Experiment flag configurations per deployment, with history.",
    "experiment_assignments": "Chosen users' current Experiment variants (never tracked).",
}


class SnapshotConfig(dg.Config):
    """Cohort selection and limits."""

    include: list[str] = Field(default_factory=lambda: ["*"])
    """Cohort name or id patterns to download."""
    exclude: list[str] = Field(default_factory=list)
    """Cohort name or id patterns never to download."""
    props: bool = False
    """Download members' user properties too."""
    monthly_budget: int = 450
    """Cohort downloads allowed per month (Amplitude allows 500)."""
    strict_taxonomy: bool = False
    """Fail when the plan lacks the Taxonomy API instead of recording it."""
    experiment_cohorts: list[str] = Field(default_factory=list)
    """Cohort patterns whose members' Experiment variants to record (default: the setting)."""
    experiment_user_ids: list[str] = Field(default_factory=list)
    """User ids whose Experiment variants to record, besides the cohorts' members."""


def _metadata(table: str, reports: list[SnapshotReport]) -> dict[str, Any]:
    if table == "cohorts":
        cohorts = [r.cohorts for r in reports if r.cohorts]
        return {
            "cohorts": sum(c.cohorts for c in cohorts),
            "downloaded": sum(len(c.downloaded) for c in cohorts),
            "unchanged": sum(len(c.unchanged) for c in cohorts),
            "skipped": "; ".join(f"{k}: {v}" for c in cohorts for k, v in c.skipped.items())
            or "none",
            "quota_used": ", ".join(f"{c.quota_used}/{c.quota_budget}" for c in cohorts),
        }
    if table == "cohort_members":
        return {"rows": sum(r.cohorts.members for r in reports if r.cohorts)}
    if table == "event_types":
        return {"rows": sum(r.event_types or 0 for r in reports)}
    if table == "annotations":
        return {"rows": sum(r.annotations or 0 for r in reports)}
    if table.startswith("experiment_"):
        return _experiment_metadata(table, [r.experiment for r in reports if r.experiment])
    taxonomies = [r.taxonomy for r in reports if r.taxonomy]
    return {
        "rows": sum(t.rows.get(table, 0) for t in taxonomies),
        "available": all(t.available for t in taxonomies),
        "unavailable_because": "; ".join(t.reason for t in taxonomies if t.reason) or "n/a",
    }


def _experiment_metadata(table: str, reports: list[ExperimentReport]) -> dict[str, Any]:
    configured = [r for r in reports if r.configured]
    if table == "experiment_flags":
        return {
            "projects_configured": f"{len(configured)} of {len(reports)}",
            "flags": sum(sum(r.flags.values()) for r in configured),
            "deployments": ", ".join(sorted({d for r in configured for d in r.flags})) or "none",
        }
    return {
        "rows": sum(r.assignments for r in configured),
        "users": sum(r.users for r in configured),
        "evaluations": sum(r.requests for r in configured),
        "users_over_cap": sum(r.selection.over_cap for r in configured),
        "users_erased": sum(r.selection.erased for r in configured),
        "cohorts_matched": ", ".join(
            sorted({n for r in configured for n in r.selection.cohorts.values()})
        )
        or "none",
    }


def build_snapshots(
    location: Location,
) -> tuple[dg.AssetsDefinition, "dg.UnresolvedAssetJobDefinition", dg.ScheduleDefinition]:
    """The snapshot tables' assets, the job that takes them, and its daily schedule.

    Args:
        location: The code location's settings and names.

    Returns:
        (assets, job, schedule).
    """
    names = location.names
    keys = names.snapshot_keys

    @dg.multi_asset(
        name=names.name("snapshots"),
        specs=[
            dg.AssetSpec(
                key,
                group_name=names.group,
                kinds={"parquet"},
                description=DESCRIPTIONS.get(
                    table, f"The tracking plan: {table[9:].replace('_', ' ')}."
                ),
            )
            for table, key in keys.items()
        ],
        can_subset=True,
        pool=names.api_pool,
    )
    def snapshots(
        context: dg.AssetExecutionContext,
        config: SnapshotConfig,
        amplitude: AmplitudeResource,
        lake: LakeResource,
    ) -> Any:
        """Snapshot cohorts, taxonomy, the events list, annotations and Experiment."""
        selected = {t for t, k in keys.items() if k in context.selected_asset_keys}
        kinds = tuple(sorted({KIND_OF_TABLE[t] for t in selected}))
        options = CohortOptions(
            include=tuple(config.include),
            exclude=tuple(config.exclude),
            props=config.props,
            monthly_budget=config.monthly_budget,
        )
        try:
            with library_logs(context):
                settings = amplitude.settings()
                experiment = settings.experiment_options(
                    tuple(config.experiment_cohorts),
                    tuple(ExperimentUser(u) for u in config.experiment_user_ids),
                )
                reports = snapshot_projects(
                    settings.projects(),
                    lake.settings(amplitude),
                    kinds,
                    cohort_options=options,
                    experiment_options=experiment,
                    strict_taxonomy=config.strict_taxonomy,
                )
        except LoaderError as exc:
            raise dg.Failure(description=exc.describe()) from None
        for table in sorted(selected):
            yield dg.MaterializeResult(asset_key=keys[table], metadata=_metadata(table, reports))

    snapshots_job = dg.define_asset_job(
        names.name("snapshots_job"),
        selection=dg.AssetSelection.assets(*keys.values()),
        description="Snapshot cohorts, taxonomy, the events list, annotations and Experiment.",
    )
    daily_snapshots = dg.ScheduleDefinition(
        name=names.name("snapshots_daily"),
        job=snapshots_job,
        cron_schedule="30 5 * * *",
        execution_timezone="UTC",
        default_status=location.settings.schedule_status,
    )
    return snapshots, snapshots_job, daily_snapshots
