"""An erasure on a lake in S3: the users leave every object, the rest reaches the ground truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.privacy.deletion_api import IdRequest
from loader.amplitude.privacy.sync import forget
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.generator import amplitude_id_of
from tests.conftest import NOW, START, config_for, settings_in
from tests.object_storage.lakes import bucket_files, catalog_events
from tests.privacy.scan import holders, patterns
from tests.truth import truth


def _objects_in(url: str, folder: Path) -> list[Path]:
    """Every object of the lake, written to a local folder to be scanned."""
    paths = []
    for name, data in bucket_files(url).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_forget_on_s3_erases_from_every_object_and_keeps_every_other_row(
    bucket: str, tmp_path: Path
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    url = f"s3://{bucket}/lake"
    settings = replace(settings_in(tmp_path), lake_root=url)
    last = START + timedelta(hours=7)
    erased = {amplitude_id_of(11, 0), amplitude_id_of(12, 0), amplitude_id_of(12, 1)}
    wanted = patterns(erased, ["user_11", "user_12"])
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, start=START, end=last, now=NOW)
        assert holders(_objects_in(url, tmp_path / "before"), wanted), "nothing to erase"
        ids = [IdRequest("amplitude_id", amplitude_id_of(11, 0)), IdRequest("user_id", "user_12")]
        erasure, _ = forget(project, settings, ids, "dpo@example.com", now=NOW)
        refresh_catalog(settings)
    assert erasure.resolved == 2 and erasure.rows["events.rows"] > 0
    _, rows = catalog_events(settings)
    expected = {
        uuid: row
        for uuid, row in truth(synthetic, START, last).items()
        if row["amplitude_id"] not in erased
    }
    assert rows == expected
    later = datetime.now(UTC) + timedelta(seconds=1)
    vacuum_lake(replace(settings, retention_hours=0), now=later)
    assert not holders(_objects_in(url, tmp_path / "after"), wanted)
