"""The Experiment snapshot assets: flags and assignments, keys through `dg.EnvVar`, never logged."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_defs.resources import AmplitudeResource
from loader.emulator import EmulatorServer
from loader.emulator import metadata as truth
from tests.dagster.parts import SNAPSHOT_KEYS, snapshots

COHORT = next(c for c in truth.COHORTS if c.name == "Old campaign")


def test_experiment_assets_record_flags_and_the_cohorts_variants(
    resources: dict[str, object],
    instance: dg.DagsterInstance,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = "server=server-100001,client=client-100001"
    monkeypatch.setenv("AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS", keys)
    amplitude = resources["amplitude"]
    assert isinstance(amplitude, AmplitudeResource)
    resources["amplitude"] = AmplitudeResource(
        project_id=amplitude.project_id,
        api_key=amplitude.api_key,
        secret_key=amplitude.secret_key,
        base_url=amplitude.base_url,
        experiment_deployment_keys=dg.EnvVar("AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS"),
        experiment_cohorts=COHORT.name,
        experiment_requests_per_second=500.0,
    )
    emulator.metadata.polls_before_done = 0
    selected = ("cohorts", "cohort_members", "experiment_flags", "experiment_assignments")
    result = dg.materialize(
        [snapshots],
        resources=resources,
        instance=instance,
        selection=[SNAPSHOT_KEYS[t] for t in selected],
        run_config={"ops": {"amplitude_snapshots": {"config": {"experiment_user_ids": ["x-9"]}}}},
    )
    assert result.success
    metadata = {
        e.asset_key: e.event_specific_data.materialization.metadata  # type: ignore[union-attr]
        for e in result.get_asset_materialization_events()
    }
    flags = metadata[SNAPSHOT_KEYS["experiment_flags"]]
    assert flags["flags"].value == 6 and flags["deployments"].value == "client, server"
    assignments = metadata[SNAPSHOT_KEYS["experiment_assignments"]]
    users = sum(1 for n in truth.members(COHORT) if truth.user_id(n)) + 1  # and x-9
    assert assignments["users"].value == users and assignments["evaluations"].value == 2 * users
    assert assignments["cohorts_matched"].value == COHORT.name
    assert emulator.experiment.tracked == 0 and emulator.experiment.evaluations == 2 * users
    assert "x-9" in {user for _, _, user, _ in emulator.experiment.calls}
    logs = " ".join(str(e.message) for e in instance.all_logs(result.run_id))
    assert "server-100001" not in logs and "client-100001" not in logs
