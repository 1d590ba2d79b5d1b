"""Commits on S3 from writers that share no lock, against a real S3 server on loopback.

moto's standalone server speaks S3 over HTTP on 127.0.0.1, conditional writes included; the lake
reaches it through s3fs, as it would reach AWS (the endpoint and the test credentials come from
the standard `AWS_*` variables, see `tests.conftest`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from loader.lake import Lake
from loader.snapshot.log import COMMITS, CommitLog
from loader.snapshot.state import HourEntry, Snapshot, TableState
from loader.snapshot.vacuum import UNCOMMITTED_MIN_AGE, vacuum
from tests.object_storage.lakes import race, separate_lake

TABLE = "amplitude/project=1/events"


def _adding(name: str) -> Callable[[Snapshot], dict[str, TableState]]:
    """A change that adds one hour entry named `name` to the table."""

    def change(base: Snapshot) -> dict[str, TableState]:
        hours = {**base.table(TABLE).hours, name: HourEntry(manifest=name)}
        return {TABLE: TableState(hours=hours)}

    return change


def test_a_commit_record_is_created_once_however_many_writers_race(bucket: str) -> None:
    path = f"{bucket}/lake/{COMMITS}/race.json"
    # Each writer its own filesystem and lake, as on separate machines.
    lakes = [separate_lake(f"s3://{bucket}/lake") for _ in range(8)]
    won = race(8, lambda i: lakes[i].create_exclusive(path, f"writer {i}".encode()))
    assert sorted(won, key=str) == [False] * 7 + [True], won
    winner = won.index(True)
    assert lakes[0].read_bytes(path) == f"writer {winner}".encode()


def test_writers_without_a_shared_lock_commit_one_history_and_lose_no_change(bucket: str) -> None:
    writers, commits = 4, 6

    def add_hours(i: int) -> int:
        log = CommitLog(separate_lake(f"s3://{bucket}/lake"))
        for k in range(commits):
            log.commit(f"add w{i}-{k}", _adding(f"w{i}-{k}"))
        return commits

    done = race(writers, add_hours)
    assert done == [commits] * writers, done
    log = CommitLog(Lake(f"s3://{bucket}/lake"))
    # One record per commit, numbered without a hole, each made from the one before, and every
    # writer's every change kept.
    assert log.versions() == list(range(1, writers * commits + 1))
    snapshots = [log.read(v) for v in log.versions()]
    assert all(b.parent == a.id for a, b in pairwise(snapshots))
    hours = log.latest().table(TABLE).hours
    assert set(hours) == {f"w{i}-{k}" for i in range(writers) for k in range(commits)}


@pytest.mark.parametrize("where", ["s3", "local"])
def test_a_commit_slower_than_the_retention_is_not_lost_in_a_gap_the_vacuum_left(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A writer reads snapshot 1; meanwhile 2 and 3 are committed and a vacuum drops record 2."""
    url = f"s3://{request.getfixturevalue('bucket')}/lake" if where == "s3" else str(tmp_path)
    slow, other = CommitLog(Lake(url)), CommitLog(Lake(url))
    slow.commit("first", _adding("first"))
    calls = []

    def slow_change(base: Snapshot) -> dict[str, TableState]:
        calls.append(base.version)
        if len(calls) == 1:  # while this writer works on its change, the lake moves on
            other.commit("second", _adding("second"))
            other.commit("third", _adding("third"))
            vacuum(other.lake, timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1))
            assert other.versions() == [3]
        return _adding("slow")(base)

    committed = slow.commit("slow", slow_change)
    # Its first record took number 2, free again, beside the history: it went, and the change
    # was applied again on snapshot 3.
    assert calls == [1, 3]
    assert committed.version == 4 and committed.parent == other.read(3).id
    assert slow.versions() == [3, 4]
    assert set(slow.latest().table(TABLE).hours) == {"first", "second", "third", "slow"}


def test_on_s3_the_vacuum_keeps_young_uncommitted_files_whatever_the_retention(
    bucket: str,
) -> None:
    lake = Lake(f"s3://{bucket}/lake")
    CommitLog(lake).commit("first", _adding("first"))
    # A file another machine wrote and is about to commit.
    in_flight = lake.join("amplitude/project=1/events/upload_date=2024-03-01/part-x.parquet")
    lake.write_bytes(in_flight, b"a commit in progress elsewhere")
    now = datetime.now(UTC)
    assert vacuum(lake, timedelta(0), now=now).uncommitted == []
    assert lake.exists(in_flight)
    later = vacuum(lake, timedelta(0), now=now + UNCOMMITTED_MIN_AGE + timedelta(minutes=1))
    assert later.uncommitted == [in_flight[len(lake.root) + 1 :]]
    assert not lake.exists(in_flight)
