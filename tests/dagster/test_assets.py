"""Materialising the events through Dagster lands exactly the emulator's ground truth."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_defs.definitions import defs
from loader.amplitude.settings import AmplitudeSettings
from loader.emulator import SyntheticProject
from tests.conftest import LAST, START
from tests.dagster.parts import CATALOG, EVENT_CHECKS, EVENTS, NAMES, catalog, events
from tests.truth import truth


def _events_in_catalog(resources: dict[str, object]) -> set[str]:
    path = resources["lake"].catalog_path  # type: ignore[attr-defined]
    with duckdb.connect(path, read_only=True) as con:
        return {r[0] for r in con.execute("SELECT uuid FROM amplitude.events").fetchall()}


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"amplitude/events", "amplitude/catalog", "amplitude/stg_amplitude__events"} <= keys
    dbt_parents = graph.get(dg.AssetKey(["amplitude", "stg_amplitude__events"])).parent_keys
    assert {EVENTS, CATALOG} <= dbt_parents
    members = graph.get(dg.AssetKey(["amplitude", "stg_amplitude__cohort_members"])).parent_keys
    assert dg.AssetKey(["amplitude", "cohort_members"]) in members
    marts = graph.get(dg.AssetKey(["amplitude", "amplitude__users"])).parent_keys
    assert dg.AssetKey(["amplitude", "stg_amplitude__events"]) in marts
    # The events' columns, as the catalog's view has them, with their meanings.
    schema = graph.get(EVENTS).metadata["dagster/column_schema"]
    assert len(schema.columns) == 59 and schema.columns[0].name == "uuid"
    assert schema.columns[0].constraints.unique and not schema.columns[0].constraints.nullable
    assert {c.name: c.type for c in schema.columns}["event_time"] == "TIMESTAMP"


def test_one_partition_equals_the_ground_truth_and_its_run_log_tells_the_plan_and_export(
    resources: dict[str, object], instance: dg.DagsterInstance, synthetic: SyntheticProject
) -> None:
    hour = START + timedelta(hours=13)
    result = dg.materialize(
        [events, catalog, *EVENT_CHECKS],
        partition_key=f"{hour:%Y-%m-%d-%H:%M}",
        resources=resources,
        instance=instance,
    )
    assert result.success
    assert _events_in_catalog(resources) == set(truth(synthetic, hour, hour))
    [materialization] = result.asset_materializations_for_node("amplitude__events")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == len(synthetic.events(hour))
    assert metadata["export_requests"].value == 1
    assert 0 < metadata["megabytes_downloaded"].value < 1  # in MB, not a bare byte count
    [refreshed] = result.asset_materializations_for_node("amplitude__catalog")
    figures = {
        k: refreshed.metadata[k].value for k in ("hours_with_events", "rows", "failed_hours")
    }
    assert figures == {
        "hours_with_events": 1,
        "rows": len(synthetic.events(hour)),
        "failed_hours": 0,
    }
    lake = resources["lake"].lake_root  # type: ignore[attr-defined]
    assert metadata["lake"] == dg.MetadataValue.path(str(Path(lake).resolve()))
    assert all(check.passed for check in result.get_asset_check_evaluations())
    # The library's own lines are in the run's event log, where the UI shows them.
    lines = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    stamp = f"{hour:%Y-%m-%dT%H}"
    assert any("1 hour(s) to load in 1 export request(s)" in line for line in lines), lines
    assert any(f"export request for {stamp}" in line for line in lines), lines
    assert any(f"export of {stamp} answered zip (HTTP 200" in line for line in lines), lines
    assert any("loader.catalog: catalog" in line for line in lines), lines
    assert not any("demo-secret-key" in line for line in lines)


def test_a_three_day_range_run_equals_the_ground_truth(
    resources: dict[str, object], instance: dg.DagsterInstance, synthetic: SyntheticProject
) -> None:
    result = dg.materialize(
        [events, catalog, *EVENT_CHECKS],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": f"{START:%Y-%m-%d-%H:%M}",
            "dagster/asset_partition_range_end": f"{LAST:%Y-%m-%d-%H:%M}",
        },
    )
    assert result.success
    assert _events_in_catalog(resources) == set(truth(synthetic, START, LAST))
    materializations = result.asset_materializations_for_node("amplitude__events")
    assert len(materializations) == 72
    assert materializations[0].metadata["export_requests"].value == 3
    assert "dagster/row_count" not in materializations[0].metadata
    observed = instance.fetch_observations(dg.AssetKey(["amplitude", "events"]), limit=100)
    rows = {r.partition_key: r.asset_observation.metadata["rows"].value for r in observed.records}
    assert len(rows) == 72, rows
    assert rows[f"{START:%Y-%m-%d-%H:%M}"] == len(synthetic.events(START))
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {
        "uuid_unique": True,
        "rows_match_manifests": True,
        "no_gaps": True,
        "reject_ratio": True,
        "schema_drift": True,
    }


def test_the_backfill_policy_groups_a_week_per_run() -> None:
    policy = events.backfill_policy
    assert (
        policy is not None
        and policy.max_partitions_per_run == AmplitudeSettings().partitions_per_run
    )
    # What Dagster's backfill daemon does with the policy: a year is about 52 runs.
    from dagster._core.definitions.automation_tick_evaluation_context import (
        build_run_requests_with_backfill_policies,
    )
    from dagster._core.definitions.events import AssetKeyPartitionKey

    partitions = events.partitions_def
    assert partitions is not None
    keys = partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-03-01-00:00", "2025-02-28-23:00")
    )
    requests = build_run_requests_with_backfill_policies(
        [AssetKeyPartitionKey(events.key, k) for k in keys],
        defs.resolve_asset_graph(),
        None,  # type: ignore[arg-type]
    )
    assert len(keys) == 365 * 24 and len(requests) == 53
    assert requests[0].tags["dagster/asset_partition_range_end"] == "2024-03-07-23:00"


def test_a_failure_raises_the_librarys_explanation(
    resources: dict[str, object], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    from dagster_defs.resources import AmplitudeResource

    wrong = {
        **resources,
        "amplitude": AmplitudeResource(
            project_id="100001",
            api_key="demo-api-key",
            secret_key="not-the-secret-1234",
            base_url=resources["amplitude"].base_url,
        ),
    }  # type: ignore[attr-defined]
    result = dg.materialize(
        [events],
        partition_key=f"{LAST:%Y-%m-%d-%H:%M}",
        resources=wrong,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "AMPLITUDE_REGION=eu" in description and "project 100001" in description
    assert "not-the-secret-1234" not in str(result.all_events)


def test_the_dbt_models_build_downstream_in_dagster(
    resources: dict[str, object],
    instance: dg.DagsterInstance,
    synthetic: SyntheticProject,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dagster_defs.dbt import build_dbt_models, dbt_resource
    from dagster_defs.factory import DBT_PROJECT

    # The dbt asset points the profile at the catalog through the environment: undo it after.
    monkeypatch.delenv("AMPLITUDE_CATALOG", raising=False)
    monkeypatch.delenv("AMPLITUDE_DBT_DATABASE", raising=False)
    hour = START + timedelta(hours=13)
    loaded = dg.materialize(
        [events, catalog],
        partition_key=f"{hour:%Y-%m-%d-%H:%M}",
        resources=resources,
        instance=instance,
    )
    assert loaded.success
    built = dg.materialize(
        [build_dbt_models(NAMES, DBT_PROJECT)],
        resources={**resources, "dbt": dbt_resource(DBT_PROJECT)},
        instance=instance,
    )
    assert built.success
    keys = {m.asset_key for m in built.get_asset_materialization_events() if m.asset_key}
    assert {NAMES.key("amplitude__users"), NAMES.key("amplitude__daily_event_metrics")} <= keys
    checks = built.get_asset_check_evaluations()
    assert all(c.passed for c in checks)
    # The models' tests are asset checks (the two-table one a check of the mart); those of the
    # loader's tables (dbt sources) are observations of its assets, with no warning each.
    assert NAMES.key("amplitude__daily_event_metrics") in {c.asset_key for c in checks}
    assert any(c.check_name == "daily_metrics_add_up" for c in checks)
    observations = {e.asset_key for e in built.get_asset_observation_events()}
    assert {NAMES.key("events"), NAMES.key("cohorts")} <= observations
    warned = [r for r in caplog.records if "instead of an `AssetCheckResult`" in r.getMessage()]
    assert warned == []
    dbt_file = Path(resources["lake"].catalog_path).with_name("dbt.duckdb")  # type: ignore[attr-defined]
    with duckdb.connect(str(dbt_file), read_only=True) as con:
        row = con.execute("SELECT sum(events) FROM main.amplitude__daily_event_metrics").fetchone()
    assert row is not None and row[0] == len(truth(synthetic, hour, hour))
