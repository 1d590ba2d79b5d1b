"""A new user's first steps, then the dbt project in `sql/dbt`, as the README leads.

In a fresh folder, through the command line: `demo` twice (no snapshot may double), a second
lake with the default catalog, `status`, `query`, `catalog --force`, and back; every answer must
come from the lake the command names. Then `dbt build` on the demo's catalog passes every model
and test, and the marts match the events. One test, so that the demos and the build run once
whatever the workers, each step building on the one before.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loader.amplitude.config import DEFAULT_CATALOG
from loader.amplitude.runner import refresh_catalog
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, Loaded
from tests.demo_warehouse import dbt_build, make_demo_warehouse
from tests.loader_process import Finished, run_loader
from tests.truth import truth

DBT_DIR = Path(__file__).resolve().parent.parent / "sql" / "dbt"
FIRST = LAST - timedelta(hours=2)


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorServer, SyntheticProject]]:
    synthetic = SyntheticProject(project_id=424242, events_per_hour=15)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        yield server, synthetic


def test_a_newcomer_s_first_steps_then_the_dbt_build(
    tmp_path: Path, emulator: tuple[EmulatorServer, SyntheticProject]
) -> None:
    make_demo_warehouse(tmp_path)
    warehouse, env = make_demo_warehouse(tmp_path)  # a second time
    _demo_twice_holds_every_current_snapshot_once(tmp_path)
    _a_second_lake_with_the_default_catalog_answers_from_that_lake(tmp_path, emulator)

    env["AMPLITUDE_DBT_DATABASE"] = str(warehouse / "dbt.duckdb")
    # As the loader's settings give it: relative to the repository's root, not to sql/dbt.
    env["AMPLITUDE_CATALOG"] = os.path.relpath(warehouse / "catalog.duckdb", DBT_DIR.parent.parent)
    target = tmp_path / "target"
    build = dbt_build(
        DBT_DIR, env, "--target-path", str(target), "--log-path", str(tmp_path / "logs")
    )
    assert build.returncode == 0, build.stdout[-4000:]
    _dbt_build_passes_every_model_and_test(json.loads((target / "run_results.json").read_text()))
    _the_marts_match_the_events(warehouse)


def _cli(folder: Path, *args: str, **env: str) -> Finished:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    done = run_loader(list(args), {**clean, "NO_COLOR": "1", **env}, folder / "out", cwd=folder)
    assert done.returncode == 0, done.stderr
    return done


def _count(folder: Path, **env: str) -> int:
    answer = _cli(folder, "query", "SELECT count(*) AS n FROM amplitude.events", **env)
    return int(answer.stdout.split()[-1])


def _demo_twice_holds_every_current_snapshot_once(folder: Path) -> None:
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


def _a_second_lake_with_the_default_catalog_answers_from_that_lake(
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


def _dbt_build_passes_every_model_and_test(results: dict[str, Any]) -> None:
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    assert set(statuses.values()) <= {"success", "pass"}, statuses
    models = {u.split(".")[-1] for u in statuses if u.startswith("model.")}
    assert {
        "stg_amplitude__events",
        "stg_amplitude__cohorts",
        "stg_amplitude__cohort_members",
        "stg_amplitude__event_types",
        "amplitude__daily_event_metrics",
        "amplitude__users",
    } <= models
    tests = [u for u in statuses if u.startswith("test.")]
    assert any("relationships_" in t and "cohort" in t for t in tests)
    assert any("source_unique_amplitude_events_uuid" in t for t in tests)
    assert len(tests) >= 25


def _events(warehouse: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse / "catalog.duckdb"), read_only=True) as con:
        result = con.execute(
            "SELECT project_id, uuid, event_time, event_type, user_id, amplitude_id, session_id,"
            " platform FROM amplitude.events"
        )
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _the_marts_match_the_events(warehouse: Path) -> None:
    events = _events(warehouse)
    daily: dict[tuple[Any, ...], dict[str, set[Any] | int]] = defaultdict(
        lambda: {"events": 0, "users": set(), "identified": set(), "sessions": set()}
    )
    users: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event_time"] is not None:
            row = daily[(e["project_id"], e["event_time"].date(), e["event_type"])]
            row["events"] += 1  # type: ignore[operator]
            row["users"].add(e["amplitude_id"])  # type: ignore[union-attr]
            if e["user_id"]:
                row["identified"].add(e["user_id"])  # type: ignore[union-attr]
            if e["session_id"] not in (None, -1):
                row["sessions"].add((e["amplitude_id"], e["session_id"]))  # type: ignore[union-attr]
        if e["amplitude_id"] is not None:
            users[(e["project_id"], e["amplitude_id"])].append(e)
    with duckdb.connect(str(warehouse / "dbt.duckdb"), read_only=True) as con:
        got_daily = {
            (p, d, t): (n, u, i, s)
            for p, d, t, n, u, i, s in con.execute(
                "SELECT project_id, event_day, event_type, events, users, identified_users,"
                " sessions FROM main.amplitude__daily_event_metrics"
            ).fetchall()
        }
        got_users = {
            (p, a): (first, last, platforms, n)
            for p, a, first, last, platforms, n in con.execute(
                "SELECT project_id, amplitude_id, first_seen_at, last_seen_at, platforms, events"
                " FROM main.amplitude__users"
            ).fetchall()
        }
    assert got_daily == {
        key: (
            row["events"],
            len(row["users"]),  # type: ignore[arg-type]
            len(row["identified"]),  # type: ignore[arg-type]
            len(row["sessions"]),  # type: ignore[arg-type]
        )
        for key, row in daily.items()
    }
    assert got_users == {
        key: (
            min(e["event_time"] for e in rows),
            max(e["event_time"] for e in rows),
            sorted({e["platform"] for e in rows if e["platform"] is not None}),
            len(rows),
        )
        for key, rows in users.items()
    }


def test_a_catalog_left_behind_by_the_earlier_default_is_told_of(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    loaded: Loaded,
) -> None:
    # Before lakes had catalogs of their own, `--lake X` shared `warehouse/catalog.duckdb`: an
    # upgraded user's old file would freeze, and sessions and dbt pointed at it would not know.
    monkeypatch.chdir(tmp_path)
    old = replace(loaded.settings, catalog_path=DEFAULT_CATALOG)
    own = replace(loaded.settings, catalog_path=str(tmp_path / "lake-catalog.duckdb"))
    refresh_catalog(old)
    sidecar = tmp_path / "warehouse" / "catalog.duckdb.definitions.json"
    built = json.loads(sidecar.read_text())
    del built["lake"]  # as the earlier version wrote it
    sidecar.write_text(json.dumps(built))
    caplog.set_level(logging.WARNING, logger="loader")
    refresh_catalog(own)
    said = [r.getMessage() for r in caplog.records if "no longer refreshed" in r.getMessage()]
    assert said and "warehouse/catalog.duckdb may read it too" in said[0], caplog.text
    (tmp_path / "warehouse" / "catalog.duckdb").unlink()
    caplog.clear()
    refresh_catalog(own)
    assert "no longer refreshed" not in caplog.text
