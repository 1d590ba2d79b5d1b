"""A new user's first steps, in a fresh folder, through the command line as the README leads:
`demo` twice, then a second lake with the default catalog, `status`, `query`, `catalog --force`,
and back. Every answer must come from the lake the command names, and no snapshot may double.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW
from tests.demo_warehouse import make_demo_warehouse
from tests.truth import truth

FIRST = LAST - timedelta(hours=2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `amplitude-loader demo` ran twice."""
    folder = tmp_path_factory.mktemp("newcomer")
    make_demo_warehouse(folder)
    make_demo_warehouse(folder)
    return folder


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[EmulatorServer, SyntheticProject]]:
    synthetic = SyntheticProject(project_id=424242, events_per_hour=15)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        yield server, synthetic


def _cli(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    done = subprocess.run(
        [sys.executable, "-m", "loader", *args],
        cwd=folder,
        env={**clean, "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


def _count(folder: Path, **env: str) -> int:
    answer = _cli(folder, "query", "SELECT count(*) AS n FROM amplitude.events", **env)
    return int(answer.stdout.split()[-1])


def test_demo_twice_holds_every_current_snapshot_once(folder: Path) -> None:
    with duckdb.connect(str(folder / "warehouse" / "catalog.duckdb"), read_only=True) as con:
        views = [
            name
            for (name,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE schema_name = 'amplitude'"
                " AND view_name LIKE '%\\_current' ESCAPE '\\'"
            ).fetchall()
        ]
        assert {"cohorts_current", "cohort_members_current", "experiment_flags_current"} <= set(
            views
        )
        for view in views:
            rows, distinct = con.execute(
                f"SELECT (SELECT count(*) FROM amplitude.{view}),"
                f" (SELECT count(*) FROM (SELECT DISTINCT * FROM amplitude.{view}))"
            ).fetchone()  # type: ignore[misc]
            assert rows == distinct, view
        cohorts = con.execute(
            "SELECT count(*), count(DISTINCT cohort_id) FROM amplitude.cohorts_current"
        ).fetchone()
        logged = con.execute(
            "SELECT count(*), count(DISTINCT (project_id, kind, snapshot_at))"
            " FROM amplitude.snapshot_log"
        ).fetchone()
    assert cohorts is not None and cohorts[0] == cohorts[1] > 0
    assert logged is not None and logged[0] == logged[1] > 0


def test_a_second_lake_with_the_default_catalog_answers_from_that_lake(
    folder: Path, emulator: tuple[EmulatorServer, SyntheticProject]
) -> None:
    server, synthetic = emulator
    demo_events = _count(folder)
    # The demo's hours are judged by the emulator's clock: no gap runs to today.
    demo_status = _cli(folder, "status").stdout
    assert "gaps          none" in demo_status and "2024-03-02T23" in demo_status, demo_status
    second = {
        "AMPLITUDE_PROJECT_ID": str(synthetic.project_id),
        "AMPLITUDE_API_KEY": synthetic.api_key,
        "AMPLITUDE_SECRET_KEY": synthetic.secret_key,
        "AMPLITUDE_BASE_URL": server.url,
        "AMPLITUDE_LAKE": "second/lake",
    }
    hours = ("--start", f"{FIRST:%Y-%m-%dT%H}", "--end", f"{LAST:%Y-%m-%dT%H}")
    loaded = _cli(folder, "backfill", *hours, **second)
    assert "3 hour(s) loaded" in loaded.stdout + loaded.stderr
    expected = len(truth(synthetic, FIRST, LAST))
    assert expected != demo_events
    assert _count(folder, **second) == expected
    status = _cli(folder, "status", **second).stdout
    assert "behind" not in status and "another lake" not in status, status
    assert "rebuilt" in _cli(folder, "catalog", "--force", **second).stdout
    assert "rebuilt" in _cli(folder, "catalog", "--force", **second).stdout  # always
    assert (folder / "second" / "lake-catalog.duckdb").is_file()
    assert _count(folder) == demo_events  # the demo's catalog is the demo's still

    # One catalog named for both lakes: it follows the lake of the command, and says so.
    shared = {**second, "AMPLITUDE_CATALOG": "warehouse/catalog.duckdb"}
    status = _cli(folder, "status", **shared).stdout
    assert "reads another lake" in status and "amplitude-loader catalog" in status, status
    assert "rebuilt" in _cli(folder, "catalog", **shared).stdout
    assert _count(folder, **shared) == expected
    assert "rebuilt" in _cli(folder, "catalog").stdout
    assert _count(folder) == demo_events
