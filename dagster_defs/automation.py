"""Jobs, schedules and sensors: hourly loads, a daily re-check, alerts on failure."""

import logging
import os
from datetime import timedelta

import dagster as dg
import requests

from dagster_defs.keys import CATALOG, EVENTS
from dagster_defs.partitions import EVENTS_PARTITIONS, PROJECT
from dagster_defs.settings import SETTINGS
from loader.hours import floor_hour, newest_ready_hour
from loader.secrets import redact

log = logging.getLogger(__name__)

#: Refresh after any update of a parent, a backfill's or the lake sensor's included. Plain
#: `eager()` waits until no parent partition is missing, which years of hourly partitions never
#: are, so it never fired after a backfill.
AFTER_ANY_LOAD = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("after_any_load")
)

events_job = dg.define_asset_job(
    "amplitude_events_job",
    selection=dg.AssetSelection.assets(EVENTS, CATALOG),
    description="Load upload hours of Amplitude events, then refresh the catalog.",
)

# At hh:15 the newest partition is the newest ready hour (the partitions lag by the export lag).
hourly_events = dg.build_schedule_from_partitioned_job(
    events_job,
    minute_of_hour=15,
    name="amplitude_events_hourly",
    default_status=SETTINGS.schedule_status,
)


def _partition_key(hour_key: str, project: str | None) -> str:
    return f"{hour_key}|{project}" if project else hour_key


@dg.schedule(
    job=events_job,
    cron_schedule="45 4 * * *",
    execution_timezone="UTC",
    name="amplitude_events_recheck",
    default_status=SETTINGS.schedule_status,
    description="Export the newest hours again and replace those whose content changed.",
)
def daily_recheck(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Once a day, re-export the last `AMPLITUDE_RECHECK_HOURS` ready hours (late arrivals)."""
    last = newest_ready_hour(floor_hour(context.scheduled_execution_time), SETTINGS.lag_hours)
    first = max(last - timedelta(hours=SETTINGS.recheck_hours - 1), SETTINGS.start)
    projects: list[str | None] = (
        list(SETTINGS.project_ids)
        if isinstance(EVENTS_PARTITIONS, dg.MultiPartitionsDefinition)
        else [None]
    )
    return [
        dg.RunRequest(
            run_key=f"recheck-{project or 'all'}-{last:%Y%m%dT%H}",
            tags={
                "dagster/asset_partition_range_start": _partition_key(
                    f"{first:%Y-%m-%d-%H:%M}", project
                ),
                "dagster/asset_partition_range_end": _partition_key(
                    f"{last:%Y-%m-%d-%H:%M}", project
                ),
                "amplitude/recheck": "true",
                **({PROJECT: project} if project else {}),
            },
            run_config={"ops": {"amplitude__events": {"config": {"recheck": True}}}},
        )
        for project in projects
    ]


def failure_message(context: dg.RunFailureSensorContext) -> str:
    """Return the library's explanation of a failed run, for a person to read.

    Args:
        context: The sensor's context.

    Returns:
        One paragraph: the job, the run, and each failed step's explanation.
    """
    reasons = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        error = data.user_failure_data.description if data and data.user_failure_data else None
        if not error and data and data.error:
            error = data.error.message.strip()
        reasons.append(f"{event.step_key}: {error or 'no details'}")
    summary = " | ".join(reasons) or context.failure_event.message
    return redact(
        f"Amplitude run {context.dagster_run.run_id[:8]} of"
        f" {context.dagster_run.job_name} failed: {summary}"
    )


@dg.run_failure_sensor(
    name="amplitude_failure_alert",
    default_status=SETTINGS.sensor_status,
    description="Explains failed runs; posts to AMPLITUDE_ALERT_WEBHOOK when it is set.",
)
def failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Log the explanation of a failed run, and post it to a webhook if one is configured."""
    message = failure_message(context)
    context.log.error(message)
    url = os.environ.get("AMPLITUDE_ALERT_WEBHOOK")
    if url:
        try:
            requests.post(url, json={"text": message}, timeout=10).raise_for_status()
        except requests.RequestException as exc:
            context.log.warning(f"could not post the alert: {type(exc).__name__}")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "amplitude_automation",
    target=dg.AssetSelection.all(),
    default_status=SETTINGS.sensor_status,
)
