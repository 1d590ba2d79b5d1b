"""Hours loaded by the command line are materialized partitions in Dagster, and what follows runs.

The lake is the state: after a load outside Dagster, the lake sensor reports each loaded hour
and snapshot table once, and the catalog the command line built; the automation conditions then
ask for the dbt models, with no one materialising them by hand.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg

from dagster_defs.definitions import defs
from dagster_defs.resources import LakeResource
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.catalog import catalog_version
from loader.emulator import EmulatorServer, SyntheticProject
from loader.hours import hours_between
from tests.conftest import LAST, NOW, config_for, settings_in
from tests.dagster.parts import CATALOG, EVENTS, SNAPSHOT_KEYS, lake_state


def test_hours_loaded_by_the_command_line_are_materialized_and_the_catalog_and_dbt_follow(
    tmp_path: Path, emulator: EmulatorServer, synthetic: SyntheticProject
) -> None:
    settings = settings_in(tmp_path)
    first = LAST - timedelta(hours=5)
    project = config_for(synthetic, emulator)
    sync_projects(
        [project], settings, start=first, now=NOW
    )  # what `amplitude-loader backfill` does
    snapshot_project(project, settings, ("events-list",), now=NOW)
    refresh_catalog(settings)  # as `amplitude-loader snapshot` ends
    lake = LakeResource(lake_root=settings.lake_root, catalog_path=settings.catalog_path)

    with dg.instance_for_test() as instance:
        before = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # a first tick
        context = dg.build_sensor_context(instance=instance, resources={"lake": lake})
        result = lake_state(context)
        assert isinstance(result, dg.SkipReason) and "reported 6 hour(s)" in str(
            result.skip_message
        )
        expected = {f"{h:%Y-%m-%d-%H:%M}" for h in hours_between(first, LAST)}
        assert instance.get_materialized_partitions(EVENTS) == expected
        assert instance.get_latest_materialization_event(SNAPSHOT_KEYS["event_types"])
        assert instance.get_latest_materialization_event(SNAPSHOT_KEYS["cohorts"]) is None

        # The catalog the command line built is materialized too, at the snapshot it reads.
        catalog_event = instance.get_latest_materialization_event(CATALOG)
        assert catalog_event and catalog_event.asset_materialization
        built = catalog_event.asset_materialization.metadata["lake_snapshot"].value
        assert built == catalog_version(Path(settings.catalog_path)) >= 1
        assert f"the catalog of snapshot {built} built outside it" in str(result.skip_message)

        again = lake_state(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
        assert "reported 0 hour(s) and 0 snapshot table(s)" in str(again.skip_message)  # type: ignore[union-attr]
        assert "catalog" not in str(again.skip_message)  # type: ignore[union-attr]

        evaluation = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=before.cursor
        )
        requested = {r.key for r in evaluation.results if r.true_subset.size}
        assert CATALOG not in requested  # it reads the newest snapshot already
        assert dg.AssetKey(["amplitude", "stg_amplitude__events"]) in requested
        assert EVENTS not in requested  # loads are the schedules' job, never the automation's
