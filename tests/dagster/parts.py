"""The parts of this repository's code location, built as the factory builds them.

Tests that materialise a few assets, or call one schedule or sensor, take them from here; the
settings are the test process's environment, as the code location's are.
"""

from __future__ import annotations

from dagster_defs.assets import build_catalog, build_events
from dagster_defs.automation import build_event_schedules, build_events_job
from dagster_defs.checks import build_event_checks
from dagster_defs.lake_state import build_lake_state
from dagster_defs.location import Location
from dagster_defs.privacy import build_privacy
from dagster_defs.settings import load_settings
from dagster_defs.snapshots import build_snapshots
from dagster_defs.vacuum import build_vacuum

LOCATION = Location(load_settings())
NAMES = LOCATION.names
EVENTS, CATALOG, SNAPSHOT_KEYS = NAMES.events, NAMES.catalog, NAMES.snapshot_keys

events = build_events(LOCATION)
catalog = build_catalog(LOCATION)
EVENT_CHECKS = build_event_checks(NAMES)
snapshots, _, _ = build_snapshots(LOCATION)
lake_state = build_lake_state(LOCATION)
_, daily_recheck = build_event_schedules(LOCATION, build_events_job(LOCATION))
vacuum_job, _ = build_vacuum(LOCATION)
privacy, privacy_check, _, daily_privacy = build_privacy(LOCATION)
