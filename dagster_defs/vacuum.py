"""The lake's vacuum: a daily job that deletes files no snapshot within the retention uses."""

import dagster as dg

from dagster_defs.location import Location
from dagster_defs.logs import library_logs
from dagster_defs.resources import LakeResource
from loader.amplitude.lake_access import vacuum_lake


def build_vacuum(location: Location) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The vacuum job and its daily schedule.

    Args:
        location: The code location's settings and names.

    Returns:
        (job, schedule).
    """
    names = location.names

    @dg.op(name=names.name("vacuum_lake"), pool=names.catalog_pool)
    def vacuum_lake_op(context: dg.OpExecutionContext, lake: LakeResource) -> dg.Output[None]:
        """Delete superseded and never-committed files older than the retention."""
        with library_logs(context):
            report = vacuum_lake(lake.settings())
        context.log.info(
            "vacuum removed %d superseded and %d never-committed file(s), %d commit record(s)",
            len(report.superseded),
            len(report.uncommitted),
            len(report.records),
        )
        return dg.Output(
            None,
            metadata={
                "superseded_files": len(report.superseded),
                "uncommitted_files": len(report.uncommitted),
                "commit_records": len(report.records),
                "megabytes_freed": round(report.bytes_freed / 1e6, 1),
                "kept_snapshots": report.kept_summary(),
                "retention_hours": report.retention_hours,
            },
        )

    @dg.job(
        name=names.name("vacuum_job"),
        description="Delete lake files that no snapshot younger than the retention references.",
    )
    def vacuum_job() -> None:
        """One vacuum of the lake."""
        vacuum_lake_op()

    daily_vacuum = dg.ScheduleDefinition(
        name=names.name("vacuum_daily"),
        job=vacuum_job,
        cron_schedule="15 6 * * *",
        execution_timezone="UTC",
        default_status=location.settings.schedule_status,
        description="Vacuum the lake once a day, after the re-check and the snapshots.",
    )
    return vacuum_job, daily_vacuum
