"""A sync against the emulator lands exactly the ground truth, once, whatever the order."""

from __future__ import annotations

import collections
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import EventsLoader
from loader.amplitude.runner import (
    project_status,
    recheck_projects,
    refresh_catalog,
    sync_projects,
)
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from loader.hours import hours_between
from loader.manifest import ManifestStore
from tests.conftest import LAST, NOW, START, Loaded, catalog_rows, config_for, count
from tests.lake_tables import delta_table, layout
from tests.truth import comparable, raw_rows, truth


def test_multi_day_sync_equals_ground_truth_field_by_field(loaded: Loaded) -> None:
    synthetic, settings, reports = loaded.synthetic, loaded.settings, loaded.reports
    expected = truth(synthetic, START, LAST)
    rows = {row["uuid"]: comparable(row) for row in catalog_rows(settings)}
    assert len(rows) == len(expected) > 2000
    assert rows.keys() == expected.keys()
    for uuid, want in expected.items():
        assert rows[uuid] == want, uuid
    # the adversarial content really is there
    assert any(r["session_id"] == -1 for r in rows.values())
    assert any(r["user_id"] == "" for r in rows.values())
    assert any("🎉" in str(r["event_properties"]) for r in rows.values())
    assert any(r["extra_fields"] for r in rows.values())
    assert reports[0].rows == raw_rows(synthetic, START, LAST)


def test_events_all_keeps_every_raw_row_and_events_keeps_the_earliest_copy(
    loaded: Loaded,
) -> None:
    synthetic, settings = loaded.synthetic, loaded.settings
    raw = raw_rows(synthetic, START, LAST)
    distinct = len(truth(synthetic, START, LAST))
    assert raw > distinct, "the synthetic data must hold uuids exported in two upload hours"
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw
    assert count(settings, "SELECT count(*) FROM amplitude.events") == distinct
    assert count(settings, "SELECT count(*) - count(DISTINCT uuid) FROM amplitude.events") == 0
    # a repeated $insert_id with distinct uuids is two events Amplitude kept
    assert (
        count(
            settings,
            "SELECT count(*) FROM (SELECT insert_id FROM amplitude.events GROUP BY ALL"
            " HAVING count(DISTINCT uuid) > 1)",
        )
        > 0
    )


