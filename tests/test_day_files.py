"""Compacted days: the same rows as the hour files, in one file and large row groups, once."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loader import day_files
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.day_files import DayFiles
from loader.emulator import EmulatorServer, SyntheticProject
from loader.errors import LoaderError
from loader.lake import Lake
from loader.snapshot.layout import TableLayout
from loader.snapshot.log import CommitLog
from loader.snapshot.state import TableState
from tests.conftest import LAST, NOW, START, Loaded, count
from tests.truth import raw_rows, truth

DAY = date(2024, 3, 1)
KEY = "amplitude/project=100001/events"


def _layout(tmp_path: Path) -> TableLayout:
    return TableLayout(Lake(tmp_path / "lake"), "source", "7", "things")


def _write_hour(layout: TableLayout, hour: datetime, table: pa.Table, row_group: int) -> str:
    """Write an hour's file as the publisher would, and return its path in the lake."""
    relative = layout.new_hour_file(hour)
    path = Path(layout.lake.join(relative))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group)
    return relative


def _hour_rows(hour: datetime, n: int) -> pa.Table:
    return pa.table(
        {
            "key": [f"{hour:%d%H}-{i}" for i in range(n)],
            "upload_hour": pa.array([hour.replace(tzinfo=None)] * n, pa.timestamp("us")),
            "value": list(range(n)),
        }
    )


def _read(path: str) -> list[tuple[object, ...]]:
    return duckdb.execute(
        f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)"
    ).fetchall()


def _events(settings: LoaderSettings) -> TableState:
    return CommitLog(Lake(settings.lake_root)).latest().table(KEY)


def _abs(settings: LoaderSettings, relative: str) -> Path:
    return Path(settings.lake_root) / relative


def test_a_day_file_holds_its_hours_rows_in_hour_order_in_few_row_groups(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    hours = [datetime(2024, 3, 1, h, tzinfo=UTC) for h in (0, 7, 12, 23)]
    files = [_write_hour(layout, h, _hour_rows(h, 95), row_group=10) for h in hours]

    path, rows = DayFiles(layout, tmp_path).build(DAY, files)

    copy = layout.lake.join(path)
    expected = [row for f in files for row in _read(layout.lake.join(f))]
    assert rows == len(expected) == 380
    assert _read(copy) == expected  # every row, hours in order, each hour as written
    assert pq.ParquetFile(copy).metadata.num_row_groups == 1  # not 40 of 10 rows
    assert "/things_by_day/upload_date=2024-03-01/part-" in path
    assert DayFiles(layout, tmp_path).build(DAY, files)[0] != path  # a new name every time
    assert not list(tmp_path.glob("day-*.parquet"))  # nothing left in scratch


def test_row_groups_are_cut_by_size_as_well_as_by_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _layout(tmp_path)
    hour = datetime(2024, 3, 1, 5, tzinfo=UTC)
    files = [_write_hour(layout, hour, _hour_rows(hour, 50_000), row_group=50_000)]
    monkeypatch.setattr(day_files, "ROW_GROUP_BYTES", 100_000)  # wide rows, in miniature

    path, _ = DayFiles(layout, tmp_path).build(DAY, files)

    metadata = pq.ParquetFile(layout.lake.join(path)).metadata
    assert metadata.num_rows == 50_000
    assert metadata.num_row_groups > 5
    assert max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) < 20_000


