"""What `dagster dev` starts with: nothing scheduled until asked, and one group for everything."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from dagster_defs.definitions import defs
from dagster_defs.settings import load_settings


def test_schedules_and_sensors_start_stopped_unless_the_setting_turns_them_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The definitions were built with no AMPLITUDE_DAGSTER_AUTOMATION in the environment.
    schedules = list(defs.schedules or [])
    sensors = list(defs.sensors or [])
    assert schedules and sensors
    assert {s.default_status for s in schedules} == {dg.DefaultScheduleStatus.STOPPED}
    statuses = {s.name: s.default_status for s in sensors}
    # Only the sensor that reads the lake (and calls no API) runs from the start.
    assert statuses.pop("amplitude_lake_state") == dg.DefaultSensorStatus.RUNNING
    assert set(statuses.values()) == {dg.DefaultSensorStatus.STOPPED}

    monkeypatch.setenv("AMPLITUDE_DAGSTER_AUTOMATION", "true")
    settings = load_settings()
    assert settings.schedule_status == dg.DefaultScheduleStatus.RUNNING
    assert settings.sensor_status == dg.DefaultSensorStatus.RUNNING


def test_every_asset_the_location_defines_is_in_the_amplitude_group() -> None:
    graph = defs.resolve_asset_graph()
    groups = {
        key.to_user_string(): graph.get(key).group_name for key in graph.materializable_asset_keys
    }
    # The dbt models too, under the location's key prefix like every other asset.
    assert groups["amplitude/amplitude__users"] == groups["amplitude/stg_amplitude__events"]
    assert set(groups.values()) == {"amplitude"}, groups
    assert all(key.startswith("amplitude/") for key in groups), groups


def test_loading_the_code_location_prints_no_warning_of_ours() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPLITUDE_", "PYTHONWARN"))}
    loaded = subprocess.run(
        [sys.executable, "-c", "import dagster_defs.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "BetaWarning" not in loaded.stderr and "PreviewWarning" not in loaded.stderr
