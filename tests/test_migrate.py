"""A lake written by the version before the commit log is adopted on its first run."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import project_status, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.day_files import DayFiles
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from loader.snapshot.layout import TableLayout
from loader.snapshot.log import CommitLog
from tests.conftest import LAST, NOW, START, count
from tests.truth import raw_rows, truth

KEY = "amplitude/project=100001/events"


def _legacy_lake(new: Path, old: Path, scratch: Path) -> None:
    """Lay out a loaded lake as the previous version did: fixed paths, a manifest per hour."""
    lake = Lake(new)
    snapshot = CommitLog(lake).latest()
    project = old / "amplitude" / "project=100001"

    def copy(relative: str, to: Path) -> None:
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new / relative, to)

    events = snapshot.table(KEY)
    for key, entry in events.hours.items():
        day, hour = key.split("T")
        copy(entry.manifest, project / "_manifests/events" / f"{key}.json")
        if entry.data:
            copy(entry.data, project / f"events/upload_date={day}/hour={hour}/data.parquet")
        if entry.rejects:
            copy(entry.rejects, project / "_rejects/events" / f"{key}.jsonl.gz")
    builder = DayFiles(TableLayout(lake, "amplitude", "100001", "events"), scratch)
    for day in sorted({date.fromisoformat(k[:10]) for k in events.hours}):  # each had a copy
        path, _ = builder.build(day, events.hour_files(day))
        copy(path, project / f"events_by_day/upload_date={day}/data.parquet")
    assert events.index
    copy(events.index, project / "_state/events/duplicates.parquet")
    (project / "_state/events/schema_version=1").touch()
    for state in snapshot.tables.values():
        for relative in state.files:
            legacy = relative.rsplit("/", 1)[0] + "/data.parquet"
            if "/_snapshots/" in relative:
                legacy = relative.rsplit("-", 1)[0] + ".json"
            copy(relative, old / legacy)


def test_a_lake_of_the_previous_version_is_adopted_and_its_interrupted_hour_loaded_again(
    tmp_path: Path,
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    snapshot_project(project, settings, ("events-list", "taxonomy"), now=NOW)
    old = tmp_path / "old"
    _legacy_lake(Path(settings.lake_root), old / "lake", tmp_path)
    interrupted = START + timedelta(hours=30)
    state = old / "lake/amplitude/project=100001/_state/events"
    (state / "publishing.json").write_text(json.dumps([interrupted.isoformat()]))
    legacy = LoaderSettings(
        lake_root=str(old / "lake"),
        catalog_path=str(old / "catalog.duckdb"),
        start=START,
        retry=settings.retry,
    )
    requests = len(emulator.export_requests())

    reports = sync_projects([project], legacy, now=NOW)

    # Only the hour a publish was interrupted in is exported again.
    assert len(emulator.export_requests()) == requests + 1
    assert reports[0].published == [interrupted]
    commits = CommitLog(Lake(legacy.lake_root))
    first = commits.read(1)
    assert first.operation == "adopt the lake written by an earlier version"
    assert len(first.table(KEY).hours) == 71
    assert sorted(first.table(KEY).days) == ["2024-03-01", "2024-03-03"]  # day 2 was touched
    assert count(legacy, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
    assert count(legacy, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )
    assert count(legacy, "SELECT count(*) FROM amplitude.event_types_current") > 0
    assert count(legacy, "SELECT count(*) FROM amplitude.taxonomy_event_types_current") > 0
    assert sorted(p.name for p in state.iterdir()) == ["last_run.json"]  # old notes removed
    status = project_status(project, legacy, now=NOW)
    assert status.hours_loaded == 72 and status.gaps == []
