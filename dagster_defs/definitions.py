"""Everything the code location registers, in one place."""

from __future__ import annotations

import dagster as dg

from dagster_defs.assets import catalog, events
from dagster_defs.automation import (
    automation_sensor,
    daily_recheck,
    events_job,
    failure_alert,
    hourly_events,
)
from dagster_defs.checks import EVENT_CHECKS
from dagster_defs.dbt import amplitude_dbt_models, dbt_resource
from dagster_defs.lake_state import lake_state
from dagster_defs.resources import build_resources
from dagster_defs.snapshots import daily_snapshots, snapshots, snapshots_job
from dagster_defs.vacuum import daily_vacuum, vacuum_job

defs = dg.Definitions(
    assets=[events, catalog, snapshots, amplitude_dbt_models],
    asset_checks=EVENT_CHECKS,
    jobs=[events_job, snapshots_job, vacuum_job],
    schedules=[hourly_events, daily_recheck, daily_snapshots, daily_vacuum],
    sensors=[failure_alert, automation_sensor, lake_state],
    resources={**build_resources(), "dbt": dbt_resource},
)
