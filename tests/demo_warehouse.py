"""A small demo warehouse made as a user makes one: `amplitude-loader demo`, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.loader_process import run_loader

DEMO_OPTIONS = ("--days", "2", "--events-per-hour", "40")


def make_demo_warehouse(folder: Path) -> tuple[Path, dict[str, str]]:
    """Run `amplitude-loader demo` for two days into `folder/warehouse`.

    Returns:
        The warehouse folder, and an environment for dbt whose profile attaches its catalog.
    """
    warehouse = folder / "warehouse"
    env = {**os.environ, "NO_COLOR": "1"}
    # A child forked from a process that imported the command line: the same command, without
    # a second of imports each time.
    demo = run_loader(
        ["demo", "--dir", str(warehouse), *DEMO_OPTIONS], env, folder / "demo-output", cwd=folder
    )
    assert demo.returncode == 0, demo.stderr
    env["AMPLITUDE_CATALOG"] = str(warehouse / "catalog.duckdb")
    return warehouse, env


def dbt_build(project: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `dbt build` in a dbt project folder whose profiles.yml sits beside it."""
    return subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "build", "--profiles-dir", ".", *extra],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
