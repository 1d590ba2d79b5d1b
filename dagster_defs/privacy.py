"""Privacy deletions: a daily asset that erases the users of Amplitude's deletion jobs.

Its check scans the newest snapshot for rows of erased users.
"""

from typing import Any

import dagster as dg

from dagster_defs.location import Location
from dagster_defs.logs import library_logs
from dagster_defs.resources import AmplitudeResource, LakeResource
from loader.amplitude.privacy.check import erased_rows_in_lake
from loader.amplitude.privacy.sync import DeletionSyncReport, sync_deletions
from loader.amplitude.runner import refresh_catalog
from loader.errors import LoaderError
from loader.lake import Lake


def _metadata(reports: list[DeletionSyncReport], retention_hours: float) -> dict[str, Any]:
    erasures = [r.erasure for r in reports if r.erasure and r.erasure.version is not None]
    removed: dict[str, int] = {}
    for erasure in erasures:
        for part, rows in erasure.rows.items():
            removed[part] = removed.get(part, 0) + rows
    return {
        "jobs_listed": sum(r.jobs for r in reports),
        "new_ids": sum(r.new_ids for r in reports),
        "status_changes": sum(r.status_changes for r in reports),
        "ids_erased": sum(e.ids for e in erasures),
        "rows_removed": dg.MetadataValue.json(removed),
        "files_rewritten": sum(e.files for e in erasures),
        "snapshots": ", ".join(str(e.version) for e in erasures) or "none",
        "files_vacuumed": sum(len(r.vacuum.removed) for r in reports if r.vacuum),
        "erasure_retention_hours": retention_hours,
    }


def build_privacy(
    location: Location,
) -> tuple[
    dg.AssetsDefinition,
    dg.AssetChecksDefinition,
    "dg.UnresolvedAssetJobDefinition",
    dg.ScheduleDefinition,
]:
    """The deletion sync's asset, its check, its job and its daily schedule.

    Args:
        location: The code location's settings and names.

    Returns:
        (asset, check, job, schedule).
    """
    names = location.names
    key = names.privacy

    @dg.asset(
        key=key,
        group_name=names.group,
        kinds={"parquet"},
        pool=names.api_pool,
        description="Amplitude's deletion jobs, recorded as soon as they exist, and their"
        " users erased from every table of the lake at once (one commit per sync).",
    )
    def privacy_deletions(
        context: dg.AssetExecutionContext, amplitude: AmplitudeResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        """List every project's deletion jobs, erase their new users, refresh the catalog."""
        settings = lake.settings(amplitude)
        reports, errors = [], []
        with library_logs(context):
            for project in amplitude.projects():
                try:
                    reports.append(sync_deletions(project, settings))
                except LoaderError as exc:
                    errors.append(exc.describe())
            refresh_catalog(settings)
        if errors:
            raise dg.Failure(description=" | ".join(errors))
        return dg.MaterializeResult(metadata=_metadata(reports, settings.erasure_retention_hours))

    @dg.asset_check(
        asset=key,
        name="no_erased_user_left",
        description="No row or rejected line of an erased user is in the newest snapshot.",
    )
    def no_erased_user_left(lake: LakeResource) -> dg.AssetCheckResult:
        """Scan the ids of every erasable table for erased users."""
        left = erased_rows_in_lake(Lake(lake.settings().lake_root))
        return dg.AssetCheckResult(
            passed=not left,
            metadata={
                "rows_left": sum(left.values()),
                "where": ", ".join(f"{k}: {n}" for k, n in sorted(left.items())) or "none",
            },
        )

    job = dg.define_asset_job(
        names.name("privacy_job"),
        selection=dg.AssetSelection.assets(key),
        description="Erase the users of Amplitude's deletion jobs from the lake.",
    )
    daily = dg.ScheduleDefinition(
        name=names.name("privacy_daily"),
        job=job,
        cron_schedule="0 5 * * *",
        execution_timezone="UTC",
        default_status=location.settings.schedule_status,
        description="Sync deletion jobs once a day, before the snapshots and the vacuum:"
        " files an erasure superseded go at the first vacuum past the retention.",
    )
    return privacy_deletions, no_erased_user_left, job, daily
