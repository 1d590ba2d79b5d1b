"""Talking to `dagster dev` from tests: its GraphQL queries, and waiting for what they show."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

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
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
}
"""
PARTITIONS = """
query Partitions($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { partitionStats { numMaterialized numFailed } }
  }
}
"""
LATEST = """
query Latest($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def graphql(port: int, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def wait_for(predicate: Any, seconds: float, what: str) -> Any:
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


def location_loaded(port: int) -> bool:
    """Whether the code location has loaded without error."""
    entries = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"]
    return any(
        e["loadStatus"] == "LOADED"
        and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries
    )


FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def backfill_status(port: int, backfill: str) -> str | None:
    """A backfill's status once it has finished, else None."""
    status = graphql(port, BACKFILL, id=backfill)["partitionBackfillOrError"]["status"]
    return status if status in FINISHED else None


@contextlib.contextmanager
def running_dagster_dev(port: int, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run `dagster dev` (webserver, daemon, code server) on a loopback port while inside."""
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def backfill_events(port: int, hours: list[datetime]) -> tuple[str, list[dict[str, Any]]]:
    """Launch a backfill of the events asset's hours, as the UI does, and wait for its end.

    Returns:
        Its final status, and its runs (id, status, start and end times, tags).
    """
    launched = graphql(
        port,
        LAUNCH,
        params={
            "partitionNames": [f"{h:%Y-%m-%d-%H:%M}" for h in hours],
            "assetSelection": [{"path": ["amplitude", "events"]}],
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]
    status = wait_for(lambda: backfill_status(port, backfill), 420, "the backfill to finish")
    return status, graphql(port, RUNS, id=backfill)["runsOrError"]["results"]
