"""An emulator with Experiment deployments, and the project configured with their keys."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment_keys import Deployment
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from loader.secrets import Secret
from tests.conftest import NOW, config_for

COHORTS_AT = datetime(2024, 3, 4, 1, tzinfo=UTC)


@pytest.fixture
def server(synthetic: SyntheticProject) -> Iterator[EmulatorServer]:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        yield emulator


def deployments(synthetic: SyntheticProject) -> tuple[Deployment, ...]:
    """The emulator's two deployments of the project, as the loader names them."""
    pid = synthetic.project_id
    return (
        Deployment("server", Secret(f"server-{pid}")),
        Deployment("client", Secret(f"client-{pid}")),
    )


@pytest.fixture
def config(server: EmulatorServer, synthetic: SyntheticProject) -> ProjectConfig:
    return config_for(synthetic, server, experiment=deployments(synthetic))


@pytest.fixture
def with_cohorts(config: ProjectConfig, settings: LoaderSettings) -> LoaderSettings:
    """The lake holds a cohort snapshot (membership included)."""
    snapshot_project(config, settings, ("cohorts",), cohort_options=FAST_COHORTS, now=COHORTS_AT)
    return settings


FAST_COHORTS = CohortOptions(poll_seconds=0.01)


def flags_now(server: EmulatorServer, synthetic: SyntheticProject) -> dict[str, list[Any]]:
    """A copy of each deployment's flags (loader name to flag objects), as served now."""
    pid = synthetic.project_id
    return {
        name: copy.deepcopy(server.experiment.deployments[f"{name}-{pid}"][1])
        for name in ("server", "client")
    }


def change_flags(server: EmulatorServer, synthetic: SyntheticProject) -> None:
    """Edit the flags as a product team would: a new version, a new payload, a new variant."""
    flags = server.experiment.deployments[f"server-{synthetic.project_id}"][1]
    checkout = next(f for f in flags if f["key"] == "checkout-experiment")
    checkout["metadata"]["flagVersion"] = 8
    checkout["variants"]["treatment"]["payload"] = {"cta": "Go", "colour": "#0066ff"}
    dark = next(f for f in flags if f["key"] == "dark-mode")
    dark["variants"]["legacy"] = {"key": "legacy", "value": "legacy", "payload": {"theme": "sepia"}}
    dark["metadata"]["flagVersion"] = 2
    flags.append(
        {
            "key": "holdout-q4",
            "variants": {"on": {"key": "on", "value": "on"}, "holdout": {"key": "holdout"}},
            "segments": [{"variant": "on"}],
            "metadata": {"flagType": "holdout-group", "deployed": True, "flagVersion": 1},
        }
    )
