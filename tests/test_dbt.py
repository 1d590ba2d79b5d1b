"""The dbt project in `sql/dbt`, built with `dbt build` on a demo warehouse made by the CLI."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.demo_warehouse import dbt_build, make_demo_warehouse

DBT_DIR = Path(__file__).resolve().parent.parent / "sql" / "dbt"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    """A two-day demo warehouse from `amplitude-loader demo` run twice (as a newcomer does:
    its snapshots must not double), then `dbt build` on it."""
    folder = tmp_path_factory.mktemp("dbt")
    make_demo_warehouse(folder)
    warehouse, env = make_demo_warehouse(folder)
    env["AMPLITUDE_DBT_DATABASE"] = str(warehouse / "dbt.duckdb")
    # As the loader's settings give it: relative to the repository's root, not to sql/dbt.
    env["AMPLITUDE_CATALOG"] = os.path.relpath(warehouse / "catalog.duckdb", DBT_DIR.parent.parent)
    target = folder / "target"
    build = dbt_build(
        DBT_DIR, env, "--target-path", str(target), "--log-path", str(folder / "logs")
    )
    assert build.returncode == 0, build.stdout[-4000:]
    yield warehouse, target, json.loads((target / "run_results.json").read_text())


def test_dbt_build_passes_every_model_and_test(built: tuple[Path, Path, dict[str, Any]]) -> None:
    _, _, results = built
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


def test_the_marts_match_the_events(built: tuple[Path, Path, dict[str, Any]]) -> None:
    warehouse, _, _ = built
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
