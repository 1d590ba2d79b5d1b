"""Loads into a lake on the loopback S3 server reach the ground truth, as on a local disk.

Each step (a load, a reload of changed content, the compaction of a finished day, a vacuum)
is checked field by field against the emulator's ground truth, read through the catalog as an
analyst reads it (`amplitude-loader query`: the lake's filesystem registered in DuckDB).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import loader.object_store
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.hour_status import hour_statuses
from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.hours import hour_from_key
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.pinned import PinnedLake, PinnedTable
from tests.conftest import NOW, START, config_for, settings_in
from tests.lake_tables import layout
from tests.object_storage.lakes import bucket_files, catalog_events
from tests.s3_server import LoopbackS3
from tests.truth import truth

KEY = "amplitude/project_100001/events"


def _events(lake: Lake) -> PinnedTable:
    return PinnedLake.newest(lake).table(KEY)


def _day_files(lake: Lake, day: str) -> list[str]:
    return [p for p in _events(lake).files if f"/upload_date={day}/" in p]


def test_load_reload_compaction_and_vacuum_on_s3_each_reach_the_ground_truth(
    bucket: str, tmp_path: Path
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    url = f"s3://{bucket}/lake"
    settings = replace(settings_in(tmp_path), lake_root=url)
    lake = Lake(url)
    last = START + timedelta(hours=25)
    hour = timedelta(hours=1)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)

        # A load of 26 hours: day 1 is finished under the tests' clock, and compacted.
        [report] = sync_projects([project], settings, start=START, end=last, now=NOW)
        assert report.hours_loaded + report.hours_empty == 26
        version, rows = catalog_events(settings)
        assert rows == truth(synthetic, START, last)
        assert version == _events(lake).version
        (compacted,) = _day_files(lake, "2024-03-01")  # day 1 was compacted

        # A reload with changed content (rows gone, rows new): hours of the compacted day get a
        # new day file in the same commit; hours of day 2 are read from their hour files.
        changed = replace(synthetic, seed=8)
        emulator.projects[synthetic.api_key] = changed
        reloaded = [START + 5 * hour, START + 6 * hour, START + 24 * hour, START + 25 * hour]
        for first in (reloaded[0], reloaded[2]):
            sync_projects([project], settings, start=first, end=first + hour, reload=True, now=NOW)
        expected = truth(synthetic, START, last, reloaded={h: changed for h in reloaded})
        assert expected != truth(synthetic, START, last)
        version, rows = catalog_events(settings)
        assert rows == expected
        assert version == _events(lake).version
        assert compacted not in _day_files(lake, "2024-03-01")

    # A vacuum with no retention removes every removed file; what stays in the bucket is the
    # newest versions' files, the tables' logs and the loader's notes, and reads the same.
    later = datetime.now(UTC) + timedelta(seconds=1)
    report_ = vacuum_lake(replace(settings, retention_hours=0), now=later)
    assert report_.removed
    assert any(p.endswith(compacted.rsplit("/", 1)[-1]) for p in report_.removed)
    after = set(bucket_files(url))
    data = {p for p in after if "/_delta_log/" not in p and "/_state/" not in p}
    pinned = PinnedLake.newest(lake)
    assert data - {"_digest_key", ".digest-key"} == {
        p for t in pinned.tables.values() for p in t.files
    } | (data & {p for p in data if not p.startswith("amplitude/")})
    version, rows = catalog_events(settings)
    assert rows == expected and version == _events(lake).version


def test_building_the_catalog_asks_the_store_about_each_file_once(
    bucket: str, tmp_path: Path, s3_server: LoopbackS3
) -> None:
    settings, _ = _loaded(bucket, tmp_path, START + timedelta(hours=5))
    loader.object_store._REMEMBERED.clear()  # as a new process would start
    before = len(s3_server.requests())
    assert refresh_catalog(settings, force=True)
    asked = Counter(path for method, path in s3_server.requests()[before:] if method == "HEAD")
    pinned = PinnedLake.newest(Lake(settings.lake_root))
    files = [p for t in pinned.tables.values() for p in t.files]
    assert len(files) > 5 and asked, "the catalog read no file from the store"
    # Every file of the snapshot, read by a dozen views, is asked about once at most (each was
    # asked about 8 times, one HEAD a time DuckDB opened it).
    assert max(asked.values()) == 1, asked.most_common(3)


def test_a_publish_reads_a_compacted_day_from_its_day_file_not_its_hours(
    bucket: str, tmp_path: Path, s3_server: LoopbackS3
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    settings = replace(settings_in(tmp_path), lake_root=f"s3://{bucket}/lake")
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, end=START + timedelta(hours=25), now=NOW)
        lake = Lake(settings.lake_root)
        (day_one,) = _day_files(lake, "2024-03-01")
        before = len(s3_server.requests())
        sync_projects([project], settings, end=START + timedelta(hours=26), now=NOW)
    read = [path for method, path in s3_server.requests()[before:] if method == "GET"]
    # The later-copy flags of the new hour read day 1's rows from its one file (not its 24 hour
    # files, which the version no longer lists), and day 2's from its hours.
    day = [p for p in read if "/events/upload_date=2024-03-01/" in p]
    assert day and {p.rsplit("/", 1)[-1] for p in day} == {day_one.rsplit("/", 1)[-1]}, day
    assert [p for p in read if "/events/upload_date=2024-03-02/" in p]


def test_the_status_of_every_hour_reads_no_manifest(
    bucket: str, tmp_path: Path, s3_server: LoopbackS3
) -> None:
    """The status page and Dagster's catalog figures read the load log: a few files, not one
    request an hour."""
    settings, project = _loaded(bucket, tmp_path, START + timedelta(hours=20))
    before = len(s3_server.requests())
    hours = hour_statuses(project, settings, now=NOW)
    read = [
        path
        for method, path in s3_server.requests()[before:]
        if method == "GET" and "/load_log/" in path and "/_delta_log/" not in path
    ]
    lake = Lake(settings.lake_root)
    log_files = PinnedLake.newest(lake).table(f"{KEY.rsplit('/', 1)[0]}/load_log").files
    # DuckDB reads a file in a few ranges: a footer and its columns, not one file an hour.
    assert read and {p.split("/lake/", 1)[1] for p in read} <= set(log_files), read
    assert len(read) <= 5 * len(log_files) < 20, read
    expected = {
        hour_from_key(key): manifest.rejects
        for key, manifest in ManifestStore(layout(lake)).manifests().items()
    }
    assert {h.hour: h.rejects for h in hours if h.state != "missing"} == expected
    assert sum(expected.values()) > 0  # the synthetic project repeats a uuid within an hour


def _loaded(bucket: str, tmp_path: Path, last: datetime) -> tuple[LoaderSettings, ProjectConfig]:
    """The loader's settings with a lake in the bucket, loaded from START to `last`."""
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    settings = replace(settings_in(tmp_path), lake_root=f"s3://{bucket}/lake")
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, start=START, end=last, now=NOW)
    return settings, project
