"""Partitions: one per upload hour (UTC), and one per project when there are several."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from dagster_defs.settings import LocationSettings

PROJECT = "project"
HOUR = "hour"


def upload_hours(settings: LocationSettings) -> dg.HourlyPartitionsDefinition:
    """Hourly partitions from the first hour to the newest ready hour.

    With end_offset 0 the newest partition is the last complete hour (now - 1 h); an hour is
    ready `lag` hours after it starts, so the partition set lags by `lag - 1` more hours.

    Args:
        settings: The code location's settings.

    Returns:
        The partitions definition.
    """
    return dg.HourlyPartitionsDefinition(
        start_date=settings.start.strftime("%Y-%m-%d-%H:%M"),
        timezone="UTC",
        end_offset=-(settings.lag_hours - 1),
    )


def events_partitions(settings: LocationSettings) -> dg.PartitionsDefinition:
    """Hours, or hours by project when several projects are configured.

    Args:
        settings: The code location's settings.

    Returns:
        The partitions definition of the events asset.
    """
    hours = upload_hours(settings)
    if len(settings.project_ids) <= 1:
        return hours
    return dg.MultiPartitionsDefinition(
        {HOUR: hours, PROJECT: dg.StaticPartitionsDefinition(list(settings.project_ids))}
    )


def projects_in_run(context: dg.AssetExecutionContext) -> set[str] | None:
    """Return the project ids a run covers, or None for all (single-dimension partitions).

    Args:
        context: The asset's context.

    Returns:
        Project ids, or None.
    """
    partitions = context.assets_def.partitions_def
    if not isinstance(partitions, dg.MultiPartitionsDefinition):
        return None
    return {
        partitions.get_partition_key_from_str(key).keys_by_dimension[PROJECT]
        for key in context.partition_keys
    }


def hours_in_run(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """Return the first and last hour (inclusive) a run covers.

    Args:
        context: The asset's context.

    Returns:
        (first, last) hour.
    """
    window = context.partition_time_window
    return window.start, window.end - timedelta(hours=1)