def test_hours_of_two_schema_versions_make_one_day_with_every_column(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    old, new = (datetime(2024, 3, 1, h, tzinfo=UTC) for h in (1, 2))
    files = [
        _write_hour(layout, old, _hour_rows(old, 3), row_group=10),
        _write_hour(
            layout,
            new,
            _hour_rows(new, 2).append_column("added", pa.array(["a", "b"])),
            row_group=10,
        ),
    ]

    path, _ = DayFiles(layout, tmp_path).build(DAY, files)

    copy = pq.read_table(layout.lake.join(path))
    assert copy.column_names == ["key", "upload_hour", "value", "added"]
    assert copy.column("added").to_pylist() == [None, None, None, "a", "b"]


def test_hours_with_conflicting_types_explain_which_day_and_what_to_do(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    one, two = (datetime(2024, 3, 1, h, tzinfo=UTC) for h in (1, 2))
    clash = _hour_rows(two, 2).set_column(2, "value", pa.array([True, False]))
    files = [
        _write_hour(layout, one, _hour_rows(one, 3), row_group=10),
        _write_hour(layout, two, clash, row_group=10),
    ]

    with pytest.raises(LoaderError) as raised:
        DayFiles(layout, tmp_path).build(DAY, files)

    text = str(raised.value)
    assert "project 7" in text and "2024-03-01" in text
    assert "backfill --start 20240301T00 --end 20240301T23 --reload" in text
    assert not list((tmp_path / "lake").rglob("things_by_day/*/*.parquet"))


def test_a_day_without_rows_has_no_file(tmp_path: Path) -> None:
    assert DayFiles(_layout(tmp_path), tmp_path).build(DAY, []) == ("", 0)


def test_finished_days_are_read_from_one_file_and_the_others_from_their_hours(
    loaded: Loaded,
) -> None:
    synthetic, settings = loaded.synthetic, loaded.settings
    state = _events(settings)
    # With the tests' clock, the lag (3 h) and the re-check window (24 h), only day 1 is over.
    assert list(state.days) == ["2024-03-01"]
    expected = [row for f in state.hour_files(DAY) for row in _read(str(_abs(settings, f)))]
    copy = _read(str(_abs(settings, state.days["2024-03-01"])))
    assert sorted(copy, key=str) == sorted(expected, key=str)
    on_time = [row for row in expected if row[1] is None or row[1].date() >= DAY]
    assert copy[: len(on_time)] == on_time  # late events last
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        definition = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'events_all'"
        ).fetchone()
    assert definition is not None
    assert "events_by_day/upload_date=2024-03-01/part-" in definition[0]
    assert "upload_date=2024-03-01/hour=" not in definition[0]
    assert "events/upload_date=2024-03-02/hour=00/part-" in definition[0]
    assert "=*" not in definition[0] and "*.parquet" not in definition[0]  # listed, not globbed
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )


def test_a_day_is_compacted_once_and_a_reload_of_one_of_its_hours_makes_a_new_file(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    compacted = _events(settings).days["2024-03-01"]
    later = NOW + timedelta(days=2)  # day 2 and 3 are over now, day 1 must not be rewritten
    sync_projects([project], settings, end=LAST, now=later)
    days = dict(_events(settings).days)
    assert days["2024-03-01"] == compacted and set(days) == {
        "2024-03-01",
        "2024-03-02",
        "2024-03-03",
    }
    written = _abs(settings, compacted).stat().st_mtime_ns

    sync_projects(
        [project],
        settings,
        start=START + timedelta(hours=5),
        end=START + timedelta(hours=6),
        reload=True,
        now=later,
    )

    after = _events(settings).days
    assert after["2024-03-01"] != compacted  # a new file, in the reload's own commit
    assert after["2024-03-02"] == days["2024-03-02"]  # a day no hour of was published
    assert _abs(settings, compacted).stat().st_mtime_ns == written  # never written over
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )


def test_hourly_loads_rewrite_no_day_until_it_is_finished(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    day = START + timedelta(days=1)
    for hour in range(24):  # the hourly schedule, each run an hour after the one before
        now = day + timedelta(hours=hour + 3, minutes=15)
        sync_projects([project], settings, start=day, now=now)
        assert _events(settings).days == {}
    finished = day + timedelta(days=1, hours=27, minutes=15)
    sync_projects([project], settings, start=day, end=day + timedelta(hours=23), now=finished)
    state = _events(settings)
    assert list(state.days) == ["2024-03-02"]
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, day, day + timedelta(hours=23)
    )


