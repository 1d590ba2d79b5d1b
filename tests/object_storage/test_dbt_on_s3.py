"""dbt builds its models on the catalog of a lake on S3 (the profile's `s3` target)."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import NOW, START, config_for, settings_in
from tests.demo_warehouse import dbt_build
from tests.object_storage.lakes import catalog_events

DBT_DIR = Path(__file__).resolve().parents[2] / "sql" / "dbt"


@pytest.mark.slow  # a load, the snapshots and a whole dbt build: about 40 s
def test_dbt_builds_every_model_and_test_over_an_s3_lake(bucket: str, tmp_path: Path) -> None:
    synthetic = SyntheticProject(events_per_hour=20, part_events=40)
    settings = replace(settings_in(tmp_path), lake_root=f"s3://{bucket}/lake")
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        emulator.metadata.polls_before_done = 1
        project = config_for(synthetic, emulator)
        sync_projects([project], settings, end=START + timedelta(hours=23), now=NOW)
        options = CohortOptions(poll_seconds=0.05)
        snapshot_project(project, settings, cohort_options=options, now=NOW)
        refresh_catalog(settings)
    _, events = catalog_events(settings)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(
        AMPLITUDE_CATALOG=settings.catalog_path,
        AMPLITUDE_DBT_DATABASE=str(tmp_path / "dbt.duckdb"),
        AMPLITUDE_DBT_TARGET="s3",
    )
    folder = ("--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"))
    build = dbt_build(DBT_DIR, env, *folder)
    assert build.returncode == 0, build.stdout[-4000:]
    with duckdb.connect(str(tmp_path / "dbt.duckdb"), read_only=True) as con:
        row = con.execute("SELECT sum(events) FROM main.amplitude__daily_event_metrics").fetchone()
    timed = [e for e in events.values() if e["event_time"] is not None]
    assert row is not None and row[0] == len(timed) > 100
