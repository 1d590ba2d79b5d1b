"""`dagster dev` over a lake the command line started: a backfill, then the catalog and dbt.

This is the real thing: the command line loads the first day; `dagster dev` (webserver and
daemon) shows those hours materialized; an asset backfill of the next 13 days, launched through
GraphQL, runs in the daemon's processes against the emulator; and the automation sensor then
refreshes the catalog and builds the dbt models, without anyone materialising them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_defs.resources import AmplitudeResource, LakeResource
from loader.emulator import EmulatorServer, SyntheticProject
from tests.dagster.dev_server import (
    LATEST,
    PARTITIONS,
    backfill_events,
    free_port,
    graphql,
    location_loaded,
    running_dagster_dev,
    wait_for,
)
from tests.truth import truth

REPO = Path(__file__).resolve().parents[2]
START = datetime(2024, 3, 1, tzinfo=UTC)
LAST = START + timedelta(days=14) - timedelta(hours=1)
NOW = LAST + timedelta(hours=3, minutes=30)


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[tuple[int, Path, SyntheticProject]]:
    project = SyntheticProject(events_per_hour=12, part_events=50)
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No telemetry: tests reach nothing but loopback. The emulator's clock stands in 2024, so
    # a run of the hourly schedule (at hh:15 by the wall clock) would ask for today's hour, get
    # the emulator's 404 and record it as empty, far from the backfill: the instance holds
    # scheduled runs in its queue instead, and the test is the same at any time of day.
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
        "concurrency:\n  runs:\n    tag_concurrency_limits:\n"
        "      - key: dagster/schedule_name\n        limit: 0\n"
    )
    with EmulatorServer([project], now=NOW, gzip_level=1) as emulator:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPLITUDE_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            AMPLITUDE_PROJECT_ID="100001",
            AMPLITUDE_API_KEY=project.api_key,
            AMPLITUDE_SECRET_KEY=project.secret_key,
            AMPLITUDE_BASE_URL=emulator.url,
            AMPLITUDE_START="2024-03-01",
            AMPLITUDE_DAGSTER_AUTOMATION="true",  # the automation sensor refreshes the catalog
            AMPLITUDE_LAKE=str(tmp_path / "lake"),
            AMPLITUDE_CATALOG=str(tmp_path / "catalog.duckdb"),
        )
        # The first day, loaded by the command line before Dagster ever ran.
        cli = Path(sys.executable).parent / "amplitude-loader"
        day_one = [str(cli), "backfill", "--start", "20240301T00", "--end", "20240301T23"]
        loaded = subprocess.run(day_one, env=env, capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        with running_dagster_dev(port, env, REPO):
            yield port, tmp_path, project


def _materialized(port: int) -> int:
    node = graphql(port, PARTITIONS, path=["amplitude", "events"])["assetNodeOrError"]
    return int(node["partitionStats"]["numMaterialized"])


def _latest(port: int, *path: str) -> float:
    """When the asset was last materialized (epoch seconds; 0 if never)."""
    found = graphql(port, LATEST, path=list(path))["assetOrError"]
    events = found.get("assetMaterializations") or []
    return int(events[0]["timestamp"]) / 1000 if events else 0.0


@pytest.mark.slow
@pytest.mark.timeout(900)  # `dagster dev`, the daemon's sensor ticks and four runs: minutes
def test_cli_hours_show_in_dagster_and_a_backfill_is_followed_by_the_catalog_and_dbt(
    dagster_dev: tuple[int, Path, SyntheticProject],
) -> None:
    port, tmp_path, project = dagster_dev

    wait_for(lambda: location_loaded(port), 180, "the code location to load")
    # The lake sensor reports the command line's 24 hours: Dagster shows them materialized.
    wait_for(lambda: _materialized(port) == 24, 240, "the command line's 24 hours in Dagster")

    hours = [START + timedelta(days=1, hours=i) for i in range(13 * 24)]
    status, runs = backfill_events(port, hours)
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, runs)
    assert len(runs) == 2 and all(r["status"] == "SUCCESS" for r in runs)
    ranges = sorted(
        (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
        for tags in ({t["key"]: t["value"] for t in r["tags"]} for r in runs)
    )
    assert ranges == [
        ("2024-03-02-00:00", "2024-03-08-23:00"),
        ("2024-03-09-00:00", "2024-03-14-23:00"),
    ]
    assert _materialized(port) == 14 * 24

    # Nobody materialises the catalog or the dbt models: the automation sensor does, after the
    # backfill's last run.
    backfilled = max(float(r["endTime"]) for r in runs)
    for path in (("amplitude", "catalog"), ("amplitude", "amplitude__daily_event_metrics")):
        wait_for(lambda p=path: _latest(port, *p) > backfilled, 300, f"{'/'.join(path)} to refresh")

    expected = set(truth(project, START, LAST))
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        in_catalog = {r[0] for r in con.execute("SELECT uuid FROM amplitude.events").fetchall()}
    assert in_catalog == expected
    with duckdb.connect(str(tmp_path / "dbt.duckdb"), read_only=True) as con:
        row = con.execute("SELECT sum(events) FROM main.amplitude__daily_event_metrics").fetchone()
    assert row is not None and row[0] == len(expected)

    from tests.dagster.parts import EVENT_CHECKS, events

    lake = LakeResource(
        lake_root=str(tmp_path / "lake"),
        catalog_path=str(tmp_path / "catalog.duckdb"),
        start="2024-03-01",
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [events, *EVENT_CHECKS],
            resources={"lake": lake, "amplitude": AmplitudeResource()},
            instance=instance,
            selection=dg.AssetSelection.checks(*EVENT_CHECKS),
        )
    checks = result.get_asset_check_evaluations()
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]
