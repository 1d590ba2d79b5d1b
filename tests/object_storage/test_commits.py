"""Delta commits on S3 from writers that share no lock, against a real S3 server on loopback.

moto's standalone server speaks S3 over HTTP on 127.0.0.1, conditional writes included; delta-rs
reaches it as it would reach AWS (the endpoint and the test credentials come from the standard
`AWS_*` variables, see `tests.conftest`), with no lock service and no lock setting.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loader.delta.commit import Change, commit
from loader.delta.files import add_file
from loader.delta.maintenance import UNCOMMITTED_MIN_AGE, vacuum
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake
from tests.lake_tables import each_commit_on_the_one_before
from tests.object_storage.lakes import race, separate_lake

KEY = "amplitude/project_1/events"
SPEC = TableSpec(pa.schema([("name", pa.string()), ("n", pa.int64())]), stats=("n",))
RETAIN = timedelta(days=1)


def _adding(tables: DeltaTables, scratch: Path, name: str) -> Change:
    local = scratch / f"{name}.parquet"
    pq.write_table(pa.table({"name": [name], "n": [1]}, SPEC.schema), local)
    return Change(adds=[add_file(tables, KEY, SPEC, local)])


def test_writers_without_a_shared_lock_commit_one_history_and_lose_no_change(
    bucket: str, tmp_path: Path
) -> None:
    writers, commits = 4, 5

    def add(i: int) -> int:
        # Each writer its own filesystem, as on separate machines.
        tables = DeltaTables(separate_lake(f"s3://{bucket}/lake"))
        for k in range(commits):
            name = f"w{i}-{k}"
            commit(
                tables,
                KEY,
                SPEC,
                f"add {name}",
                lambda _, n=name: _adding(tables, tmp_path, n),
                log_retention=RETAIN,
            )
        return commits

    done = race(writers, add)
    assert done == [commits] * writers, done
    table = DeltaTables(Lake(f"s3://{bucket}/lake")).open(KEY)
    assert table is not None
    # One version per commit, each made from the one before, and every writer's change kept.
    assert table.version() == writers * commits  # version 0 made the table
    assert each_commit_on_the_one_before(table)
    names = table.to_pyarrow_table(columns=["name"])["name"].to_pylist()
    assert sorted(names) == sorted(f"w{i}-{k}" for i in range(writers) for k in range(commits))


def test_on_s3_the_vacuum_keeps_young_uncommitted_files_whatever_the_retention(
    bucket: str, tmp_path: Path
) -> None:
    lake = Lake(f"s3://{bucket}/lake")
    tables = DeltaTables(lake)
    commit(
        tables,
        KEY,
        SPEC,
        "first",
        lambda _: _adding(tables, tmp_path, "first"),
        log_retention=RETAIN,
    )
    # A file another machine wrote and is about to commit.
    in_flight = lake.join(KEY, "part-in-flight.parquet")
    lake.write_bytes(in_flight, b"a commit in progress elsewhere")
    assert vacuum(tables, KEY, timedelta(0), timedelta(0)).removed == []
    assert lake.exists(in_flight)
    # Older files no commit lists go: shown on a local lake, whose files' times can be set
    # back (`tests.test_vacuum`); an object's time cannot.
    assert timedelta(hours=1) <= UNCOMMITTED_MIN_AGE