def _times(values: list[int | None]) -> pa.Array:
    base = datetime(2024, 3, 1)
    return pa.array(
        [None if v is None else base + timedelta(seconds=v) for v in values], pa.timestamp("us")
    )


@pytest.mark.parametrize("seed", range(12))
def test_late_rows_go_last_in_row_groups_of_their_own(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _layout(tmp_path)
    monkeypatch.setattr(day_files, "ROW_GROUP_ROWS", 40)  # many row groups from few rows
    monkeypatch.setattr(day_files, "_READ_ROWS", 8)
    rng = random.Random(seed)
    written = []
    files = []
    for h in range(rng.randint(1, 6)):
        hour = datetime(2024, 3, 1, h, tzinfo=UTC)
        n = rng.choice([0, 1, 7, 30, 200])
        # mostly inside the hour, some late from days before, some without a time
        values = sorted(
            rng.choice([h * 3600 + rng.randint(0, 3599), rng.randint(-5 * 86400, -1)])
            for _ in range(n)
        ) + [None] * rng.choice([0, 0, 3])
        table = pa.table(
            {"key": [f"{h}-{i}" for i in range(len(values))], "event_time": _times(values)}
        )
        if table.num_rows:
            files.append(_write_hour(layout, hour, table, row_group=10))
            written.append(table)
    if not written:
        return

    path, _ = DayFiles(layout, tmp_path, order="event_time").build(DAY, files)

    copy = pq.ParquetFile(layout.lake.join(path))
    start = datetime(2024, 3, 1)
    kinds = []  # per row group: does it hold late rows, on-time rows, or both
    for i in range(copy.metadata.num_row_groups):
        times = copy.read_row_group(i).column("event_time").to_pylist()
        kinds.append({t is not None and t < start for t in times})
    assert all(len(k) == 1 for k in kinds)  # never mixed
    assert kinds == sorted(kinds, key=lambda k: True in k)  # late ones last
    everything = pa.concat_tables(written)
    on_time = [
        k
        for k, t in zip(
            everything.column("key").to_pylist(),
            everything.column("event_time").to_pylist(),
            strict=True,
        )
        if t is None or t >= start
    ]
    keys = copy.read().column("key").to_pylist()
    assert keys[: len(on_time)] == on_time  # in the hours' order
    assert sorted(keys) == sorted(everything.column("key").to_pylist())


def test_empty_hours_that_had_no_rows_rewrite_no_day(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    hours = [START + timedelta(hours=i) for i in range(24)]
    quiet, busy = next(  # an empty hour, then one with events, on the compacted day
        (h, n)
        for h, n in itertools.pairwise(hours)
        if not synthetic.events(h) and synthetic.events(n)
    )
    compacted = _events(settings).days["2024-03-01"]

    sync_projects([project], settings, start=quiet, end=quiet, reload=True, now=NOW)
    assert _events(settings).days["2024-03-01"] == compacted

    sync_projects([project], settings, start=busy, end=busy, reload=True, now=NOW)
    assert _events(settings).days["2024-03-01"] != compacted  # while an hour with rows does


def test_unique_columns_have_no_dictionary_in_hour_and_day_files(loaded: Loaded) -> None:
    """Ids and times are written plain, repeated values with a dictionary; the day keeps it."""
    settings = loaded.settings
    state = _events(settings)
    for relative in [state.hour_files(DAY)[0], state.days["2024-03-01"]]:
        group = pq.ParquetFile(_abs(settings, relative)).metadata.row_group(0)
        encodings = {
            group.column(i).path_in_schema: group.column(i).encodings
            for i in range(group.num_columns)
        }
        with_dictionary = {c for c, e in encodings.items() if any("DICTIONARY" in x for x in e)}
        assert {"uuid", "insert_id", "event_time"}.isdisjoint(with_dictionary), relative
        assert {"event_type", "user_properties", "country"} <= with_dictionary, relative
