"""SIGKILL at any point, then a rerun: exactly the ground truth, and never a partial hour.

The loader runs in a child process (`amplitude-loader backfill`, see `tests.loader_process`)
against the emulator served by the test; `LOADER_CRASH_AT` makes the child kill itself at a named
point, and the timed variant kills it from outside at arbitrary moments.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.hours import hours_between
from tests.conftest import NOW, START
from tests.lake_tables import delta_table
from tests.loader_process import Finished, LoaderProcess, run_loader

FIRST = START
#: Two days: the first is compacted under the tests' clock, the second is not, so every crash
#: point (hour files, the duplicate index, day files, the catalog) is on the way; a third day
#: would add time and no new point.
LAST = START + timedelta(hours=47)


def _command(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
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
        *extra,
    ]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(AMPLITUDE_API_KEY="demo-api-key", AMPLITUDE_SECRET_KEY="demo-secret-key", **extra)
    return env


def _by_hour(lake: Path, version: int | None = None) -> dict[datetime, set[str]]:
    """The events table's uuids by upload hour, at a version (read by delta-rs)."""
    table = (
        delta_table(lake)
        if version is None
        else delta_table(lake).__class__(delta_table(lake).table_uri, version=version)
    )
    rows = table.to_pyarrow_table(columns=["uuid", "upload_hour"])
    by_hour: dict[datetime, set[str]] = {}
    for uuid, upload_hour in zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True):
        by_hour.setdefault(upload_hour.astimezone(UTC), set()).add(uuid)
    return by_hour


def _expected(synthetic: SyntheticProject, hour: datetime) -> set[str]:
    return {e["uuid"] for e in synthetic.events(hour)}


def _assert_whole_snapshots(tmp_path: Path, synthetic: SyntheticProject) -> None:
    """The newest version holds whole hours, and the catalog reads a whole version."""
    lake = tmp_path / "lake"
    if not (lake / "amplitude" / "project_100001" / "events" / "_delta_log").exists():
        return
    for hour, uuids in _by_hour(lake).items():
        assert uuids == _expected(synthetic, hour), hour
    catalog = tmp_path / "catalog.duckdb"
    if not catalog.exists():
        return
    with duckdb.connect(str(catalog), read_only=True) as con:
        row = con.execute(
            "SELECT version FROM amplitude.lake_snapshot WHERE table_name = 'events'"
        ).fetchone()
        counts = con.execute(
            "SELECT (SELECT count(*) FROM amplitude.events),"
            " (SELECT count(DISTINCT uuid) FROM amplitude.events),"
            " (SELECT count(*) FROM amplitude.events_all)"
        ).fetchone()
    hours = list(_by_hour(lake, row[0])) if row else []
    uuids = set().union(*(_expected(synthetic, h) for h in hours))
    assert counts == (len(uuids), len(uuids), sum(len(synthetic.events(h)) for h in hours))


def _assert_exact(tmp_path: Path, synthetic: SyntheticProject) -> None:
    expected: dict[str, object] = {}
    for hour in hours_between(FIRST, LAST):
        for event in synthetic.events(hour):
            expected.setdefault(event["uuid"], hour.replace(tzinfo=None))
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT uuid, upload_hour FROM amplitude.events").fetchall()
        hours = con.execute("SELECT count(*) FROM amplitude.load_log").fetchone()
        pinned = con.execute(
            "SELECT version FROM amplitude.lake_snapshot WHERE table_name = 'events'"
        ).fetchone()
    assert len(rows) == len(expected)
    assert dict(rows) == expected
    assert hours == (len(list(hours_between(FIRST, LAST))),)
    newest = delta_table(tmp_path / "lake")
    history = [e for e in newest.history() if not e["operation"].startswith("VACUUM")]
    assert pinned == (history[0]["version"],)  # the catalog reads the newest version
    day_one = [u for u in newest.file_uris() if "upload_date=2024-03-01/" in u]
    assert len(day_one) == 1, day_one


@pytest.mark.parametrize(
    "point",
    [
        "load.after_download:1",
        "load.after_download:2",
        "publish.before_data:1",
        "publish.before_data:2",
        "publish.before_commit:1",
        "publish.before_commit:2",
        "delta.before_commit:1",
        "delta.before_commit:4",
        "delta.after_commit:1",
        "delta.after_commit:3",
        "publish.before_rejects:1",
        "publish.before_manifest:2",
        "catalog.before_swap:1",
        "catalog.before_swap:3",
    ],
)
def test_sigkill_at_a_named_point_then_rerun_gives_exactly_the_ground_truth(
    point: str, tmp_path: Path, synthetic: SyntheticProject
) -> None:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        crashed = _run(_command(tmp_path, server.url), tmp_path, LOADER_CRASH_AT=point)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_whole_snapshots(tmp_path, synthetic)

        rerun = _run(_command(tmp_path, server.url), tmp_path)
        assert rerun.returncode == 0, rerun.stderr
    _assert_exact(tmp_path, synthetic)
    # Files of a first load killed before its commit are this version's, not a lake of an
    # earlier version to convert.
    assert "earlier version" not in rerun.stderr
    assert not list(tmp_path.glob(".catalog.duckdb.building-*"))
    assert not list((tmp_path / "lake" / "_scratch").glob("*")), "the killed run's scratch stays"


