"""Each hour's status: loaded or empty from the load log, with its rejects; failed ones too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from loader.amplitude.hour_status import hour_statuses
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import NOW, START, config_for, settings_in
from tests.lake_tables import loaded_hours


def test_hour_statuses_take_rows_and_rejects_from_the_load_log(tmp_path: Path) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)  # repeats a uuid at 17:00
    settings = settings_in(tmp_path / "new")
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, end=START + timedelta(hours=20), now=NOW)
    statuses = hour_statuses(project, settings, now=NOW)
    manifests = loaded_hours(settings.lake_root)
    loaded = [s for s in statuses if s.state in ("loaded", "empty")]
    assert len(loaded) == 21 == len(manifests)
    for status in loaded:
        manifest = manifests[f"{status.hour:%Y-%m-%dT%H}"]
        assert (status.rows, status.rejects) == (manifest.rows, manifest.rejects)
        assert status.state == ("loaded" if manifest.rows else "empty")
    assert sum(s.rejects for s in statuses) > 0
    assert {s.state for s in statuses if s.hour > START + timedelta(hours=20)} == {"missing"}
