"""SIGKILL at any point, then a rerun: exactly the ground truth, and never a partial hour.

The loader runs in a child process (`python -m loader backfill`) against the emulator served
by the test; `AMPLITUDE_LOADER_CRASH_AT` makes the child kill itself at a named point, and the
timed variant kills it from outside at arbitrary moments.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.hours import hours_between
from tests.conftest import LAST, NOW, START

FIRST = START + timedelta(hours=12)


def _command(tmp_path: Path, url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loader",
        "backfill",
        "--start",
        f"{FIRST:%Y%m%dT%H}",
        "--end",
        f"{LAST:%Y%m%dT%H}",
        "--project-id",
        "100001",
        "--base-url",
        url,
        "--lake",
        str(tmp_path / "lake"),
        "--catalog",
        str(tmp_path / "catalog.duckdb"),
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(AMPLITUDE_API_KEY="demo-api-key", AMPLITUDE_SECRET_KEY="demo-secret-key", **extra)
    return env


def _assert_no_partial_hour(tmp_path: Path, synthetic: SyntheticProject) -> None:
    """Every hour file holds its whole hour, every day copy whole hours, every manifest its file."""
    project = tmp_path / "lake" / "amplitude" / "project=100001"
    for file in project.glob("events_by_day/*/data.parquet"):
        by_hour: dict[object, set[str]] = {}
        for uuid, upload_hour in duckdb.execute(
            f"SELECT uuid, upload_hour FROM read_parquet('{file}', hive_partitioning = false)"
        ).fetchall():
            by_hour.setdefault(upload_hour, set()).add(uuid)
        for upload_hour, uuids in by_hour.items():
            hour = next(
                h for h in hours_between(FIRST, LAST) if h.replace(tzinfo=None) == upload_hour
            )
            assert uuids == {e["uuid"] for e in synthetic.events(hour)}, (file, hour)
    for file in project.glob("events/*/*/data.parquet"):
        hour_dir = file.parent
        day = hour_dir.parent.name.split("=")[1]
        hour = next(
            h
            for h in hours_between(FIRST, LAST)
            if f"{h:%Y-%m-%d}" == day and f"{h:%H}" == hour_dir.name.split("=")[1]
        )
        uuids = {
            r[0]
            for r in duckdb.execute(
                f"SELECT uuid FROM read_parquet('{file}', hive_partitioning = false)"
            ).fetchall()
        }
        assert uuids == {e["uuid"] for e in synthetic.events(hour)}, file
    manifests = tmp_path / "lake" / "amplitude" / "project=100001" / "_manifests" / "events"
    for manifest in manifests.glob("*.json") if manifests.exists() else []:
        day, hh = manifest.stem.split("T")
        events_dir = tmp_path / "lake/amplitude/project=100001/events"
        data = events_dir / f"upload_date={day}" / f"hour={hh}" / "data.parquet"
        hour = next(h for h in hours_between(FIRST, LAST) if f"{h:%Y-%m-%dT%H}" == manifest.stem)
        assert data.exists() == bool(synthetic.events(hour)), manifest


def _assert_exact(tmp_path: Path, synthetic: SyntheticProject) -> None:
    expected: dict[str, object] = {}
    for hour in hours_between(FIRST, LAST):
        for event in synthetic.events(hour):
            expected.setdefault(event["uuid"], hour.replace(tzinfo=None))
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT uuid, upload_hour FROM amplitude.events").fetchall()
        hours = con.execute("SELECT count(*) FROM amplitude.load_log").fetchone()
    assert len(rows) == len(expected)
    assert dict(rows) == expected
    assert hours == (len(list(hours_between(FIRST, LAST))),)


@pytest.mark.parametrize(
    "point",
    [
        "load.after_download:1",
        "load.after_download:2",
        "publish.before_data:1",
        "publish.before_data:30",
        "publish.before_manifest:7",
        "publish.before_duplicates:1",
        "publish.before_duplicates:2",
        "publish.before_days:1",
        "publish.before_days:2",
        "catalog.before_swap:1",
    ],
)
def test_sigkill_at_a_named_point_then_rerun_gives_exactly_the_ground_truth(
    point: str, tmp_path: Path, synthetic: SyntheticProject
) -> None:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        crashed = subprocess.run(
            _command(tmp_path, server.url),
            env=_env(AMPLITUDE_LOADER_CRASH_AT=point),
            capture_output=True,
            timeout=120,
        )
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_no_partial_hour(tmp_path, synthetic)

        rerun = subprocess.run(
            _command(tmp_path, server.url), env=_env(), capture_output=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
    _assert_exact(tmp_path, synthetic)
    assert not list(tmp_path.glob(".catalog.duckdb.building-*"))
    assert not list((tmp_path / "lake" / "_scratch").glob("*")), "the killed run's scratch stays"


@pytest.mark.parametrize("delay", [0.4, 1.1, 1.9])
def test_sigkill_at_an_arbitrary_moment_then_rerun_gives_exactly_the_ground_truth(
    delay: float, tmp_path: Path, synthetic: SyntheticProject
) -> None:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        server.faults.set([FaultRule(kind="slow_first_byte", times=None, params={"seconds": 0.15})])
        child = subprocess.Popen(
            _command(tmp_path, server.url),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        _assert_no_partial_hour(tmp_path, synthetic)
        server.faults.set([])
        rerun = subprocess.run(
            _command(tmp_path, server.url), env=_env(), capture_output=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
    _assert_exact(tmp_path, synthetic)