#: Every export answers after this wait. The second day's request goes out once the first day's
#: zip is in hand, so no load ends before twice this wait plus the second day's work, however
#: fast the machine: every kill below lands while the child is still running.
FIRST_BYTE_S = 1.2


#: Before the first answer; about the first day's publish; with the second day's download in
#: flight (or, on a slow machine, still in the first day's work).
@pytest.mark.parametrize("delay", [0.4, 1.5, 2.1])
def test_sigkill_at_an_arbitrary_moment_then_rerun_gives_exactly_the_ground_truth(
    delay: float, tmp_path: Path, synthetic: SyntheticProject
) -> None:
    assert delay < 2 * FIRST_BYTE_S
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        slow = FaultRule(kind="slow_first_byte", times=None, params={"seconds": FIRST_BYTE_S})
        server.faults.set([slow])
        child = LoaderProcess(_command(tmp_path, server.url), _env(), tmp_path / "output")
        time.sleep(delay)
        child.kill()
        killed = child.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL, f"the load ended before the kill: {killed}"
        _assert_whole_snapshots(tmp_path, synthetic)
        server.faults.set([])
        rerun = _run(_command(tmp_path, server.url), tmp_path)
        assert rerun.returncode == 0, rerun.stderr
    _assert_exact(tmp_path, synthetic)


def test_sigterm_is_recorded_like_an_interrupt_and_leaves_whole_snapshots(
    tmp_path: Path, synthetic: SyntheticProject
) -> None:
    # How Docker, systemd, Kubernetes and Dagster's run termination stop a process. At 1.5 s,
    # about the first day's publish: DuckDB may be running a query, and turns the interrupt
    # into an error of its own ("Query interrupted"), which must still be told as the stop.
    delay = 1.5
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        slow = FaultRule(kind="slow_first_byte", times=None, params={"seconds": FIRST_BYTE_S})
        server.faults.set([slow])
        child = LoaderProcess(_command(tmp_path, server.url), _env(), tmp_path / "output")
        time.sleep(delay)
        assert child.process.pid is not None
        os.kill(child.process.pid, signal.SIGTERM)
        stopped = child.wait(timeout=30)
        assert stopped.returncode == 143, f"not stopped by the SIGTERM: {stopped}"
        assert "terminated (SIGTERM)" in stopped.stderr and "rerun" in stopped.stderr
        _assert_whole_snapshots(tmp_path, synthetic)
        status = _run(["status", *_command(tmp_path, server.url)[5:]], tmp_path)
        assert "FAILED" in status.stdout and "terminated (SIGTERM)" in status.stdout, status
        server.faults.set([])
        assert _run(_command(tmp_path, server.url), tmp_path).returncode == 0
    _assert_exact(tmp_path, synthetic)


def test_sigkill_during_a_compaction_leaves_the_day_whole(
    tmp_path: Path, synthetic: SyntheticProject
) -> None:
    # Half of day 1 first: loaded in two windows, the day is written as hours and compacted
    # after (a window holding the whole finished day writes it as one file, no compaction).
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        first_half = _command(tmp_path, server.url)
        first_half[first_half.index("--end") + 1] = f"{FIRST + timedelta(hours=11):%Y%m%dT%H}"
        assert _run(first_half, tmp_path).returncode == 0
        crashed = _run(
            _command(tmp_path, server.url), tmp_path, LOADER_CRASH_AT="delta.before_compact:1"
        )
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_whole_snapshots(tmp_path, synthetic)
        assert _run(_command(tmp_path, server.url), tmp_path).returncode == 0
    _assert_exact(tmp_path, synthetic)


def _run(args: list[str], tmp_path: Path, **env: str) -> Finished:
    return run_loader(args, _env(**env), tmp_path / "output")


def test_sigkill_while_a_reload_rewrites_a_compacted_day_leaves_the_old_snapshot_whole(
    tmp_path: Path, synthetic: SyntheticProject
) -> None:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        assert _run(_command(tmp_path, server.url), tmp_path).returncode == 0
        reload = [
            *_command(tmp_path, server.url)[:1],
            "--start",
            "20240301T05",
            "--end",
            "20240301T06",
            *_command(tmp_path, server.url)[5:],
            "--reload",
        ]
        crashed = _run(reload, tmp_path, LOADER_CRASH_AT="publish.before_commit")
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_whole_snapshots(tmp_path, synthetic)
        assert _run(reload, tmp_path).returncode == 0
    _assert_exact(tmp_path, synthetic)


@pytest.mark.parametrize("point", ["delta.before_vacuum:1", "delta.before_vacuum:2"])
def test_sigkill_during_a_vacuum_leaves_the_newest_snapshot_whole(
    point: str, tmp_path: Path, synthetic: SyntheticProject
) -> None:
    vacuum = [
        "vacuum",
        "--lake",
        str(tmp_path / "lake"),
        "--retention-hours",
        "0",
    ]
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        assert _run(_command(tmp_path, server.url), tmp_path).returncode == 0
        assert _run([*_command(tmp_path, server.url), "--reload"], tmp_path).returncode == 0
        crashed = _run(vacuum, tmp_path, LOADER_CRASH_AT=point)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_whole_snapshots(tmp_path, synthetic)
        done = _run(vacuum, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "removed" in done.stdout
    _assert_whole_snapshots(tmp_path, synthetic)
    _assert_exact(tmp_path, synthetic)
