"""The generic Delta layer: serializable commits, the log's statistics, pinned versions, vacuum.

On a local lake and on the loopback S3 server (real HTTP, moto's), with real Parquet files and
delta-rs; the independent reader is Polars.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from loader.delta.commit import Change, commit
from loader.delta.files import add_file, removal
from loader.delta.maintenance import compact, kept_versions, readable_since, vacuum
from loader.delta.tables import DeltaTables, TableSpec, check_file_list_readable
from loader.errors import LoaderError
from loader.lake import Lake

SPEC = TableSpec(
    schema=pa.schema(
        [
            ("uuid", pa.string()),
            ("user_id", pa.string()),
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("upload_date", pa.string()),
        ]
    ),
    partition_by=("upload_date",),
    stats=("event_time",),
)
#: No `k=v` folder above a table: Polars 2.1 takes it for a partition and fails.
KEY = "src/project_1/events"
RETAIN = timedelta(hours=24)
SECRET_ID = "erased-user-7d1f0c"  # a user's id: it must never enter the log


def _local_file(folder: Path, uuids: list[str], moment: datetime) -> Path:
    rows = pa.table(
        {
            "uuid": uuids,
            "user_id": [SECRET_ID] * len(uuids),
            "event_time": pa.array([moment] * len(uuids), pa.timestamp("us", tz="UTC")),
        }
    )
    path = folder / f"{uuids[0]}.parquet"
    pq.write_table(rows, path)
    return path


@pytest.fixture(params=["local", "s3"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> DeltaTables:
    if request.param == "local":
        return DeltaTables(Lake(tmp_path / "lake"))
    bucket = request.getfixturevalue("bucket")
    return DeltaTables(Lake(f"s3://{bucket}/lake"))


def _put(tables: DeltaTables, scratch: Path, uuids: list[str], moment: datetime) -> Change:
    local = _local_file(scratch, uuids, moment)
    return Change(adds=[add_file(tables, KEY, SPEC, local, {"upload_date": f"{moment:%Y-%m-%d}"})])


def _uuids(tables: DeltaTables, version: int | None = None) -> list[str]:
    table = DeltaTable(tables.uri(KEY), version=version, storage_options=tables.storage_options)
    return sorted(pl.from_arrow(table.to_pyarrow_table())["uuid"].to_list())  # type: ignore[index]


def test_a_writer_that_lost_computes_its_change_again(tables: DeltaTables, tmp_path: Path) -> None:
    moment = datetime(2024, 3, 1, 5, tzinfo=UTC)
    first = commit(
        tables,
        KEY,
        SPEC,
        "first",
        lambda _: _put(tables, tmp_path, ["a"], moment),
        log_retention=RETAIN,
    )
    seen: list[int] = []

    def change(table: DeltaTable | None) -> Change:
        assert table is not None
        seen.append(table.version())
        if len(seen) == 1:  # another writer commits between this read and this commit
            commit(
                tables,
                KEY,
                SPEC,
                "other",
                lambda _: _put(tables, tmp_path, ["b"], moment),
                log_retention=RETAIN,
            )
        # A change that depends on what it read: it removes every file of that version.
        current = pa.table(table.get_add_actions(flatten=True))
        removes = [
            removal(p, s, {"upload_date": d})
            for p, s, d in zip(
                current["path"].to_pylist(),
                current["size_bytes"].to_pylist(),
                current["partition.upload_date"].to_pylist(),
                strict=True,
            )
        ]
        return Change(adds=_put(tables, tmp_path, [f"c{len(seen)}"], moment).adds, removes=removes)

    version = commit(tables, KEY, SPEC, "replace all", change, log_retention=RETAIN)
    # Version 0 made the table. The first attempt was made from version 1 and lost to the other
    # writer's version 2; the second was made from version 2, so it removed "b" too.
    assert (first, seen, version) == (1, [1, 2], 3)
    assert _uuids(tables) == ["c2"]
    assert _uuids(tables, 2) == ["a", "b"]


def test_writers_that_create_a_table_at_the_same_moment_lose_no_change(
    tables: DeltaTables, tmp_path: Path
) -> None:
    """delta-rs's own create lets a second creator replace the first's version 0, files and all."""
    moment = datetime(2024, 3, 1, 5, tzinfo=UTC)
    # Every writer found no table before any of them commits.
    start = threading.Barrier(4)

    def write(name: str) -> None:
        change = _put(tables, tmp_path, [name], moment)
        waited: list[bool] = []

        def make(_: object) -> Change:
            if not waited:
                waited.append(True)
                start.wait(timeout=30)
            return change

        commit(tables, KEY, SPEC, name, make, log_retention=RETAIN)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _uuids(tables) == ["w0", "w1", "w2", "w3"]


def test_the_log_holds_statistics_of_the_chosen_columns_only(
    tables: DeltaTables, tmp_path: Path
) -> None:
    # Microseconds the log cannot hold: the file's range must still include them.
    moment = datetime(2024, 3, 1, 5, 0, 0, 1500, tzinfo=UTC)
    for name in ("a", "b", "c"):
        commit(
            tables,
            KEY,
            SPEC,
            "load",
            lambda _, n=name: _put(tables, tmp_path, [n], moment),
            log_retention=RETAIN,
        )
    table = tables.open(KEY)
    assert table is not None
    stats = pa.table(table.get_add_actions(flatten=True))
    assert {c for c in stats.column_names if c.startswith(("min.", "max."))} == {
        "min.event_time",
        "max.event_time",
    }
    # The log keeps milliseconds: the range is widened to hold the microseconds, so that no
    # reader that prunes by it skips these files.
    assert stats["min.event_time"].to_pylist() == [moment.replace(microsecond=1000)] * 3
    assert stats["max.event_time"].to_pylist() == [moment.replace(microsecond=2000)] * 3
    found = pl.scan_delta(tables.uri(KEY), storage_options=tables.storage_options).filter(
        pl.col("event_time") == moment
    )
    assert found.collect().height == 3
    assert compact(table, {"upload_date": "2024-03-01"}, "compact a day", SPEC) == 3
    assert _uuids(tables) == ["a", "b", "c"]
    table = tables.open(KEY)
    assert table is not None
    table.create_checkpoint()
    lake = tables.lake
    log_files = lake.files(lake.join(KEY, "_delta_log"))
    assert any(f.path.endswith(".checkpoint.parquet") for f in log_files)
    for info in log_files:
        assert SECRET_ID.encode() not in lake.read_bytes(info.path), info.path


def test_a_pinned_version_stays_readable_until_it_expires(
    tables: DeltaTables, tmp_path: Path
) -> None:
    moment = datetime(2024, 3, 1, 5, tzinfo=UTC)
    commit(
        tables,
        KEY,
        SPEC,
        "load",
        lambda _: _put(tables, tmp_path, ["a"], moment),
        log_retention=RETAIN,
    )
    pinned = tables.open(KEY)
    assert pinned is not None
    pinned_files = pinned.file_uris()

    def replace(table: DeltaTable | None) -> Change:
        assert table is not None
        (path,) = pa.table(table.get_add_actions(flatten=True))["path"].to_pylist()
        new = _put(tables, tmp_path, ["b"], moment).adds
        return Change(adds=new, removes=[removal(path, None, {"upload_date": "2024-03-01"})])

    commit(tables, KEY, SPEC, "reload", replace, log_retention=RETAIN)
    # A file no commit lists, as a writer that crashed before its commit leaves one.
    orphan = _local_file(tmp_path, ["orphan"], moment)
    lake = tables.lake
    lake.put(orphan, lake.join(KEY, "upload_date=2024-03-01/part-orphan.parquet"))

    done = vacuum(tables, KEY, RETAIN, RETAIN)
    assert done.removed == []  # the pinned version's file was removed just now; the orphan is new
    assert pl.read_parquet(pinned_files[0], storage_options=_polars_options(tables)).height == 1

    done = vacuum(tables, KEY, timedelta(0), timedelta(0))
    # Removed over 0 hours ago: the pinned version's file goes; the orphan is younger than the
    # floor (another writer may be about to commit it) and stays.
    assert [p.rsplit("/", 1)[-1] for p in done.removed] == [pinned_files[0].rsplit("/", 1)[-1]]
    assert lake.exists(lake.join(KEY, "upload_date=2024-03-01/part-orphan.parquet"))
    assert _uuids(tables) == ["b"]


def test_an_erasure_shortens_the_retention_of_what_it_removed(tmp_path: Path) -> None:
    tables = DeltaTables(Lake(tmp_path / "lake"))
    moment = datetime(2024, 3, 1, 5, tzinfo=UTC)
    commit(
        tables,
        KEY,
        SPEC,
        "load",
        lambda _: _put(tables, tmp_path, ["a"], moment),
        log_retention=RETAIN,
    )
    now = datetime.now(UTC)
    week, day = timedelta(days=7), timedelta(days=1)

    def history() -> list[dict[str, object]]:
        table = tables.open(KEY)
        assert table is not None
        return table.history()

    later = now + 2 * day
    assert readable_since(history(), week, day, later) == later - week  # no erasure yet
    commit(
        tables,
        KEY,
        SPEC,
        "erase",
        lambda _: _put(tables, tmp_path, ["b"], moment),
        log_retention=RETAIN,
        erasure=True,
    )
    assert readable_since(history(), week, day, now) == now - week  # not due yet
    erased_at = readable_since(history(), week, day, later)
    assert abs(erased_at - now) < timedelta(minutes=5)  # due: nothing before it stays
    # The versions kept from then on: the erasure's, not the one before it.
    assert kept_versions(history(), erased_at) == [2]
    assert kept_versions(history(), erased_at - timedelta(minutes=10)) == [0, 1, 2]


def test_a_table_another_engine_gave_deletion_vectors_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "table")
    write_deltalake(
        uri,
        pa.table({"a": [1, 2]}),
        configuration={"delta.enableDeletionVectors": "true"},
    )
    with pytest.raises(LoaderError) as caught:
        check_file_list_readable(DeltaTable(uri), "src/project=1/events")
    assert "deletionVectors" in str(caught.value)
    assert "only writer" in str(caught.value)
    write_deltalake(str(tmp_path / "plain"), pa.table({"a": [1]}))
    check_file_list_readable(DeltaTable(str(tmp_path / "plain")), "plain")


def _polars_options(tables: DeltaTables) -> dict[str, str] | None:
    if tables.lake.local:
        return None
    return {
        "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"],
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "aws_region": os.environ["AWS_DEFAULT_REGION"],
        "aws_allow_http": "true",
    }
