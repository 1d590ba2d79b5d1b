"""The lake on S3: commits from writers that share no lock, against a real S3 server on loopback.

moto's standalone server speaks S3 over HTTP on 127.0.0.1, conditional writes included; the lake
reaches it through s3fs, as it would reach AWS (the endpoint and the test credentials come from
the standard `AWS_*` variables).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import s3fs
from moto.server import ThreadedMotoServer

from loader.amplitude.catalog_views import amplitude_views
from loader.amplitude.config import ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.catalog import connect_views, open_catalog
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from loader.snapshot.log import COMMITS, CommitLog
from loader.snapshot.reader import LakeSnapshot
from loader.snapshot.state import HourEntry, Snapshot, TableState
from tests.conftest import NOW, START, config_for, settings_in
from tests.truth import truth

TABLE = "amplitude/project=1/events"
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "loopback-test-key",
    "AWS_SECRET_ACCESS_KEY": "loopback-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on loopback, and the environment that points s3fs at it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*ENVIRONMENT, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENVIRONMENT, AWS_ENDPOINT_URL=endpoint)
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new bucket; its lake is `s3://<bucket>/lake`."""
    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return name


def _race(workers: int, work: object) -> list[object]:
    """Run `work(i)` in `workers` threads started together; return their results by worker."""
    results: list[object] = [None] * workers
    start = threading.Barrier(workers)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)  # type: ignore[operator]
        except Exception as exc:  # the test reads it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_a_commit_record_is_created_once_however_many_writers_race(bucket: str) -> None:
    path = f"{bucket}/lake/{COMMITS}/race.json"
    # Each writer its own filesystem and lake, as on separate machines.
    lakes = [Lake(f"s3://{bucket}/lake") for _ in range(8)]
    for lake in lakes:
        lake.fs = s3fs.S3FileSystem(skip_instance_cache=True)
    won = _race(8, lambda i: lakes[i].create_exclusive(path, f"writer {i}".encode()))
    assert sorted(won, key=str) == [False] * 7 + [True], won
    winner = won.index(True)
    assert lakes[0].read_bytes(path) == f"writer {winner}".encode()


def test_writers_without_a_shared_lock_commit_one_history_and_lose_no_change(bucket: str) -> None:
    writers, commits = 4, 6

    def add_hours(i: int) -> int:
        lake = Lake(f"s3://{bucket}/lake")
        lake.fs = s3fs.S3FileSystem(skip_instance_cache=True)
        log = CommitLog(lake)
        for k in range(commits):
            name = f"w{i}-{k}"

            def change(base: Snapshot, name: str = name) -> dict[str, TableState]:
                hours = {**base.table(TABLE).hours, name: HourEntry(manifest=name)}
                return {TABLE: TableState(hours=hours)}

            log.commit(f"add {name}", change)
        return commits

    done = _race(writers, add_hours)
    assert done == [commits] * writers, done
    log = CommitLog(Lake(f"s3://{bucket}/lake"))
    # One record per commit, numbered without a hole, and every writer's every change kept.
    assert log.versions() == list(range(1, writers * commits + 1))
    hours = log.latest().table(TABLE).hours
    assert set(hours) == {f"w{i}-{k}" for i in range(writers) for k in range(commits)}


def test_a_load_into_an_s3_lake_reaches_the_ground_truth_through_the_catalog(
    bucket: str, tmp_path: Path
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    settings = replace(settings_in(tmp_path), lake_root=f"s3://{bucket}/lake")
    last = START + timedelta(hours=29)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        project: ProjectConfig = config_for(synthetic, emulator)
        [report] = sync_projects([project], settings, start=START, end=last, now=NOW)
    assert report.hours_loaded + report.hours_empty == 30
    expected = set(truth(synthetic, START, last))

    lake = Lake(settings.lake_root)
    assert lake.names(f"{bucket}/lake/_commits"), "nothing was committed to the bucket"
    with connect_views(amplitude_views(LakeSnapshot.newest(lake)), lake.fs) as con:
        uuids = {r[0] for r in con.execute("SELECT uuid FROM amplitude.events").fetchall()}
    assert uuids == expected
    # The catalog file was built on the same snapshot; a session reads it through the lake's
    # filesystem (DuckDB downloads no extension).
    with open_catalog(settings.catalog_path, lake.fs) as con:
        row = con.execute("SELECT count(DISTINCT uuid) FROM amplitude.events").fetchone()
    assert row is not None and row[0] == len(expected)
