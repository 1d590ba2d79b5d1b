"""The publisher alone: commits of staged hours, the duplicate index, quarantine, compaction.

A generic table (key `id`, ordered by `upload_hour`, scoped by `project_id`) in a lake on local
disk: no source, no HTTP, no catalog.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader.hours import hour_key
from loader.lake import Lake
from loader.manifest import HourManifest, ManifestStore
from loader.publish import Publisher, StagedHour, days_due
from loader.snapshot.duplicates import UniqueKey
from loader.snapshot.layout import TableLayout
from loader.snapshot.log import CommitLog
from loader.snapshot.state import HourEntry, TableState

DAY = datetime(2024, 5, 1, tzinfo=UTC)
UNIQUE = UniqueKey("id", "upload_hour", ("project_id",))


def _layout(tmp_path: Path) -> TableLayout:
    return TableLayout(Lake(tmp_path / "lake"), "demo", "7", "things")


def _staged(tmp_path: Path, hour: datetime, ids: list[str], *, rejects: bool = False) -> StagedHour:
    """An hour as staging leaves it: a sorted Parquet file, maybe rejects, and a manifest."""
    data = None
    if ids:
        data = tmp_path / f"hour-{uuid.uuid4().hex}.parquet"
        upload = hour.replace(tzinfo=None)
        table = pa.table(
            {
                "id": ids,
                "upload_hour": pa.array([upload] * len(ids), pa.timestamp("us")),
                "project_id": pa.array([7] * len(ids), pa.int64()),
                "event_time": pa.array(
                    [upload + timedelta(minutes=i) for i in range(len(ids))], pa.timestamp("us")
                ),
            }
        )
        pq.write_table(table, data)
    rejects_file = None
    if rejects:
        rejects_file = tmp_path / f"rejects-{uuid.uuid4().hex}.jsonl.gz"
        rejects_file.write_bytes(b"")
    manifest = HourManifest(
        "7", "things", hour_key(hour), len(ids), len(ids), 0, 0, 0, 0, {}, "", 1, "test"
    )
    return StagedHour(hour, manifest, data, rejects_file)


def _state(layout: TableLayout) -> TableState:
    return CommitLog(layout.lake).latest().table(layout.key)


def _later_copies(layout: TableLayout) -> set[tuple[str, datetime]]:
    state = _state(layout)
    if state.index is None:
        return set()
    path = layout.lake.join(state.index)
    rows = duckdb.execute(f"SELECT id, upload_hour FROM read_parquet('{path}')").fetchall()
    return {(i, h.replace(tzinfo=UTC)) for i, h in rows}


def test_a_batch_of_hours_is_one_commit_and_its_files_are_in_the_lake(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    publisher = Publisher(layout, tmp_path, UNIQUE)
    hours = [DAY, DAY + timedelta(hours=1), DAY + timedelta(hours=2)]
    before = CommitLog(layout.lake).latest().version

    staged = [
        _staged(tmp_path, hours[0], ["a", "b"]),
        _staged(tmp_path, hours[1], []),
        _staged(tmp_path, hours[2], ["c"], rejects=True),
    ]
    snapshot = publisher.publish(staged)

    assert snapshot is not None and snapshot.version == before + 1
    state = snapshot.table(layout.key)
    assert sorted(state.hours) == [hour_key(h) for h in hours]
    assert [state.hours[hour_key(h)].rows for h in hours] == [2, 0, 1]
    assert state.hours[hour_key(hours[1])].data is None  # an empty hour holds no file
    assert state.hours[hour_key(hours[2])].rejects is not None
    for entry in state.hours.values():
        assert all(layout.lake.exists(layout.lake.join(f)) for f in entry.files())
    assert ManifestStore(layout).loaded_hours() == set(hours)
    assert publisher.publish([]) is None  # nothing staged: no commit
    assert CommitLog(layout.lake).latest().version == snapshot.version


def test_the_earliest_hour_wins_whatever_order_the_hours_are_published_in(
    tmp_path: Path,
) -> None:
    early, late = DAY, DAY + timedelta(hours=5)
    copies = {}
    for name, order in (("forward", [early, late]), ("backward", [late, early])):
        layout = TableLayout(Lake(tmp_path / name), "demo", "7", "things")
        publisher = Publisher(layout, tmp_path, UNIQUE)
        ids = {early: ["a", "b"], late: ["b", "c"]}
        for hour in order:
            publisher.publish([_staged(tmp_path, hour, ids[hour])])
        copies[name] = _later_copies(layout)
        assert _state(layout).index_rows == 1
    assert copies["forward"] == copies["backward"] == {("b", late)}


def test_a_reload_that_drops_the_earliest_copy_brings_the_later_one_back(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    publisher = Publisher(layout, tmp_path, UNIQUE)
    early, late = DAY, DAY + timedelta(hours=5)
    publisher.publish([_staged(tmp_path, early, ["a", "b"]), _staged(tmp_path, late, ["b"])])
    assert _later_copies(layout) == {("b", late)}

    publisher.publish([_staged(tmp_path, early, ["a"])])  # the early hour, exported again

    assert _later_copies(layout) == set()
    assert _state(layout).index_rows == 0
    assert _state(layout).hours[hour_key(early)].rows == 1


def test_quarantine_keeps_a_failed_hours_rejects_until_the_hour_loads(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    publisher = Publisher(layout, tmp_path, UNIQUE)
    failed = _staged(tmp_path, DAY, [], rejects=True)

    assert publisher.quarantine([_staged(tmp_path, DAY, [])]) is None  # no rejects: nothing kept
    publisher.quarantine([failed])
    state = _state(layout)
    assert list(state.quarantine) == [hour_key(DAY)] and hour_key(DAY) not in state.hours
    assert layout.lake.exists(layout.lake.join(state.quarantine[hour_key(DAY)]))

    publisher.publish([_staged(tmp_path, DAY, ["a"])])

    state = _state(layout)
    assert state.quarantine == {} and state.hours[hour_key(DAY)].rows == 1


def test_days_are_due_for_compaction_once_whole_and_finished() -> None:
    entry = HourEntry("m.json")
    whole = {hour_key(DAY + timedelta(hours=i)): entry for i in range(24)}
    end = DAY + timedelta(days=1)
    assert days_due(TableState(hours=whole), end) == [date(2024, 5, 1)]
    assert days_due(TableState(hours=whole), end - timedelta(seconds=1)) == []
    partial = dict(list(whole.items())[:23])
    assert days_due(TableState(hours=partial), end + timedelta(days=9)) == []
    done = TableState(hours=whole, days={"2024-05-01": "day.parquet"})
    assert days_due(done, end) == []


def test_compaction_writes_a_day_once_and_a_reload_rebuilds_it_in_the_same_commit(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    publisher = Publisher(layout, tmp_path, UNIQUE, order="event_time")
    hours = [DAY + timedelta(hours=i) for i in range(24)]
    publisher.publish(
        [_staged(tmp_path, h, [f"id{h:%H}"] if h.hour % 6 == 0 else []) for h in hours]
    )
    end = DAY + timedelta(days=1)

    assert publisher.compact(end - timedelta(seconds=1)) == []
    assert publisher.compact(end) == [date(2024, 5, 1)]
    assert publisher.compact(end) == []  # once
    day_file = _state(layout).days["2024-05-01"]
    assert pq.read_table(layout.lake.join(day_file)).column("id").to_pylist() == [
        "id00",
        "id06",
        "id12",
        "id18",
    ]

    version = CommitLog(layout.lake).latest().version
    publisher.publish([_staged(tmp_path, DAY + timedelta(hours=6), ["new"])])

    state = _state(layout)
    assert CommitLog(layout.lake).latest().version == version + 1
    assert state.days["2024-05-01"] != day_file
    rebuilt = pq.read_table(layout.lake.join(state.days["2024-05-01"])).column("id").to_pylist()
    assert rebuilt == ["id00", "new", "id12", "id18"]


@pytest.mark.parametrize("ids", [["a", "a"], []])
def test_a_manifest_is_only_loaded_once_a_commit_lists_it(tmp_path: Path, ids: list[str]) -> None:
    layout = _layout(tmp_path)
    store = ManifestStore(layout)
    manifest = _staged(tmp_path, DAY, ids).manifest
    path = store.write(manifest)

    assert layout.lake.exists(layout.lake.join(path))
    assert store.loaded_hours() == set() and store.read(DAY) is None
