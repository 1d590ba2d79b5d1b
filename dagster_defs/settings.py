"""What the code location needs to know when it loads: nothing secret.

Partitions must exist before any run, so the first hour, the export lag and the project ids are
read from the environment at load time; keys are read only by runs, through `dg.EnvVar`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loader.amplitude.config import DEFAULT_CATALOG, DEFAULT_LAKE
from loader.hours import parse_hour

#: Without AMPLITUDE_START the partitions begin where the emulator's demo data does.
DEFAULT_START = "2024-03-01"
#: A week of hourly partitions per backfill run: a year is about 52 runs.
DEFAULT_PARTITIONS_PER_RUN = 168


@dataclass(frozen=True)
class LocationSettings:
    """Non-secret settings of the code location.

    Attributes:
        start: First hour of the partitions.
        lag_hours: Export lag; the newest partition is the newest ready hour.
        project_ids: Configured project ids (several make a second partition dimension).
        projects_file: The projects file, if one is used.
        partitions_per_run: Hours per backfill run.
        lake_root: The lake.
        catalog_path: The DuckDB catalog.
        recheck_hours: Hours the daily re-check exports again (days are compacted after it).
        retention_hours: How long superseded files stay for readers of older snapshots.
    """

    start: datetime
    lag_hours: int
    project_ids: tuple[str, ...]
    projects_file: str | None
    partitions_per_run: int
    lake_root: str
    catalog_path: str
    recheck_hours: int
    retention_hours: float


def load_settings(env: dict[str, str] | None = None) -> LocationSettings:
    """Read the code location's settings from the environment.

    Args:
        env: The environment (default `os.environ`).

    Returns:
        The settings.
    """
    env = dict(os.environ if env is None else env)
    projects_file = env.get("AMPLITUDE_PROJECTS_FILE") or None
    if projects_file:
        document = tomllib.loads(Path(projects_file).read_text())
        ids = tuple(str(p["id"]) for p in document.get("project", []))
    else:
        ids = (env.get("AMPLITUDE_PROJECT_ID") or "",)
    return LocationSettings(
        start=parse_hour(env.get("AMPLITUDE_START") or DEFAULT_START),
        lag_hours=int(env.get("AMPLITUDE_EXPORT_LAG_HOURS") or 3),
        project_ids=tuple(i for i in ids if i) or ("",),
        projects_file=projects_file,
        partitions_per_run=int(
            env.get("AMPLITUDE_PARTITIONS_PER_RUN") or DEFAULT_PARTITIONS_PER_RUN
        ),
        lake_root=env.get("AMPLITUDE_LAKE") or DEFAULT_LAKE,
        catalog_path=env.get("AMPLITUDE_CATALOG") or DEFAULT_CATALOG,
        recheck_hours=int(env.get("AMPLITUDE_RECHECK_HOURS") or 24),
        retention_hours=float(env.get("AMPLITUDE_RETENTION_HOURS") or 24),
    )


SETTINGS = load_settings()
