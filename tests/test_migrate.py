"""A lake the version before Delta wrote is converted on its first open, downloading nothing."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path

import polars as pl

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import project_status, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START, count
from tests.legacy_lake import write_legacy_lake
from tests.loader_process import run_loader
from tests.truth import raw_rows, truth


def _legacy(tmp_path: Path, settings: LoaderSettings, name: str) -> LoaderSettings:
    """The loaded lake of `settings`, laid out by the previous version at `tmp_path/name`."""
    old = tmp_path / name
    write_legacy_lake(Path(settings.lake_root), old / "lake", {"2024-03-01"})
    return LoaderSettings(
        lake_root=str(old / "lake"),
        catalog_path=str(old / "catalog.duckdb"),
        start=START,
        retry=settings.retry,
    )


def _loaded_then_legacy(
    tmp_path: Path, project: ProjectConfig, settings: LoaderSettings
) -> tuple[LoaderSettings, set[str]]:
    """Three days loaded and snapshotted by this version, then laid out by the previous one.

    Returns:
        The previous version's lake, and the uuids this version flagged as later copies.
    """
    sync_projects([project], settings, now=NOW)
    snapshot_project(project, settings, ("events-list", "taxonomy"), now=NOW)
    events = pl.read_delta(str(Path(settings.lake_root) / "amplitude/project_100001/events"))
    later = set(events.filter(pl.col("later_copy"))["uuid"])
    assert later, "no later copy: the flags prove nothing"
    return _legacy(tmp_path, settings, "old"), later


def _assert_converted(
    legacy: LoaderSettings, synthetic: SyntheticProject, project: ProjectConfig, later: set[str]
) -> None:
    lake = Path(legacy.lake_root)
    assert not list((lake / "_commits").glob("*.json"))
    assert (lake / "_converted.json").exists()
    assert count(legacy, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
    assert count(legacy, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )
    # The old duplicate index became the flags, which another engine reads from the table.
    events = pl.read_delta(str(lake / "amplitude/project_100001/events"))
    assert set(events.filter(pl.col("later_copy"))["uuid"]) == later
    assert events.filter(~pl.col("later_copy"))["uuid"].n_unique() == len(
        truth(synthetic, START, LAST)
    )
    assert count(legacy, "SELECT count(*) FROM amplitude.event_types_current") > 0
    assert count(legacy, "SELECT count(*) FROM amplitude.taxonomy_event_types_current") > 0
    assert count(legacy, "SELECT count(*) FROM amplitude.snapshot_log") > 0
    status = project_status(project, legacy, now=NOW)
    assert status.hours_loaded == 72 and status.gaps == []


def test_a_lake_of_the_previous_version_is_converted_on_its_first_open_downloading_nothing(
    tmp_path: Path,
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    legacy, later = _loaded_then_legacy(tmp_path, project, settings)
    requests = len(emulator.export_requests())

    reports = sync_projects([project], legacy, now=NOW)

    assert len(emulator.export_requests()) == requests  # nothing downloaded again
    assert reports[0].published == []
    _assert_converted(legacy, synthetic, project, later)


def test_a_sigkill_during_the_conversion_leaves_a_lake_the_next_run_converts(
    tmp_path: Path,
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    legacy, later = _loaded_then_legacy(tmp_path, project, settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    status = ["status", "--lake", legacy.lake_root, "--catalog", legacy.catalog_path]
    status += ["--project-id", "100001", "--default-start", f"{START:%Y-%m-%d}"]
    for point in ("convert.before_table:3", "convert.before_dropping_records:1"):
        killed = run_loader(status, {**env, "LOADER_CRASH_AT": point}, tmp_path / "out")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert list((Path(legacy.lake_root) / "_commits").glob("*.json"))  # not converted yet
    done = run_loader(status, env, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "72" in done.stdout, done.stdout
    sync_projects([project], legacy, end=LAST - timedelta(hours=1), now=NOW)
    _assert_converted(legacy, synthetic, project, later)
