"""The snapshot assets: one per table, a subset takes only what it needs, daily by default."""

from __future__ import annotations

import dagster as dg
import duckdb

from dagster_defs.definitions import defs
from loader.emulator import EmulatorServer
from loader.emulator import metadata as truth
from tests.dagster.parts import SNAPSHOT_KEYS, catalog, snapshots


def test_snapshot_assets_land_every_table_and_report_cohorts(
    resources: dict[str, object], instance: dg.DagsterInstance, emulator: EmulatorServer
) -> None:
    emulator.metadata.polls_before_done = 0
    result = dg.materialize([snapshots, catalog], resources=resources, instance=instance)
    assert result.success
    materialized = {
        m.asset_key
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }  # type: ignore[union-attr]
    assert set(SNAPSHOT_KEYS.values()) <= materialized
    [cohorts] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()  # type: ignore[union-attr]
        if e.asset_key == SNAPSHOT_KEYS["cohorts"]
    ]
    assert cohorts.metadata["downloaded"].value == 5
    assert "c5huge" in cohorts.metadata["skipped"].value
    assert cohorts.metadata["quota_used"].value == "5/450"
    path = resources["lake"].catalog_path  # type: ignore[attr-defined]
    with duckdb.connect(path, read_only=True) as con:
        members = con.execute("SELECT count(*) FROM amplitude.cohort_members_current").fetchone()
    assert members == (sum(len(truth.members(c)) for c in truth.COHORTS if not c.size_override),)


def test_a_subset_takes_only_the_snapshots_it_needs(
    resources: dict[str, object], instance: dg.DagsterInstance, emulator: EmulatorServer
) -> None:
    result = dg.materialize(
        [snapshots],
        resources=resources,
        instance=instance,
        selection=[SNAPSHOT_KEYS["event_types"]],
    )
    assert result.success
    endpoints = {r["endpoint"] for r in emulator.requests}
    assert endpoints == {"/api/2/events/list"}


def test_snapshots_run_daily_once_turned_on() -> None:
    schedule = defs.resolve_schedule_def("amplitude_snapshots_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # see test_defaults
    assert schedule.cron_schedule == "30 5 * * *"
