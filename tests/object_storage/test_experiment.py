"""An Experiment snapshot into a lake on S3: cohort members read from objects, tables readable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.experiment.snapshot import ExperimentOptions
from loader.amplitude.runner import refresh_catalog
from loader.amplitude.snapshot_runner import snapshot_project
from loader.catalog import open_catalog
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator import metadata as truth
from tests.conftest import NOW, config_for, settings_in
from tests.experiment.conftest import deployments
from tests.object_storage.lakes import separate_lake

COHORT = next(c for c in truth.COHORTS if c.name == "Old campaign")


def test_an_experiment_snapshot_on_s3_asks_about_the_cohorts_members(
    bucket: str, tmp_path: Path
) -> None:
    synthetic = SyntheticProject(events_per_hour=30, part_events=20)
    settings = replace(settings_in(tmp_path), lake_root=f"s3://{bucket}/lake")
    options = ExperimentOptions(cohorts=(COHORT.name,), requests_per_second=1000)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        server.metadata.polls_before_done = 0
        project = config_for(synthetic, server, experiment=deployments(synthetic))
        cohorts = CohortOptions(include=(COHORT.id,), poll_seconds=0.01)
        snapshot_project(project, settings, ("cohorts",), cohort_options=cohorts, now=NOW)
        report = snapshot_project(
            project, settings, ("experiment",), experiment_options=options, now=NOW
        ).experiment
        refresh_catalog(settings)
        asked = {user for _, _, user, _ in server.experiment.calls}
    members = {truth.user_id(n) for n in truth.members(COHORT) if truth.user_id(n)}
    assert report is not None and report.users == len(members) and asked == members
    assert server.experiment.tracked == 0
    with open_catalog(
        settings.catalog_path, separate_lake(settings.lake_root).duckdb_filesystem
    ) as con:
        flags = con.execute("SELECT count(*) FROM amplitude.experiment_flags_current").fetchone()
        users = con.execute(
            "SELECT count(DISTINCT user_id) FROM amplitude.experiment_assignments"
        ).fetchone()
    assert flags == (6,)
    assert users is not None and 0 < users[0] <= len(members)