def test_load_order_does_not_change_which_copy_wins(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    middle = START + timedelta(days=1, hours=12)
    # the later half first, then the earlier half
    sync_projects([project], settings, start=middle, now=NOW)
    sync_projects([project], settings, end=middle - timedelta(hours=1), now=NOW)

    expected = truth(synthetic, START, LAST)
    rows = {row["uuid"]: row for row in catalog_rows(settings)}
    assert rows.keys() == expected.keys()
    for uuid, want in expected.items():
        assert rows[uuid]["upload_hour"] == want["upload_hour"], uuid


def test_second_sync_downloads_nothing_and_changes_nothing(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    sync_projects([project], settings, now=NOW)
    requests = len(emulator.export_requests())
    lake = Path(settings.lake_root)
    before = {p: p.stat().st_mtime_ns for p in lake.rglob("*") if p.is_file()}
    catalog_before = Path(settings.catalog_path).stat().st_mtime_ns

    reports = sync_projects([project], settings, now=NOW)

    assert len(emulator.export_requests()) == requests
    assert reports[0].rows == 0 and reports[0].requests == 0
    after = {
        p: p.stat().st_mtime_ns
        for p in lake.rglob("*")
        if p.is_file()
        if "last_run.json" not in p.name and "lock" not in p.name
    }
    assert after == {p: t for p, t in before.items() if p in after}
    assert set(after) == {
        p for p in before if "last_run.json" not in p.name and "lock" not in p.name
    }
    assert Path(settings.catalog_path).stat().st_mtime_ns == catalog_before


def test_windows_follow_whole_days_and_the_lag(loaded: Loaded) -> None:
    windows = [(r["start"], r["end"]) for r in loaded.export_requests]
    assert windows == [
        ("20240301T00", "20240301T23"),
        ("20240302T00", "20240302T23"),
        ("20240303T00", "20240303T23"),
    ]
    # nothing newer than the newest ready hour was asked for
    assert max(end for _, end in windows) == f"{LAST:%Y%m%dT%H}"


def test_reload_replaces_hours_without_duplicating(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([project], settings, now=NOW)
    first = START + timedelta(hours=5)
    last = START + timedelta(hours=30)
    sync_projects([project], settings, start=first, end=last, reload=True, now=NOW)

    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, START, LAST)
    )
    assert count(settings, "SELECT count(*) FROM amplitude.events_all") == raw_rows(
        synthetic, START, LAST
    )
    assert emulator.export_requests()[-1]["start"] == f"{first:%Y%m%dT%H}"


def test_empty_hours_are_recorded_with_zero_rows(loaded: Loaded) -> None:
    synthetic, settings = loaded.synthetic, loaded.settings
    empty_hours = [
        START + timedelta(hours=i)
        for i in range(72)
        if not synthetic.events(START + timedelta(hours=i))
    ]
    assert empty_hours, "the synthetic project must have empty hours"
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        logged = dict(con.execute("SELECT upload_hour, rows FROM amplitude.load_log").fetchall())
    assert len(logged) == 72
    for hour in empty_hours:
        assert logged[hour.replace(tzinfo=None)] == 0


def test_rows_are_sorted_by_event_time_within_each_hour_file(loaded: Loaded) -> None:
    actions = pa.table(delta_table(loaded.settings.lake_root).get_add_actions(flatten=True))
    hour_files = [
        row["path"]
        for row in actions.to_pylist()
        if row["min.upload_hour"] == row["max.upload_hour"]
    ]
    assert len(hour_files) > 30
    events = Path(loaded.settings.lake_root) / "amplitude/project_100001/events"
    for file in [events / p for p in hour_files[:10]]:
        times = [
            r[0]
            for r in duckdb.execute(
                f"SELECT event_time FROM read_parquet('{file}', hive_partitioning = false)"
            ).fetchall()
        ]
        assert times == sorted(times, key=lambda t: (t is None, t))


def test_several_projects_land_side_by_side(tmp_path: Path, settings: LoaderSettings) -> None:
    web = SyntheticProject(
        project_id=111, api_key="web-key-1", secret_key="web-secret-1", events_per_hour=20, seed=1
    )
    app = SyntheticProject(
        project_id=222, api_key="app-key-2", secret_key="app-secret-2", events_per_hour=20, seed=2
    )

    with EmulatorServer([web, app], now=NOW, gzip_level=1) as server:
        projects = [config_for(p, server) for p in (web, app)]
        sync_projects(projects, settings, start=LAST - timedelta(hours=23), now=NOW)

    by_project = collections.Counter(r["project_id"] for r in catalog_rows(settings))
    first = LAST - timedelta(hours=23)
    assert by_project == {111: len(truth(web, first, LAST)), 222: len(truth(app, first, LAST))}


def test_not_ready_hours_are_never_requested_or_recorded(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    loader = EventsLoader(project, settings, now=NOW)
    loader.sync()
    loaded = loader.manifests.loaded_hours()
    assert max(loaded) == LAST
    assert all(h <= datetime(2024, 3, 3, 23, tzinfo=UTC) for h in loaded)


def test_a_lake_and_catalog_under_a_path_with_a_quote_work(
    emulator: EmulatorServer, synthetic: SyntheticProject, project: ProjectConfig, tmp_path: Path
) -> None:
    from tests.conftest import FAST_RETRY

    folder = tmp_path / "o'brien's data"
    settings = LoaderSettings(
        lake_root=str(folder / "lake"),
        catalog_path=str(folder / "catalog.duckdb"),
        start=LAST - timedelta(hours=5),
        retry=FAST_RETRY,
    )
    sync_projects([project], settings, now=NOW)
    sync_projects([project], settings, now=NOW, reload=True, start=LAST, end=LAST)
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, LAST - timedelta(hours=5), LAST)
    )
    # status, snapshots and the catalog after them quote every path too
    assert project_status(project, settings, now=NOW).rows == raw_rows(
        synthetic, LAST - timedelta(hours=5), LAST
    )
    snapshot_project(project, settings, ("events-list", "taxonomy"), now=NOW)
    refresh_catalog(settings)
    assert count(settings, "SELECT count(*) FROM amplitude.event_types_current") > 0


def test_a_file_url_lake_works_like_a_folder(
    emulator: EmulatorServer, synthetic: SyntheticProject, project: ProjectConfig, tmp_path: Path
) -> None:
    from tests.conftest import FAST_RETRY

    settings = LoaderSettings(
        lake_root=(tmp_path / "lake").as_uri(),
        catalog_path=str(tmp_path / "catalog.duckdb"),
        start=LAST - timedelta(hours=5),
        retry=FAST_RETRY,
    )
    sync_projects([project], settings, now=NOW)
    assert (tmp_path / "lake" / "amplitude" / "project_100001" / "load_log" / "_delta_log").is_dir()
    assert count(settings, "SELECT count(*) FROM amplitude.events") == len(
        truth(synthetic, LAST - timedelta(hours=5), LAST)
    )
    assert settings.lake_root.startswith("file://")


