"""Resources for Dagster tests: the emulator's project and a temporary lake."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from dagster_defs.resources import AmplitudeResource, LakeResource
from loader.emulator import EmulatorServer

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@pytest.fixture(autouse=True)
def _no_storage_of_a_gone_instance() -> Iterator[None]:
    """Start every test without the state storage of an instance an earlier test made.

    A Dagster instance puts its state storage in a context variable, which weakly refers to the
    instance. Evaluating a schedule tick on a test instance left it set after the instance was
    gone, and then building definitions in a later test of the same worker failed with
    "Attempted to resolve undefined DagsterInstance weakref".
    """
    with set_defs_state_storage(None):
        yield


@pytest.fixture
def resources(emulator: EmulatorServer, tmp_path: Path) -> dict[str, object]:
    return {
        "amplitude": AmplitudeResource(
            project_id="100001",
            api_key="demo-api-key",
            secret_key="demo-secret-key",
            base_url=emulator.url,
        ),
        "lake": LakeResource(
            lake_root=str(tmp_path / "lake"),
            catalog_path=str(tmp_path / "catalog.duckdb"),
            start="2024-03-01",
        ),
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance
