"""Planning a sync alone: which hours are wanted, which are missing, and how they are grouped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.hour_manifests import ExportRequest, HourFacts, events_manifest
from loader.amplitude.hour_plan import HourPlan
from loader.errors import ConfigError
from loader.hours import hours_between
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.planner import Window
from loader.secrets import Secret
from loader.snapshot.layout import TableLayout

NOW = datetime(2024, 3, 4, 2, 30, tzinfo=UTC)
START = datetime(2024, 3, 1, tzinfo=UTC)
NEWEST = datetime(2024, 3, 3, 23, tzinfo=UTC)  # 02:30 less the lag of 3 hours, floored
PROJECT = ProjectConfig(7, Secret("plan-key-1"), Secret("plan-secret-1"))


def _plan(tmp_path: Path, **settings: object) -> HourPlan:
    return HourPlan(PROJECT, LoaderSettings(lake_root=str(tmp_path), **settings), NOW)  # type: ignore[arg-type]


def _store(tmp_path: Path, loaded: dict[datetime, int]) -> ManifestStore:
    """A table whose load log lists `loaded` hours, each with its downloaded bytes."""
    store = ManifestStore(TableLayout(Lake(tmp_path / "lake"), "amplitude", "7", "events"))
    manifests = []
    for hour, size in loaded.items():
        request = ExportRequest(7, Window(hour, hour), "r", NOW)
        manifests.append(events_manifest(request, hour, HourFacts(rows=1, bytes_downloaded=size)))
    scratch = tmp_path / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    store.append(manifests, scratch, log_retention=timedelta(days=1))
    return ManifestStore(store.layout)


def test_the_wanted_hours_run_from_the_start_to_the_newest_ready_hour(tmp_path: Path) -> None:
    plan = _plan(tmp_path, start=START)
    assert plan.newest_ready_hour == NEWEST
    assert plan.wanted_hours(None, None) == list(hours_between(START, NEWEST))
    assert plan.wanted_hours(None, NEWEST + timedelta(days=9))[-1] == NEWEST  # capped
    assert plan.wanted_hours(NEWEST, NEWEST) == [NEWEST]
    assert plan.finished_before == NOW - timedelta(hours=3 + 24)


def test_no_start_and_a_start_inside_the_lag_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no start date") as raised:
        _plan(tmp_path).wanted_hours(None, None)
    assert "AMPLITUDE_START" in raised.value.describe()
    with pytest.raises(ConfigError, match="not exported yet"):
        _plan(tmp_path, start=START).wanted_hours(NEWEST + timedelta(hours=1), None)


def test_missing_hours_skip_the_loaded_ones_unless_reloading(tmp_path: Path) -> None:
    plan = _plan(tmp_path, start=START)
    loaded = [START + timedelta(hours=i) for i in range(10)]
    store = _store(tmp_path, dict.fromkeys(loaded, 100))
    missing = plan.missing_hours(store)
    assert missing == list(hours_between(START + timedelta(hours=10), NEWEST))
    assert plan.missing_hours(store, reload=True) == list(hours_between(START, NEWEST))


def test_windows_are_a_day_when_nothing_is_known_and_sized_by_nearby_hours_otherwise(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path / "a", start=START, target_window_bytes=1000)
    empty = _store(tmp_path / "a", {})
    day = list(hours_between(START, START + timedelta(hours=47)))
    assert [w.hours for w in plan.windows(empty, day)] == [24, 24]

    plan = _plan(tmp_path / "b", start=START, target_window_bytes=1000)
    store = _store(tmp_path / "b", {START - timedelta(hours=i + 1): 250 for i in range(6)})
    windows = plan.windows(store, day)
    assert sum(w.hours for w in windows) == 48
    assert {w.hours for w in windows} == {4}  # 4 hours of 250 bytes make the 1000-byte target