def test_a_recheck_replaces_only_the_hours_whose_content_changed(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    settings: LoaderSettings,
    project: ProjectConfig,
) -> None:
    from dataclasses import replace

    first = LAST - timedelta(hours=23)
    sync_projects([project], settings, start=first, now=NOW)
    late = (LAST - timedelta(hours=3), LAST - timedelta(hours=10))
    grown = replace(synthetic, late_arrivals=late)
    emulator.projects[grown.api_key] = grown

    reports = sync_projects([project], settings, start=first, recheck=True, now=NOW)

    assert reports[0].unchanged == 22
    assert sorted(reports[0].published) == sorted(late)
    assert (
        count(settings, "SELECT count(*) FROM amplitude.events")
        == len(truth(grown, first, LAST))
        == len(truth(synthetic, first, LAST)) + 10
    )


def test_a_plain_filter_on_the_events_table_alone_gives_each_uuid_once(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    """Any engine: one version of one table, `WHERE NOT later_copy`, and nothing else."""
    first_again = min(
        h
        for h in hours_between(START, LAST)
        if any(source >= START for source, _ in synthetic.reexports(h))
    )
    sync_projects([project], settings, end=first_again - timedelta(hours=1), now=NOW)
    plain = "SELECT count(*) FROM amplitude.events"
    assert count(settings, plain) == count(settings, "SELECT count(*) FROM amplitude.events_all")

    sync_projects([project], settings, now=NOW)
    expected = truth(synthetic, START, LAST)
    uri = str(Path(settings.lake_root) / "amplitude/project_100001/events")
    read = pl.scan_delta(uri).filter(~pl.col("later_copy")).select("uuid", "upload_hour").collect()
    assert read.height == len(expected) == read["uuid"].n_unique()
    assert {u: h.replace(tzinfo=None) for u, h in read.iter_rows()} == {
        u: r["upload_hour"] for u, r in expected.items()
    }
    rows = catalog_rows(settings)
    assert len(rows) == len(expected) and {r["uuid"] for r in rows} == expected.keys()


def test_union_by_name_only_while_two_schema_versions_are_live(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    sync_projects([project], settings, end=START + timedelta(hours=5), now=NOW)
    events_all = "SELECT sql FROM duckdb_views() WHERE view_name = 'events_all'"

    def union_by_name() -> bool:
        with duckdb.connect(settings.catalog_path, read_only=True) as con:
            row = con.execute(events_all).fetchone()
        assert row is not None
        return "union_by_name = true" in str(row[0])

    assert not union_by_name()  # one schema: no footer scan before every query
    store = ManifestStore(layout(settings.lake_root))
    hour = START + timedelta(hours=3)
    newer = dataclasses.replace(store.manifests()[f"{hour:%Y-%m-%dT%H}"], schema_version=99)
    newer.loaded_at = datetime.now(UTC).isoformat()  # an hour a newer loader wrote
    scratch = Path(settings.lake_root).parent / "scratch"
    scratch.mkdir(exist_ok=True)
    store.append([newer], scratch, log_retention=timedelta(days=1))
    refresh_catalog(settings)
    assert union_by_name()
    sync_projects(  # this version reloads that hour: one schema again
        [project], settings, start=hour, end=hour, reload=True, now=NOW
    )
    assert not union_by_name()


def test_a_recheck_covers_the_newest_loaded_hours_even_on_a_lake_that_stopped_long_ago(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    day_one = START + timedelta(hours=23)
    sync_projects([project], settings, end=day_one, now=NOW)  # then the loads stopped
    before = EventsLoader(project, settings, now=NOW).manifests.loaded_hours()

    [report] = recheck_projects([project], settings, 3, now=NOW)

    assert report.unchanged == 3 and report.published == []
    windows = [(r["start"], r["end"]) for r in emulator.export_requests()][-1:]
    assert windows == [(f"{day_one - timedelta(hours=2):%Y%m%dT%H}", f"{day_one:%Y%m%dT%H}")]
    assert EventsLoader(project, settings, now=NOW).manifests.loaded_hours() == before
