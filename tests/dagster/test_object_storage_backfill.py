"""A Dagster backfill as three runs at once, all writing one lake on the loopback S3 server.

`dagster dev` (webserver, daemon, run processes) as a user runs it, with the lake at
`s3://<bucket>/lake`: the backfill's runs each load a day, at the same time, sharing no lock;
their commits must make one history and the exact ground truth, and the `amplitude_api` pool
must still bound how many export requests Amplitude sees at once.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loader.amplitude.catalog_views import amplitude_views
from loader.catalog import connect_views
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.lake import Lake
from loader.pinned import PinnedLake
from tests.dagster.dev_server import (
    backfill_events,
    free_port,
    location_loaded,
    running_dagster_dev,
    wait_for,
)
from tests.lake_tables import delta_table, each_commit_on_the_one_before
from tests.object_storage.lakes import credential_leaks
from tests.truth import comparable, truth

REPO = Path(__file__).resolve().parents[2]
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 3
LAST = START + timedelta(days=DAYS) - timedelta(hours=1)
NOW = LAST + timedelta(hours=3, minutes=30)
#: The `amplitude_api` pool's limit here: below the number of runs, so that it has to bound.
API_SLOTS = 2


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    moments = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = most = 0
    for _, step in moments:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_backfill_as_three_runs_at_once_into_an_s3_lake_reaches_the_ground_truth(
    bucket: str, tmp_path: Path
) -> None:
    project = SyntheticProject(events_per_hour=12, part_events=50)
    url = f"s3://{bucket}/lake"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"
        f"concurrency:\n  pools:\n    default_limit: {API_SLOTS}\n    granularity: op\n"
        "  runs:\n    max_concurrent_runs: 4\n    tag_concurrency_limits:\n"
        "      - key: dagster/schedule_name\n        limit: 0\n"
    )
    with EmulatorServer([project], now=NOW, gzip_level=1) as emulator:
        # Each export takes 8 s to answer: the runs start within a few seconds of each other,
        # so the requests the pool lets through overlap (with 2 s, on a busy machine, they
        # once did not, and the bound went unseen).
        emulator.faults.set(
            [FaultRule(kind="slow_first_byte", times=None, params={"seconds": 8.0})]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPLITUDE_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            AMPLITUDE_PROJECT_ID="100001",
            AMPLITUDE_API_KEY=project.api_key,
            AMPLITUDE_SECRET_KEY=project.secret_key,
            AMPLITUDE_BASE_URL=emulator.url,
            AMPLITUDE_START="2024-03-01",
            AMPLITUDE_PARTITIONS_PER_RUN="24",
            AMPLITUDE_LAKE=url,  # the AWS_* variables (endpoint, keys) come with the environment
            AMPLITUDE_CATALOG=str(tmp_path / "catalog.duckdb"),
        )
        port = free_port()
        with running_dagster_dev(port, env, REPO):
            wait_for(lambda: location_loaded(port), 180, "the code location to load")
            hours = [START + timedelta(hours=i) for i in range(DAYS * 24)]
            status, runs = backfill_events(port, hours)
        peak = emulator.peak_exports_in_flight

    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, runs)
    assert len(runs) == DAYS and all(r["status"] == "SUCCESS" for r in runs), runs
    assert _most_at_once([(r["startTime"], r["endTime"]) for r in runs]) >= 3, runs
    # The pool let two export requests through at once, never three.
    assert peak == API_SLOTS

    lake = Lake(url)
    assert each_commit_on_the_one_before(delta_table(lake))
    with connect_views(amplitude_views(PinnedLake.newest(lake)), lake.fs) as con:
        result = con.execute("SELECT * FROM amplitude.events")
        columns = [d[0] for d in result.description]
        loaded = [comparable(dict(zip(columns, r, strict=True))) for r in result.fetchall()]
    rows = {row["uuid"]: row for row in loaded}
    assert len(rows) == len(loaded)
    assert rows == truth(project, START, LAST)
    # Nothing the runs logged or stored (event log, captured output) holds the store's keys.
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert any("compute_logs" in str(p) for p in stored)
    assert not [
        (p, credential_leaks(p.read_bytes())) for p in stored if credential_leaks(p.read_bytes())
    ]
