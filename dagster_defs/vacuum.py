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
            "vacuum of %d Delta table(s) removed %d file(s) and %d log record(s)",
            report.tables,
            len(report.removed),
            report.log_records,
        )
        return dg.Output(
            None,
            metadata={
                "tables": report.tables,
                "removed_files": len(report.removed),
                "log_records_removed": report.log_records,
                "shortened_by_an_erasure": len(report.shortened),
                "retention_hours": report.retention_hours,
            },
        )

    @dg.job(
        name=names.name("vacuum_job"),
        description="Vacuum every Delta table of the lake with the retentions, and clean its log.",
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
