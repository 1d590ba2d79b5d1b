"""`dagster dev` loads the code location, and a 14-day asset backfill lands the ground truth.

This is the real thing: the webserver and daemon of `dagster dev`, an asset backfill launched
through GraphQL, runs launched by the daemon in their own processes against the emulator.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from loader.amplitude.catalog_views import amplitude_views
from loader.catalog import connect_views
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from loader.snapshot.reader import LakeSnapshot
from tests.truth import truth

REPO = Path(__file__).resolve().parents[2]
START = datetime(2024, 3, 1, tzinfo=UTC)
LAST = START + timedelta(days=14) - timedelta(hours=1)
NOW = LAST + timedelta(hours=3, minutes=30)

LOCATION = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename ... on PartitionBackfill { status } ... on PythonError { message }
  }
}
"""
RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _graphql(port: int, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def _wait(predicate: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, KeyError):
            value = None
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


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
        port = _free_port()
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
        dagster = Path(sys.executable).parent / "dagster"
        server = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield port, tmp_path, project
        finally:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.mark.slow
def test_dagster_dev_loads_and_a_14_day_backfill_lands_the_ground_truth(
    dagster_dev: tuple[int, Path, SyntheticProject],
) -> None:
    port, tmp_path, project = dagster_dev

    def loaded() -> bool:
        entries = _graphql(port, LOCATION)["workspaceOrError"]["locationEntries"]
        return any(
            e["loadStatus"] == "LOADED"
            and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            for e in entries
        )

    _wait(loaded, 180, "the code location to load")

    hours = [START + timedelta(hours=i) for i in range(14 * 24)]
    launched = _graphql(
        port,
        LAUNCH,
        params={
            "partitionNames": [f"{h:%Y-%m-%d-%H:%M}" for h in hours],
            "assetSelection": [{"path": ["amplitude", "events"]}],
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]

    def finished() -> str | None:
        status = _graphql(port, BACKFILL, id=backfill)["partitionBackfillOrError"]["status"]
        return (
            status
            if status
            in {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
            else None
        )

    status = _wait(finished, 420, "the backfill to finish")
    runs = _graphql(port, RUNS, id=backfill)["runsOrError"]["results"]
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, runs)
    assert len(runs) == 2 and all(r["status"] == "SUCCESS" for r in runs)
    ranges = sorted(
        (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
        for tags in ({t["key"]: t["value"] for t in r["tags"]} for r in runs)
    )
    assert ranges == [
        ("2024-03-01-00:00", "2024-03-07-23:00"),
        ("2024-03-08-00:00", "2024-03-14-23:00"),
    ]

    with connect_views(amplitude_views(LakeSnapshot.newest(Lake(tmp_path / "lake")))) as con:
        loaded_uuids = {r[0] for r in con.execute("SELECT uuid FROM amplitude.events").fetchall()}
    assert loaded_uuids == set(truth(project, START, LAST))

    from dagster_defs.resources import AmplitudeResource, LakeResource
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
