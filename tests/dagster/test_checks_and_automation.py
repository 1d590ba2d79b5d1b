"""Checks fail on injected problems; schedules pick the right hours; failures explain themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.compute as pc
from deltalake import write_deltalake

from dagster_defs.automation import failure_message
from dagster_defs.definitions import defs
from dagster_defs.resources import LakeResource
from loader.emulator import EmulatorServer
from loader.emulator.faults import FaultRule
from tests.conftest import LAST
from tests.dagster.parts import EVENT_CHECKS, catalog, daily_recheck, events
from tests.lake_tables import delta_table

FIRST = LAST - timedelta(hours=11)


def _load(resources: dict[str, object], instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [events, catalog],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": f"{FIRST:%Y-%m-%d-%H:%M}",
            "dagster/asset_partition_range_end": f"{LAST:%Y-%m-%d-%H:%M}",
        },
    )


def _checks(lake: LakeResource) -> dict[str, bool]:
    from dagster_defs.resources import AmplitudeResource

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [events, *EVENT_CHECKS],
            resources={"lake": lake, "amplitude": AmplitudeResource()},
            instance=instance,
            raise_on_error=False,  # a failing blocking check fails the run
            selection=dg.AssetSelection.checks_for_assets(events)
            - dg.AssetSelection.checks(dg.AssetCheckKey(events.key, "schema_drift")),
        )
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def test_all_checks_pass_on_a_clean_load(
    resources: dict[str, object], instance: dg.DagsterInstance
) -> None:
    assert _load(resources, instance).success
    assert _checks(resources["lake"]) == {  # type: ignore[arg-type]
        "uuid_unique": True,
        "rows_match_manifests": True,
        "no_gaps": True,
        "reject_ratio": True,
    }


def test_injected_duplicates_fail_the_uniqueness_check(
    resources: dict[str, object], instance: dg.DagsterInstance
) -> None:
    _load(resources, instance)
    lake: LakeResource = resources["lake"]  # type: ignore[assignment]
    # A broken writer (another engine) appends three of an hour's rows again.
    events = delta_table(lake.lake_root)
    rows = events.to_pyarrow_table()
    first = rows.filter(pc.equal(rows["upload_hour"], rows["upload_hour"][0])).slice(0, 3)
    write_deltalake(events, first, mode="append", partition_by=["upload_date"])
    results = _checks(lake)
    assert results["uuid_unique"] is False
    assert results["rows_match_manifests"] is False  # the hour's file rows disagree too
    assert results["no_gaps"] is True


def test_an_injected_gap_fails_the_gap_check(
    resources: dict[str, object], instance: dg.DagsterInstance
) -> None:
    _load(resources, instance)
    lake: LakeResource = resources["lake"]  # type: ignore[assignment]
    middle = FIRST + timedelta(hours=5)
    # A broken writer (another engine) deletes an hour's record from the load log.
    delta_table(lake.lake_root, "load_log").delete(f"upload_hour = '{middle:%Y-%m-%d %H:00:00}'")
    results = _checks(lake)
    assert results["no_gaps"] is False
    assert results["uuid_unique"] is True


def test_a_reject_storm_fails_the_reject_check(
    resources: dict[str, object], instance: dg.DagsterInstance, emulator: EmulatorServer
) -> None:
    emulator.faults.set([FaultRule(kind="bad_lines", times=None, params={"lines": 2})])
    strict: LakeResource = resources["lake"]  # type: ignore[assignment]
    lenient = {
        **resources,
        "lake": LakeResource(
            lake_root=strict.lake_root,
            catalog_path=strict.catalog_path,
            start=strict.start,
            max_reject_ratio=0.5,
        ),
    }
    assert _load(lenient, instance).success
    results = _checks(strict)
    assert results["reject_ratio"] is False
    assert results["rows_match_manifests"] is True


def test_the_hourly_schedule_asks_for_the_newest_ready_hour() -> None:
    schedule = defs.resolve_schedule_def("amplitude_events_hourly")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # see test_defaults
    assert schedule.cron_schedule == "15 * * * *"
    with dg.instance_for_test() as instance:
        for tick, expected in [
            (datetime(2024, 3, 10, 11, 15, tzinfo=UTC), "2024-03-10-08:00"),
            (datetime(2024, 3, 10, 0, 15, tzinfo=UTC), "2024-03-09-21:00"),
            (datetime(2024, 3, 11, 2, 15, tzinfo=UTC), "2024-03-10-23:00"),
        ]:
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
            requests = schedule.evaluate_tick(context).run_requests
            assert [r.partition_key for r in requests or []] == [expected], tick


def test_the_daily_recheck_covers_the_last_ready_hours() -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 3, 10, 4, 45, tzinfo=UTC)
        )
        [request] = daily_recheck(context)
    assert request.tags["dagster/asset_partition_range_start"] == "2024-03-09-02:00"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-03-10-01:00"
    assert request.run_config["ops"]["amplitude__events"]["config"]["recheck"] is True


def test_the_recheck_run_replaces_only_changed_hours(
    resources: dict[str, object], instance: dg.DagsterInstance, emulator: EmulatorServer
) -> None:
    _load(resources, instance)
    project = next(iter(emulator.projects.values()))
    late = LAST - timedelta(hours=2)
    emulator.projects[project.api_key] = replace(project, late_arrivals=(late,))
    result = dg.materialize(
        [events],
        resources=resources,
        instance=instance,
        run_config={"ops": {"amplitude__events": {"config": {"recheck": True}}}},
        tags={
            "dagster/asset_partition_range_start": f"{FIRST:%Y-%m-%d-%H:%M}",
            "dagster/asset_partition_range_end": f"{LAST:%Y-%m-%d-%H:%M}",
        },
    )
    metadata = result.asset_materializations_for_node("amplitude__events")[0].metadata
    assert metadata["hours_unchanged"].value == 11
    assert metadata["hours_loaded"].value == 1


def test_the_failure_alert_carries_the_librarys_explanation(
    resources: dict[str, object], emulator: EmulatorServer
) -> None:
    from dagster_defs.resources import AmplitudeResource

    wrong = {
        **resources,
        "amplitude": AmplitudeResource(
            project_id="100001",
            api_key="demo-api-key",
            secret_key="wrong-secret-4321",
            base_url=emulator.url,
        ),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [events],
            partition_key=f"{LAST:%Y-%m-%d-%H:%M}",
            resources=wrong,
            instance=instance,
            raise_on_error=False,
        )
        run = instance.get_run_by_id(result.run_id)
        failure_events = [e for e in result.all_events if e.is_run_failure]
        context = dg.build_run_status_sensor_context(
            sensor_name="amplitude_failure_alert",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure_events[0],
        ).for_run_failure()
        message = failure_message(context)
    assert "amplitude__events" in message and "project 100001" in message
    assert "AMPLITUDE_REGION=eu" in message and "wrong-secret-4321" not in message


def test_the_vacuum_job_removes_superseded_files_and_the_checks_still_pass(
    resources: dict[str, object], instance: dg.DagsterInstance
) -> None:
    from tests.dagster.parts import vacuum_job

    _load(resources, instance)
    reload = dg.RunConfig(ops={"amplitude__events": {"config": {"reload": True}}})
    assert dg.materialize(
        [events, catalog],
        resources=resources,
        instance=instance,
        run_config=reload,
        tags={
            "dagster/asset_partition_range_start": f"{LAST:%Y-%m-%d-%H:%M}",
            "dagster/asset_partition_range_end": f"{LAST:%Y-%m-%d-%H:%M}",
        },
    ).success
    strict: LakeResource = resources["lake"]  # type: ignore[assignment]
    no_retention = LakeResource(
        lake_root=strict.lake_root,
        catalog_path=strict.catalog_path,
        start=strict.start,
        retention_hours=0,
    )
    result = vacuum_job.execute_in_process(resources={"lake": no_retention}, instance=instance)
    assert result.success
    materialized = result.get_step_success_events()  # the op's metadata
    outputs = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = outputs[0].event_specific_data.metadata  # type: ignore[union-attr]
    assert materialized and metadata["removed_files"].value > 0
    assert all(_checks(no_retention).values())
