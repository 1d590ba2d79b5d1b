"""The vacuum deletes what no version within the retention needs, and nothing else."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START, count
from tests.lake_tables import delta_table, layout
from tests.truth import truth


def _data_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder)) for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts
    }


def test_removed_files_stay_for_the_retention_and_files_no_commit_lists_go_when_old(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    root = Path(settings.lake_root)
    sync_projects([project], settings, now=NOW)
    sync_projects(  # removes some hour files and day 1's file
        [project],
        settings,
        start=START + timedelta(hours=2),
        end=START + timedelta(hours=40),
        reload=True,
        now=NOW,
    )
    events = Path(root / layout(root).key)
    day = events / "upload_date=2024-03-01"
    stale, fresh = day / "part-crashed.parquet", day / "part-in-flight.parquet"
    stale.write_bytes(b"left by a killed load")
    fresh.write_bytes(b"a commit in progress elsewhere")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(stale, (two_days_ago, two_days_ago))
    current = {str(Path(u).relative_to(events)) for u in delta_table(root).file_uris()}
    removed_by_reload = (
        _data_files(events)
        - current
        - {str(stale.relative_to(events)), str(fresh.relative_to(events))}
    )
    assert removed_by_reload, "the reload removed no file: the test proves nothing"

    report = vacuum_lake(settings)  # within the retention: only the crashed file goes
    assert [r.rsplit("/", 1)[-1] for r in report.removed] == [stale.name]
    assert not stale.exists() and fresh.exists()

    later = vacuum_lake(LoaderSettings(**{**settings.__dict__, "retention_hours": 0.0}))
    # Removed over 0 hours ago: the reload's files go; the young file no commit lists stays.
    assert {r.rsplit("/", 1)[-1] for r in later.removed} == {
        p.rsplit("/", 1)[-1] for p in removed_by_reload
    }
    assert fresh.exists()
    seven_hours_ago = (datetime.now(UTC) - timedelta(hours=7)).timestamp()
    os.utime(fresh, (seven_hours_ago, seven_hours_ago))
    last = vacuum_lake(LoaderSettings(**{**settings.__dict__, "retention_hours": 0.0}))
    assert [r.rsplit("/", 1)[-1] for r in last.removed] == [fresh.name]
    assert _data_files(events) == current
    assert (root / "amplitude/project_100001/_state/events/last_run.json").exists()
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
    sync_projects([project], settings, now=NOW)  # the lake goes on from its newest version
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
