"""Read copies by day: the same rows as the hour files, in one file and large row groups."""

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
from loader.day_files import DayFiles, days_of
from loader.emulator import EmulatorServer, SyntheticProject
from loader.errors import LoaderError
from loader.lake import Lake, TableLayout
from tests.conftest import LAST, NOW, START, count
from tests.truth import raw_rows, truth

DAY = date(2024, 3, 1)


def _layout(tmp_path: Path) -> TableLayout:
    return TableLayout(Lake(tmp_path / "lake"), "source", "7", "things")


def _write_hour(layout: TableLayout, hour: datetime, table: pa.Table, row_group: int) -> None:
    path = Path(layout.data_file(hour))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group)


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


def test_a_day_copy_holds_its_hours_rows_in_hour_order_in_few_row_groups(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    hours = [datetime(2024, 3, 1, h, tzinfo=UTC) for h in (7, 0, 23, 12)]
    for hour in hours:  # written out of order, each in row groups of 10 rows
        _write_hour(layout, hour, _hour_rows(hour, 95), row_group=10)
    _write_hour(layout, hours[0] + timedelta(days=1), _hour_rows(hours[0], 5), row_group=10)

    assert DayFiles(layout, tmp_path).missing() == [DAY, DAY + timedelta(days=1)]
    rows = DayFiles(layout, tmp_path).rebuild(days_of(hours))

    copy = layout.day_file(DAY)
    expected = [row for h in sorted(hours) for row in _read(layout.data_file(h))]
    assert rows == len(expected) == 380
    assert _read(copy) == expected  # every row, hours in order, each hour as written
    assert pq.ParquetFile(copy).metadata.num_row_groups == 1  # not 40 of 10 rows
    assert DayFiles(layout, tmp_path).missing() == [DAY + timedelta(days=1)]
    assert not list(tmp_path.glob("day-*.parquet"))  # nothing left in scratch


def test_row_groups_are_cut_by_size_as_well_as_by_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _layout(tmp_path)
    hour = datetime(2024, 3, 1, 5, tzinfo=UTC)
    _write_hour(layout, hour, _hour_rows(hour, 50_000), row_group=50_000)
    monkeypatch.setattr(day_files, "ROW_GROUP_BYTES", 100_000)  # wide rows, in miniature

    DayFiles(layout, tmp_path).rebuild([DAY])

    metadata = pq.ParquetFile(layout.day_file(DAY)).metadata
    assert metadata.num_rows == 50_000
    assert metadata.num_row_groups > 5
    assert max(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)) < 20_000


def test_hours_of_two_schema_versions_make_one_day_with_every_column(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    old, new = (datetime(2024, 3, 1, h, tzinfo=UTC) for h in (1, 2))
    _write_hour(layout, old, _hour_rows(old, 3), row_group=10)
    _write_hour(
        layout, new, _hour_rows(new, 2).append_column("added", pa.array(["a", "b"])), row_group=10
    )

    DayFiles(layout, tmp_path).rebuild([DAY])

    copy = pq.read_table(layout.day_file(DAY))
    assert copy.column_names == ["key", "upload_hour", "value", "added"]
    assert copy.column("added").to_pylist() == [None, None, None, "a", "b"]


def test_hours_with_conflicting_types_explain_which_day_and_what_to_do(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    one, two = (datetime(2024, 3, 1, h, tzinfo=UTC) for h in (1, 2))
    _write_hour(layout, one, _hour_rows(one, 3), row_group=10)
    clash = _hour_rows(two, 2).set_column(2, "value", pa.array([True, False]))
    _write_hour(layout, two, clash, row_group=10)

    with pytest.raises(LoaderError) as raised:
        DayFiles(layout, tmp_path).rebuild([DAY])

    text = str(raised.value)
    assert "project 7" in text and "2024-03-01" in text
    assert "backfill --start 20240301T00 --end 20240301T23 --reload" in text
    assert not Path(layout.day_file(DAY)).exists()


def test_a_day_whose_hours_are_all_gone_loses_its_copy(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    hour = datetime(2024, 3, 1, 9, tzinfo=UTC)
    _write_hour(layout, hour, _hour_rows(hour, 3), row_group=10)
    DayFiles(layout, tmp_path).rebuild([DAY])
    assert Path(layout.day_file(DAY)).exists()

    Path(layout.data_file(hour)).unlink()  # the hour was reloaded and is empty now
    DayFiles(layout, tmp_path).rebuild([DAY])

    assert not Path(layout.day_file(DAY)).exists()
    assert DayFiles(layout, tmp_path).missing() == []


def _day_copy(settings: LoaderSettings, day: date) -> Path:
    return (
        Path(settings.lake_root)
        / "amplitude/project=100001/events_by_day"
        / f"upload_date={day:%Y-%m-%d}/data.parquet"
    )


def test_the_catalog_reads_day_copies_that_match_the_hour_files(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)

    events = Path(settings.lake_root) / "amplitude/project=100001/events"
    for day in (DAY + timedelta(days=d) for d in range(3)):
        hours = sorted(events.glob(f"upload_date={day:%Y-%m-%d}/hour=*/data.parquet"))
        expected = [row for h in hours for row in _read(str(h))]
        copy = _read(str(_day_copy(settings, day)))
        assert sorted(copy, key=str) == sorted(expected, key=str)
        on_time = [row for row in expected if row[1] is None or row[1].date() >= day]
        assert copy[: len(on_time)] == on_time  # late events last
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        definition = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'events_all'"
        ).fetchone()
    assert definition is not None and "/events_by_day/upload_date=*/data.parquet" in definition[0]
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )


def test_a_reload_rebuilds_the_copies_of_the_days_it_touches(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    stale = _day_copy(settings, DAY + timedelta(days=1))
    kept = _day_copy(settings, DAY + timedelta(days=2))
    pq.write_table(pq.read_table(stale).slice(0, 5), stale)  # a copy that lags its hours
    kept_written = kept.stat().st_mtime_ns

    sync_projects(
        [project],
        settings,
        start=START + timedelta(hours=30),
        end=START + timedelta(hours=40),
        reload=True,
        now=NOW,
    )

    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )
    assert kept.stat().st_mtime_ns == kept_written  # a day no hour of was published


def test_a_lake_without_day_copies_gets_them_on_the_next_run(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    requests = len(emulator.export_requests())
    for copy in Path(settings.lake_root).rglob("events_by_day/*/data.parquet"):
        copy.unlink()  # as a lake written before the copies existed

    reports = sync_projects([project], settings, now=NOW)

    assert len(emulator.export_requests()) == requests and reports[0].rows == 0
    assert all(_day_copy(settings, DAY + timedelta(days=d)).exists() for d in range(3))
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
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
            _write_hour(layout, hour, table, row_group=10)
            written.append(table)
    if not written:
        return

    DayFiles(layout, tmp_path, order="event_time").rebuild([DAY])

    copy = pq.ParquetFile(layout.day_file(DAY))
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
    hours = [START + timedelta(hours=i) for i in range(72)]
    quiet, busy = next(  # an empty hour, then one with events, on the same day
        (h, n)
        for h, n in itertools.pairwise(hours)
        if not synthetic.events(h) and synthetic.events(n) and h.date() == n.date()
    )
    copy = _day_copy(settings, quiet.date())
    written = copy.stat().st_mtime_ns

    sync_projects([project], settings, start=quiet, end=quiet, reload=True, now=NOW)
    assert copy.stat().st_mtime_ns == written

    sync_projects([project], settings, start=busy, end=busy, reload=True, now=NOW)
    assert copy.stat().st_mtime_ns != written  # while an hour with rows does
