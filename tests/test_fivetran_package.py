"""fivetran/dbt_amplitude, unchanged, on the compatibility schema (`sql/dbt_fivetran`).

The package comes from dbt Hub, which tests never reach: this test runs once `dbt deps` has
installed it (`cd sql/dbt_fivetran && uv run dbt deps`) and is skipped, saying so, before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.demo_warehouse import dbt_build, make_demo_warehouse

PROJECT = Path(__file__).resolve().parent.parent / "sql" / "dbt_fivetran"
INSTALLED = PROJECT / "dbt_packages" / "amplitude" / "dbt_project.yml"


@pytest.mark.skipif(
    not INSTALLED.exists(),
    reason="fivetran/dbt_amplitude is not installed: cd sql/dbt_fivetran && uv run dbt deps",
)
def test_the_fivetran_package_builds_and_its_tests_pass(tmp_path: Path) -> None:
    warehouse, env = make_demo_warehouse(tmp_path)
    project = tmp_path / "dbt_fivetran"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    env["AMPLITUDE_DBT_DATABASE"] = str(warehouse / "fivetran.duckdb")
    build = dbt_build(project, env)
    assert build.returncode == 0, build.stdout[-4000:]
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    assert set(statuses.values()) <= {"success", "pass"}, statuses
    assert any("unique_stg_amplitude__event_unique_event_id" in u for u in statuses)
    assert any(u.endswith("amplitude__event_enhanced") for u in statuses)
