"""Several projects: a second partition dimension, and a run loads only its own project."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from dagster_defs.partitions import events_partitions
from dagster_defs.settings import load_settings
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW

RUN = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    from dagster_defs.definitions import defs
    job = defs.resolve_job_def("amplitude_events_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=sys.argv[1], instance=instance)
    sys.exit(0 if result.success else 1)
    """
)


def _projects_file(tmp_path: Path) -> Path:
    path = tmp_path / "projects.toml"
    path.write_text(
        '[[project]]\nid = 111\napi_key_env = "WEB_KEY"\nsecret_key_env = "WEB_SECRET"\n'
        '[[project]]\nid = 222\napi_key_env = "APP_KEY"\nsecret_key_env = "APP_SECRET"\n'
    )
    return path


def test_a_projects_file_adds_a_project_dimension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(events_partitions(load_settings()), dg.HourlyPartitionsDefinition)
    monkeypatch.setenv("AMPLITUDE_PROJECTS_FILE", str(_projects_file(tmp_path)))
    settings = load_settings()
    partitions = events_partitions(settings)
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert {d.name for d in partitions.partitions_defs} == {"hour", "project"}
    assert settings.project_ids == ("111", "222")


def test_a_run_of_one_project_partition_loads_only_that_project(tmp_path: Path) -> None:
    web = SyntheticProject(
        project_id=111, api_key="web-key-1", secret_key="web-secret-1", events_per_hour=20, seed=1
    )
    app = SyntheticProject(
        project_id=222, api_key="app-key-2", secret_key="app-secret-2", events_per_hour=20, seed=2
    )
    with EmulatorServer([web, app], now=NOW, gzip_level=1) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
        env.update(
            AMPLITUDE_PROJECTS_FILE=str(_projects_file(tmp_path)),
            AMPLITUDE_BASE_URL=server.url,
            WEB_KEY=web.api_key,
            WEB_SECRET=web.secret_key,
            APP_KEY=app.api_key,
            APP_SECRET=app.secret_key,
            AMPLITUDE_LAKE=str(tmp_path / "lake"),
            AMPLITUDE_CATALOG=str(tmp_path / "catalog.duckdb"),
        )
        done = subprocess.run(
            [sys.executable, "-c", RUN, f"{LAST:%Y-%m-%d-%H:%M}|222"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(server.export_requests()) == 1
    projects = {p.name for p in (tmp_path / "lake" / "amplitude").iterdir()}
    assert projects == {"project_222"}
