"""Finished days compacted by Delta's `optimize`, once; a reload rewrites only what it must."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START, Loaded, count
from tests.lake_tables import delta_table
from tests.truth import raw_rows, truth


def _days(settings: LoaderSettings) -> dict[str, list[str]]:
    """Upload day to the events table's files of that day, at its newest version."""
    days: dict[str, list[str]] = {}
    for uri in delta_table(settings.lake_root).file_uris():
        day = uri.split("upload_date=", 1)[1].split("/", 1)[0]
        days.setdefault(day, []).append(uri)
    return days


def test_finished_days_are_one_file_and_the_catalog_lists_files(loaded: Loaded) -> None:
    synthetic, settings = loaded.synthetic, loaded.settings
    days = _days(settings)
    # With the tests' clock, the lag (3 h) and the re-check window (24 h), only day 1 is over.
    assert len(days["2024-03-01"]) == 1
    assert len(days["2024-03-02"]) > 1
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        definition = con.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = 'events_all'"
        ).fetchone()
    assert definition is not None
    assert days["2024-03-01"][0] in definition[0]
    assert "=*" not in definition[0] and "*.parquet" not in definition[0]  # listed, not globbed
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )


def test_a_day_is_compacted_once_and_a_reload_of_one_of_its_hours_rewrites_it(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    (compacted,) = _days(settings)["2024-03-01"]
    later = NOW + timedelta(days=2)  # day 2 and 3 are over now, day 1 must not be rewritten
    sync_projects([project], settings, end=LAST, now=later)
    days = _days(settings)
    assert days["2024-03-01"] == [compacted]
    assert all(len(files) == 1 for files in days.values()), days
    written = Path(compacted).stat().st_mtime_ns

    sync_projects(
        [project],
        settings,
        start=START + timedelta(hours=5),
        end=START + timedelta(hours=6),
        reload=True,
        now=later,
    )

    after = _days(settings)
    assert compacted not in after["2024-03-01"]  # rewritten, in the reload's own commit
    assert after["2024-03-02"] == days["2024-03-02"]  # a day no hour of was published
    assert Path(compacted).stat().st_mtime_ns == written  # never written over
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )


def test_hourly_loads_compact_no_day_until_it_is_finished(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    day = START + timedelta(days=1)
    for hour in range(0, 24, 4):  # the hourly schedule, a run every few hours
        now = day + timedelta(hours=hour + 3, minutes=15)
        sync_projects([project], settings, start=day, now=now)
        assert all(len(files) > 1 or hour == 0 for files in _days(settings).values())
    finished = day + timedelta(days=1, hours=27, minutes=15)
    sync_projects([project], settings, start=day, end=day + timedelta(hours=23), now=finished)
    assert [len(f) for f in _days(settings).values()] == [1]
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, day, day + timedelta(hours=23)
    )


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
    compacted = _days(settings)["2024-03-01"]

    sync_projects([project], settings, start=quiet, end=quiet, reload=True, now=NOW)
    assert _days(settings)["2024-03-01"] == compacted

    sync_projects([project], settings, start=busy, end=busy, reload=True, now=NOW)
    assert _days(settings)["2024-03-01"] != compacted  # while an hour with rows does


def test_unique_columns_have_no_dictionary_in_hour_and_day_files(loaded: Loaded) -> None:
    """Ids and times are written plain, repeated values with a dictionary; the day keeps it."""
    days = _days(loaded.settings)
    for path in [days["2024-03-02"][0], days["2024-03-01"][0]]:
        group = pq.ParquetFile(path).metadata.row_group(0)
        encodings = {
            group.column(i).path_in_schema: group.column(i).encodings
            for i in range(group.num_columns)
        }
        with_dictionary = {c for c, e in encodings.items() if any("DICTIONARY" in x for x in e)}
        assert {"uuid", "insert_id", "event_time"}.isdisjoint(with_dictionary), path
        assert {"event_type", "user_properties", "country"} <= with_dictionary, path


def test_a_backfill_of_finished_days_writes_each_row_once(loaded: Loaded) -> None:
    """A window holding every hour of a finished day writes the day as one file, once."""
    events = delta_table(loaded.settings.lake_root)
    operations = [entry["operation"] for entry in events.history()]
    assert "OPTIMIZE" not in operations, operations  # day 1 was never written as hours
    added = pa.table(events.get_add_actions(flatten=True))
    assert len(_days(loaded.settings)["2024-03-01"]) == 1
    # Every file the log ever added to day 1: its one file (a vacuum-free lake keeps them all).
    day_one = (
        Path(loaded.settings.lake_root) / "amplitude/project_100001/events/upload_date=2024-03-01"
    )
    assert len(list(day_one.glob("*.parquet"))) == 1
    assert added.num_rows >= 2
