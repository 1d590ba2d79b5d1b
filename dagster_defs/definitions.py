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
from dagster_defs.resources import build_resources

defs = dg.Definitions(
    assets=[events, catalog, amplitude_dbt_models],
    asset_checks=EVENT_CHECKS,
    jobs=[events_job],
    schedules=[hourly_events, daily_recheck],
    sensors=[failure_alert, automation_sensor],
    resources={**build_resources(), "dbt": dbt_resource},
)
