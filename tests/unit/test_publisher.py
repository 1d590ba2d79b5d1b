"""The publisher alone: Delta commits of staged hours, later-copy flags, quarantine, compaction.

A generic table (key `id`, ordered by `upload_hour`, flagged in `later_copy`) in a lake on local
disk: no source, no HTTP, no catalog. What the table holds is read back with Polars, as another
engine would read it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from loader.delta.tables import DeltaTables, TableSpec
from loader.hours import hour_key
from loader.lake import Lake
from loader.later_copies import UniqueKey
from loader.manifest import HourManifest, ManifestStore
from loader.publish import DAY as PARTITION
from loader.publish import Publisher, StagedHour, days_due
from loader.rejected_lines import REJECTS_SPEC
from loader.snapshot.layout import TableLayout

DAY = datetime(2024, 5, 1, tzinfo=UTC)
UNIQUE = UniqueKey("id", "upload_hour", "later_copy")
_UTC = pa.timestamp("us", tz="UTC")
SPEC = TableSpec(
    pa.schema(
        [
            ("id", pa.string()),
            ("upload_hour", _UTC),
            ("event_time", _UTC),
            ("later_copy", pa.bool_()),
            (PARTITION, pa.date32()),
        ]
    ),
    partition_by=(PARTITION,),
    stats=("upload_hour", "event_time", "later_copy"),
)
RETAIN = timedelta(days=1)


def _layout(tmp_path: Path, name: str = "lake") -> TableLayout:
    return TableLayout(Lake(tmp_path / name), "demo", "7", "things")


def _publisher(layout: TableLayout, tmp_path: Path) -> Publisher:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return Publisher(layout, SPEC, scratch, UNIQUE, log_retention=RETAIN)


def _staged(tmp_path: Path, hour: datetime, ids: list[str], *, rejects: bool = False) -> StagedHour:
    """An hour as staging leaves it: a sorted Parquet file, maybe rejects, and a manifest."""
    data = None
    if ids:
        data = tmp_path / f"hour-{uuid.uuid4().hex}.parquet"
        table = pa.table(
            {
                "id": ids,
                "upload_hour": pa.array([hour] * len(ids), _UTC),
                "event_time": pa.array(
                    [hour + timedelta(minutes=i) for i in range(len(ids))], _UTC
                ),
                "later_copy": [False] * len(ids),
            }
        )
        pq.write_table(table, data)
    rejects_file = None
    if rejects:
        rejects_file = tmp_path / f"rejects-{uuid.uuid4().hex}.parquet"
        row = {"project_id": 7, "upload_hour": hour, "member": "m", "line_no": 1}
        row |= {"reason": "bad", "line": "{", "loaded": True}
        pq.write_table(pa.Table.from_pylist([row], REJECTS_SPEC.schema), rejects_file)
    manifest = HourManifest(
        "7", "things", hour_key(hour), len(ids), len(ids), int(rejects), 0, 0, 0, {}, "", 1, "t"
    )
    return StagedHour(hour, manifest, data, rejects_file)


def _rows(layout: TableLayout, version: int | None = None) -> pl.DataFrame:
    """The table's rows, read by Polars (an engine that knows nothing of this loader)."""
    uri = DeltaTables(layout.lake).uri(layout.key)
    return pl.read_delta(uri, version=version).sort("upload_hour", "id")


def _later_copies(layout: TableLayout) -> set[tuple[str, datetime]]:
    rows = _rows(layout).filter(pl.col("later_copy"))
    return {(i, h) for i, h in zip(rows["id"], rows["upload_hour"], strict=True)}


def _version(layout: TableLayout) -> int:
    table = DeltaTables(layout.lake).open(layout.key)
    return -1 if table is None else table.version()


