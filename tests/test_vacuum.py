"""The vacuum deletes what no snapshot within the retention references, and nothing else."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from loader.snapshot.log import CommitLog
from loader.snapshot.vacuum import VacuumReport
from tests.conftest import LAST, NOW, START, count
from tests.truth import truth


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_superseded_files_stay_for_the_retention_and_then_go_with_their_records(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    root = Path(settings.lake_root)
    sync_projects([project], settings, now=NOW)
    sync_projects(  # supersedes some hour files, the index and day 1's file
        [project],
        settings,
        start=START + timedelta(hours=2),
        end=START + timedelta(hours=40),
        reload=True,
        now=NOW,
    )
    hour_dir = root / "amplitude/project=100001/events/upload_date=2024-03-01/hour=00"
    stale, fresh = hour_dir / "part-crashed.parquet", hour_dir / "part-in-flight.parquet"
    stale.write_bytes(b"left by a killed load")
    fresh.write_bytes(b"a commit in progress elsewhere")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(stale, (two_days_ago, two_days_ago))
    commits = CommitLog(Lake(root))
    newest = commits.latest()
    before = _files(root)

    now = datetime.now(UTC)
    report = vacuum_lake(settings, now=now)  # within the retention: only the crashed file goes
    assert report.uncommitted == [str(stale.relative_to(root))]
    assert report.superseded == [] and report.records == []
    removed = before - _files(root)
    assert removed == {str(stale.relative_to(root))}

    later = vacuum_lake(settings, now=now + timedelta(hours=25))
    assert later.superseded and later.bytes_freed > 0
    assert later.kept_snapshots == [newest.version]
    assert commits.versions() == [newest.version]
    live = {f for f in _files(root) if f.startswith("amplitude/") and "/_state/" not in f}
    assert live == newest.live_files()
    assert later.uncommitted == [str(fresh.relative_to(root))]  # older than the retention now
    assert (root / "amplitude/project=100001/_state/events/last_run.json").exists()
    records = sorted((root / "_vacuum").glob("*.json"))
    assert len(records) == 2
    assert json.loads(records[-1].read_text())["superseded"] == later.superseded
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
    sync_projects([project], settings, now=NOW)  # the lake goes on from its newest snapshot
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )


def test_the_kept_snapshots_are_summarised_not_listed() -> None:
    report = VacuumReport(at="", retention_hours=24, kept_snapshots=list(range(1, 65)))
    assert report.kept_summary() == "64 snapshots (1..64)"
    report.kept_snapshots = [5, 9, 10, 12, 20, 21, 30]
    assert report.kept_summary() == "7 snapshots (5, 9..10, 12, +2 more runs)"
    assert VacuumReport(at="", retention_hours=0).kept_summary() == "0 snapshots (none)"
