"""Each hour's status takes its rejects from the snapshot, or from its manifest in older records."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from loader.amplitude.hour_status import hour_statuses
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from loader.snapshot.log import CommitLog, record_name
from tests.conftest import NOW, START, config_for, settings_in


def test_a_snapshot_recorded_before_hours_kept_their_rejects_still_shows_them(
    tmp_path: Path,
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)  # repeats a uuid at 17:00
    settings = settings_in(tmp_path / "new")
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, end=START + timedelta(hours=20), now=NOW)
    now = hour_statuses(project, settings, now=NOW)
    assert sum(h.rejects for h in now) > 0
    # The same lake, its newest record as the previous version wrote it: no `rejected`.
    old = replace(settings, lake_root=str(tmp_path / "old"))
    shutil.copytree(settings.lake_root, old.lake_root)
    log = CommitLog(Lake(old.lake_root))
    path = Path(log.folder) / record_name(log.versions()[-1])
    record = json.loads(path.read_text())
    for table in record["tables"].values():
        for entry in table.get("hours", {}).values():
            entry.pop("rejected", None)
    path.write_text(json.dumps(record))
    assert hour_statuses(project, old, now=NOW) == now