def test_a_batch_of_hours_is_one_commit_then_its_rejects_and_its_load_records(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    publisher = _publisher(layout, tmp_path)
    hours = [DAY, DAY + timedelta(hours=1), DAY + timedelta(hours=2)]

    staged = [
        _staged(tmp_path, hours[0], ["a", "b"]),
        _staged(tmp_path, hours[1], []),
        _staged(tmp_path, hours[2], ["c"], rejects=True),
    ]
    published = publisher.publish(staged)

    assert published is not None and published.version == 1 == _version(layout)  # 0: created
    assert _rows(layout)["id"].to_list() == ["a", "b", "c"]
    assert ManifestStore(layout).loaded_hours() == set(hours)
    assert [m.rows for m in ManifestStore(layout).manifests().values()] == [2, 0, 1]
    rejects = pl.read_delta(DeltaTables(layout.lake).uri(layout.sibling("things_rejects").key))
    assert rejects["line"].to_list() == ["{"] and rejects["loaded"].to_list() == [True]
    assert publisher.publish([]) is None  # nothing staged: no commit
    assert _version(layout) == 1


def test_the_earliest_hour_wins_whatever_order_the_hours_are_published_in(
    tmp_path: Path,
) -> None:
    early, late = DAY, DAY + timedelta(hours=5)
    copies = {}
    for name, order in (("forward", [early, late]), ("backward", [late, early])):
        layout = _layout(tmp_path, name)
        publisher = _publisher(layout, tmp_path)
        ids = {early: ["a", "b"], late: ["b", "c"]}
        for hour in order:
            publisher.publish([_staged(tmp_path, hour, ids[hour])])
        copies[name] = _later_copies(layout)
        assert publisher.later_copies() == 1
        # A plain filter on the table alone gives each key once.
        assert sorted(_rows(layout).filter(~pl.col("later_copy"))["id"]) == ["a", "b", "c"]
    assert copies["forward"] == copies["backward"] == {("b", late)}


def test_a_reload_that_drops_the_earliest_copy_brings_the_later_one_back_in_one_commit(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    publisher = _publisher(layout, tmp_path)
    early, late = DAY, DAY + timedelta(hours=5)
    publisher.publish([_staged(tmp_path, early, ["a", "b"]), _staged(tmp_path, late, ["b"])])
    assert _later_copies(layout) == {("b", late)}
    before = _version(layout)

    publisher.publish([_staged(tmp_path, early, ["a"])])  # the early hour, exported again

    assert _version(layout) == before + 1  # the late hour's flag changed in the same commit
    assert _later_copies(layout) == set()
    assert sorted(_rows(layout)["id"]) == ["a", "b"]


def test_quarantine_keeps_a_failed_hours_rejects_until_the_hour_loads(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    publisher = _publisher(layout, tmp_path)
    rejects = DeltaTables(layout.lake).uri(layout.sibling("things_rejects").key)

    assert publisher.quarantine([_staged(tmp_path, DAY, [])]) is None  # no rejects: nothing kept
    publisher.quarantine([_staged(tmp_path, DAY, [], rejects=True)])
    assert pl.read_delta(rejects)["loaded"].to_list() == [False]
    assert ManifestStore(layout).loaded_hours() == set()

    publisher.publish([_staged(tmp_path, DAY, ["a"])])

    assert pl.read_delta(rejects).height == 0  # the hour loaded without rejects: released
    assert ManifestStore(layout).loaded_hours() == {DAY}


def test_days_are_due_for_compaction_once_whole_and_finished() -> None:
    whole = {DAY + timedelta(hours=i) for i in range(24)}
    end = DAY + timedelta(days=1)
    assert days_due(whole, end) == [date(2024, 5, 1)]
    assert days_due(whole, end - timedelta(seconds=1)) == []
    partial = set(sorted(whole)[:23])
    assert days_due(partial, end + timedelta(days=9)) == []


def test_compaction_writes_a_day_once_and_a_reload_rewrites_it_in_the_same_commit(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    publisher = _publisher(layout, tmp_path)
    hours = [DAY + timedelta(hours=i) for i in range(24)]
    publisher.publish(
        [_staged(tmp_path, h, [f"id{h:%H}"] if h.hour % 6 == 0 else []) for h in hours]
    )
    end = DAY + timedelta(days=1)
    tables = DeltaTables(layout.lake)

    def files() -> list[str]:
        table = tables.open(layout.key)
        assert table is not None
        return table.file_uris()

    assert len(files()) == 4
    assert publisher.compact(end - timedelta(seconds=1)) == []
    assert publisher.compact(end) == [date(2024, 5, 1)]
    assert publisher.compact(end) == []  # once
    (day_file,) = files()
    assert pq.read_table(day_file).column("id").to_pylist() == ["id00", "id06", "id12", "id18"]

    version = _version(layout)
    publisher.publish([_staged(tmp_path, DAY + timedelta(hours=6), ["new"])])

    assert _version(layout) == version + 1
    assert day_file not in files()
    assert sorted(_rows(layout)["id"]) == ["id00", "id12", "id18", "new"]


def test_a_day_written_as_one_file_is_published_once_without_its_failed_hours(
    tmp_path: Path,
) -> None:
    """A backfill writes a finished day as one file that all its hours share (`day_writer`)."""
    layout = _layout(tmp_path)
    publisher = _publisher(layout, tmp_path)
    hours = [DAY, DAY + timedelta(hours=1), DAY + timedelta(hours=2)]
    day_file = tmp_path / "day.parquet"
    parts = [pq.read_table(_staged(tmp_path, h, [f"{h:%H}a", f"{h:%H}b"]).data_file) for h in hours]
    pq.write_table(pa.concat_tables(parts), day_file)
    staged = [_staged(tmp_path, h, ["x"]) for h in hours]
    for item in staged:
        item.data_file = day_file
    # The middle hour failed (too many rejects): it is not published, nor are its rows.
    publisher.publish([staged[0], staged[2]])
    assert sorted(_rows(layout)["id"]) == ["00a", "00b", "02a", "02b"]
    table = DeltaTables(layout.lake).open(layout.key)
    assert table is not None and len(table.file_uris()) == 1  # one file, put once
    assert ManifestStore(layout).loaded_hours() == {hours[0], hours[2]}
