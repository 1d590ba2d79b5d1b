"""The benchmark runs end to end on a tiny export (its figures are checked for sense, not speed)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loader.emulator import SyntheticProject
from loader.emulator.bulk import BulkSpec, write_export
from loader.shell.benchmark import BenchResult, report_text, run_benchmark, write_json


def test_the_bulk_export_has_the_real_layout_and_unique_uuids(tmp_path: Path) -> None:
    path = write_export(
        BulkSpec(5000, datetime(2024, 3, 1, tzinfo=UTC), SyntheticProject()),
        tmp_path / "x.zip",
        workers=2,
    )
    import gzip

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        lines = [line for n in names for line in gzip.decompress(archive.read(n)).splitlines()]
    assert len(names) == 24 and names[0] == "100001/100001_2024-03-01_0#0.json.gz"
    events = [json.loads(line) for line in lines]
    assert len(lines) == len({e["uuid"] for e in events}) == 5000
    # Events weigh what real exports' do: about 2.3 KB of JSON, bags of 3 to 30 keys.
    assert 2200 < sum(len(line) + 1 for line in lines) / len(lines) < 2450
    assert all(3 <= len(e["user_properties"]) <= 30 for e in events)
    # Ids and times are each event's own, as in a real export, not the templates' repeated.
    for key in ("$insert_id", "event_time", "client_upload_time", "processed_time"):
        assert len({e[key] for e in events}) > 4900, key
    assert all(e["event_time"] <= e["server_upload_time"] < e["processed_time"] for e in events)
    with zipfile.ZipFile(path) as archive:
        fifth = [json.loads(line) for line in gzip.decompress(archive.read(names[5])).splitlines()]
    assert fifth and all(e["server_upload_time"].startswith("2024-03-01 05:") for e in fifth)
    again = write_export(
        BulkSpec(5000, datetime(2024, 3, 1, tzinfo=UTC), SyntheticProject()), tmp_path / "x.zip"
    )
    assert again.stat().st_mtime_ns == path.stat().st_mtime_ns  # reused, not rebuilt


def test_the_benchmark_measures_every_figure(tmp_path: Path) -> None:
    result = run_benchmark(3000, tmp_path, noop_hours=48)
    summary = result.summary()
    assert result.json_bytes > result.zip_bytes > 0
    assert result.floor_seconds > 0 and result.loader_seconds > 0
    assert result.block_seconds > 0 and result.block_rows == 3000
    assert summary["ratio_to_block"] == round(result.loader_seconds / result.block_seconds, 2)
    assert result.peak_memory_mb > 10
    assert result.noop_sync_seconds > 0
    assert 0 < result.open_newest_seconds < 5
    assert set(result.queries) == {
        "events per type per day, one week",
        "daily active users",
        "sessions of one user",
    }
    assert summary["events_per_second"] == round(3000 / result.loader_seconds)
    hourly = result.hourly
    assert hourly["hour_files_mb"] > 0 and hourly["day_file_mb"] > 0
    assert hourly["ratio"] < hourly["rewrite_every_publish_ratio"]
    assert "hourly mode" in report_text(result)
    write_json([result], tmp_path / "bench.json")
    assert json.loads((tmp_path / "bench.json").read_text())[0]["events"] == 3000
    assert isinstance(result, BenchResult)


def test_a_longer_window_loads_every_day_with_distinct_uuids(tmp_path: Path) -> None:
    import duckdb

    result = run_benchmark(2000, tmp_path, days=2, skip_queries=True, noop_hours=48)
    assert result.events == 4000 and result.days == 2
    with duckdb.connect(str(tmp_path / "run" / "catalog.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(DISTINCT uuid), count(DISTINCT upload_hour::DATE)"
            " FROM amplitude.events"
        ).fetchone()
    assert row == (4000, 4000, 2)


@pytest.mark.slow  # two loads, one into the loopback S3 server: 15 to 30 s
def test_the_benchmark_reports_a_load_into_an_s3_lake_beside_the_local_one(
    bucket: str, tmp_path: Path
) -> None:
    import s3fs

    result = run_benchmark(
        2000,
        tmp_path,
        skip_queries=True,
        skip_hourly=True,
        noop_hours=24,
        lake=f"s3://{bucket}/benchmarks",
    )
    assert result.loader_seconds > 0 and result.remote_seconds > 0
    # The day written as one file, the load log's file, and the tables' logs.
    assert result.remote_objects > 4
    assert result.summary()["remote_ratio_to_local"] == round(
        result.remote_seconds / result.loader_seconds, 2
    )
    assert f"loader into s3://{bucket}/benchmarks" in report_text(result)
    # The load went to a folder of its own below the URL, and is gone.
    assert s3fs.S3FileSystem(skip_instance_cache=True).find(f"{bucket}/benchmarks") == []
