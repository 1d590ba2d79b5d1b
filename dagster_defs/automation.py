"""Jobs, schedules and sensors: hourly loads, a daily re-check, alerts on failure."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import dagster as dg
import requests

from dagster_defs.location import Location
from dagster_defs.partitions import PROJECT
from loader.hours import floor_hour, newest_ready_hour
from loader.secrets import redact

#: Refresh after any update of a parent, a backfill's or the lake sensor's included. Plain
#: `eager()` waits until no parent partition is missing, which years of hourly partitions never
#: are, so it never fired after a backfill.
AFTER_ANY_LOAD = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("after_any_load")
)


def _partition_key(hour_key: str, project: str | None) -> str:
    return f"{hour_key}|{project}" if project else hour_key


def build_events_job(location: Location) -> dg.UnresolvedAssetJobDefinition:
    """The job that loads upload hours of events, then refreshes the catalog.

    Args:
        location: The code location's settings and names.

    Returns:
        The job.
    """
    names = location.names
    return dg.define_asset_job(
        names.name("events_job"),
        selection=dg.AssetSelection.assets(names.events, names.catalog),
        description="Load upload hours of Amplitude events, then refresh the catalog.",
    )


def build_event_schedules(location: Location, job: dg.UnresolvedAssetJobDefinition) -> list[Any]:
    """The hourly load of the newest ready hour, and the daily re-check of the newest hours.

    Args:
        location: The code location's settings and names.
        job: The events job.

    Returns:
        The two schedules (the hourly one resolves with the job, hence `Any`).
    """
    settings, names = location.settings, location.names
    # At hh:15 the newest partition is the newest ready hour (the partitions lag by the lag).
    hourly = dg.build_schedule_from_partitioned_job(
        job,
        minute_of_hour=15,
        name=names.name("events_hourly"),
        default_status=settings.schedule_status,
    )
    projects: list[str | None] = list(settings.project_ids) if location.several_projects else [None]

    @dg.schedule(
        job=job,
        cron_schedule="45 4 * * *",
        execution_timezone="UTC",
        name=names.name("events_recheck"),
        default_status=settings.schedule_status,
        description="Export the newest hours again and replace those whose content changed.",
    )
    def daily_recheck(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """Once a day, re-export the last `AMPLITUDE_RECHECK_HOURS` ready hours (late arrivals)."""
        last = newest_ready_hour(floor_hour(context.scheduled_execution_time), settings.lag_hours)
        first = max(last - timedelta(hours=settings.recheck_hours - 1), settings.start)
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
                run_config={
                    "ops": {names.events.to_python_identifier(): {"config": {"recheck": True}}}
                },
            )
            for project in projects
        ]

    return [hourly, daily_recheck]


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


def build_sensors(location: Location) -> list[dg.SensorDefinition]:
    """The failure alert, and the sensor that evaluates the automation conditions.

    Args:
        location: The code location's settings and names.

    Returns:
        The two sensors.
    """
    status, names = location.settings.sensor_status, location.names

    @dg.run_failure_sensor(
        name=names.name("failure_alert"),
        default_status=status,
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

    automation = dg.AutomationConditionSensorDefinition(
        names.name("automation"),
        target=dg.AssetSelection.groups(names.group),
        default_status=status,
    )
    return [failure_alert, automation]
