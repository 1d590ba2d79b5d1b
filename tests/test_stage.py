"""Staging hand-built export zips: duplicates within an hour, stray members, spilling."""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from loader.amplitude.hour_manifests import ExportRequest
from loader.amplitude.hour_writer import DUPLICATE_REASON
from loader.amplitude.stage import Stager
from loader.archive import Guards
from loader.catalog import quote_literal
from loader.errors import ArchiveError
from loader.planner import Window

HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


def _event(i: int, minute: int) -> dict[str, object]:
    return {
        "uuid": f"u-{i}",
        "event_time": f"2024-05-01 09:{minute:02d}:00.000000",
        "server_upload_time": "2024-05-01 10:00:01",
        "event_type": "x",
        "pad": "y" * 200,
    }


def _zip(path: Path, members: dict[str, list[dict[str, object]]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, events in members.items():
            archive.writestr(name, gzip.compress("\n".join(map(json.dumps, events)).encode()))
    return path


def _request(path: Path, window: Window, project: int = 7) -> ExportRequest:
    return ExportRequest(
        project_id=project,
        window=window,
        zip_path=path,
        zip_sha256="x",
        zip_bytes=path.stat().st_size,
        request_id="r",
        loaded_at=datetime(2024, 6, 1, tzinfo=UTC),
    )


def test_a_uuid_repeated_within_an_hour_keeps_its_first_copy_and_is_recorded(
    tmp_path: Path,
) -> None:
    events = [_event(1, 5), _event(2, 3), {**_event(1, 59), "event_type": "second copy"}]
    path = _zip(tmp_path / "x.zip", {"7/7_2024-05-01_10#0.json.gz": events})
    stager = Stager(tmp_path, Guards(), threads=1)
    [staged] = stager.stage(_request(path, Window(HOUR, HOUR)))
    assert staged.manifest.rows == 2 and staged.manifest.rejects == 1
    assert staged.manifest.extra["duplicates_in_hour"] == 1
    assert staged.data_file and staged.rejects_file
    rows = duckdb.execute(
        f"SELECT uuid, event_type FROM read_parquet('{staged.data_file}') ORDER BY uuid"
    ).fetchall()
    assert rows == [("u-1", "x"), ("u-2", "x")]
    [reject] = pq.read_table(staged.rejects_file).to_pylist()
    assert reject["reason"] == DUPLICATE_REASON and reject["line"] == "u-1"
    assert reject["upload_hour"] == HOUR and reject["loaded"]


def test_members_outside_the_window_are_ignored_and_empty_hours_are_staged(
    tmp_path: Path,
) -> None:
    path = _zip(
        tmp_path / "x.zip",
        {
            "7/7_2024-05-01_10#0.json.gz": [_event(1, 1)],
            "7/7_2024-05-01_12#0.json.gz": [_event(2, 1)],  # outside the window
        },
    )
    stager = Stager(tmp_path, Guards(), threads=1)
    staged = stager.stage(_request(path, Window(HOUR, HOUR + timedelta(hours=1))))
    assert [s.manifest.rows for s in staged] == [1, 0]
    assert staged[1].data_file is None


def test_another_projects_export_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "x.zip", {"8/8_2024-05-01_10#0.json.gz": [_event(1, 1)]})
    stager = Stager(tmp_path, Guards(), threads=1)
    with pytest.raises(ArchiveError, match="project 8's data, not project 7's"):
        stager.stage(_request(path, Window(HOUR, HOUR)))


def test_an_hour_over_its_memory_budget_spills_and_merges_to_the_same_result(
    tmp_path: Path,
) -> None:
    events = [_event(i, (i * 37) % 60) for i in range(3000)] + [_event(5, 0)]  # one repeat
    members = {f"7/7_2024-05-01_10#{p}.json.gz": events[p * 500 : (p + 1) * 500] for p in range(7)}
    path = _zip(tmp_path / "x.zip", members)
    scratch = tmp_path / "o'neil"  # a quote in the path must not break DuckDB's SQL
    scratch.mkdir()
    small = Stager(scratch, Guards(), threads=1, output_rows=500, hour_memory_bytes=100_000)
    [spilled] = small.stage(_request(path, Window(HOUR, HOUR)))
    roomy = Stager(tmp_path, Guards(), threads=1)
    [whole] = roomy.stage(_request(path, Window(HOUR, HOUR)))

    def rows(file: Path | None) -> list[tuple[object, ...]]:
        source = quote_literal(str(file))
        return duckdb.execute(f"SELECT uuid, event_time FROM read_parquet({source})").fetchall()

    assert spilled.manifest.rows == whole.manifest.rows == 3000
    assert spilled.manifest.extra["duplicates_in_hour"] == 1
    assert sorted(rows(spilled.data_file)) == sorted(rows(whole.data_file))
    times = [t for _, t in rows(spilled.data_file)]
    assert times == sorted(times)
    assert not list(scratch.glob("spill-*"))


@pytest.mark.parametrize("memory", [100_000, None], ids=["spilled", "in-memory"])
def test_a_negative_zero_keeps_its_sign_through_the_first_copy_of_each_uuid(
    tmp_path: Path, memory: int | None
) -> None:
    # DuckDB's window operator turns a -0.0 it carries into 0.0; the first copy of each uuid
    # is chosen without one, so a typed double keeps what the export said.
    events = [
        {**_event(i, i % 60), "location_lat": -0.0 if i % 3 else 0.0, "location_lng": -0.0}
        for i in range(3000)
    ]
    events.append({**_event(7, 0), "location_lat": 1.0})  # a repeat: the first copy is kept
    members = {f"7/7_2024-05-01_10#{p}.json.gz": events[p * 500 : (p + 1) * 500] for p in range(7)}
    path = _zip(tmp_path / "x.zip", members)
    budget = {"hour_memory_bytes": memory, "output_rows": 500} if memory else {}
    [staged] = Stager(tmp_path, Guards(), threads=1, **budget).stage(  # type: ignore[arg-type]
        _request(path, Window(HOUR, HOUR))
    )
    assert staged.manifest.extra["duplicates_in_hour"] == 1
    table = pq.read_table(staged.data_file, columns=["uuid", "location_lat", "location_lng"])
    got = {u: (str(lat), str(lng)) for u, lat, lng in zip(*table.to_pydict().values(), strict=True)}
    assert got == {f"u-{i}": ("-0.0" if i % 3 else "0.0", "-0.0") for i in range(3000)}
