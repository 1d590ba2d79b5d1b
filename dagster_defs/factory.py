"""`amplitude_definitions`: everything one Amplitude loader registers, for given settings.

This repository's code location is `amplitude_definitions()` on the environment's settings.
Another Dagster project builds its own with other settings, a key prefix and a group, once per
lake (for example one per data region), and merges it with its definitions:

    import dagster as dg
    from dagster_defs.factory import amplitude_definitions
    from loader.amplitude.settings import AmplitudeSettings
from loader.sqlfiles import sql_root

#: The dbt project shipped with the package: `sql/dbt` of a checkout, `loader/sql/dbt` of a wheel.
DBT_PROJECT = sql_root() / "dbt"

    eu = amplitude_definitions(
        AmplitudeSettings.read(projects_file="eu.toml", lake="s3://lake/eu", region="eu"),
        key_prefix="amplitude_eu",
    )
    defs = dg.Definitions.merge(eu, my_definitions)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from dagster_defs.assets import build_catalog, build_events
from dagster_defs.automation import build_event_schedules, build_events_job, build_sensors
from dagster_defs.checks import build_event_checks
from dagster_defs.keys import Names
from dagster_defs.lake_state import build_lake_state
from dagster_defs.location import Location
from dagster_defs.privacy import build_privacy
from dagster_defs.resources import build_resources
from dagster_defs.settings import LocationSettings
from dagster_defs.snapshots import build_snapshots
from dagster_defs.vacuum import build_vacuum
from loader.amplitude.settings import AmplitudeSettings
from loader.sqlfiles import sql_root

#: The dbt project shipped with the package: `sql/dbt` of a checkout, `loader/sql/dbt` of a wheel.
DBT_PROJECT = sql_root() / "dbt"


def amplitude_definitions(
    settings: AmplitudeSettings | None = None,
    *,
    key_prefix: str | Sequence[str] = "amplitude",
    group: str | None = None,
    dbt_project_dir: Path | None = DBT_PROJECT,
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
) -> dg.Definitions:
    """Build the assets, checks, jobs, schedules, sensors and resources of one loader.

    Args:
        settings: Where the lake and catalog are, the projects, the first hour and the rest
            (default: `AmplitudeSettings.read()`, the environment's). Keys are never taken from
            here into the definitions: runs read them from the environment through `dg.EnvVar`
            (`AMPLITUDE_API_KEY`, `AMPLITUDE_SECRET_KEY`, or the variables a projects file names).
        key_prefix: The asset key prefix (`"eu/amplitude"` or `["eu", "amplitude"]`); job,
            schedule, sensor and pool names start with it too.
        group: The asset group (default: the prefix joined by `_`).
        dbt_project_dir: The dbt project to run on the catalog, or None for no dbt models.
        executor: How a run executes its steps. By default all in the run's process: a load's
            steps (the events, four checks, the catalog) take about a second together, and the
            multiprocess executor started a Python process for each that took several seconds
            to import Dagster and the definitions. None leaves Dagster's default.

    Returns:
        The definitions; resources are named `amplitude`, `lake` and `dbt`.
    """
    location = Location(
        LocationSettings.of(settings or AmplitudeSettings.read()), Names.of(key_prefix, group)
    )
    events_job = build_events_job(location)
    snapshots, snapshots_job, daily_snapshots = build_snapshots(location)
    vacuum_job, daily_vacuum = build_vacuum(location)
    privacy, privacy_check, privacy_job, daily_privacy = build_privacy(location)
    assets: list[dg.AssetsDefinition] = [
        build_events(location),
        build_catalog(location),
        snapshots,
        privacy,
    ]
    resources: dict[str, object] = dict(build_resources(location.settings))
    if dbt_project_dir is not None:
        # Imported here: dagster-dbt and dbt-core take about 3 s to import, in every run's
        # process; a location without dbt models does without.
        from dagster_defs.dbt import build_dbt_models, dbt_resource

        assets.append(build_dbt_models(location.names, dbt_project_dir))
        resources["dbt"] = dbt_resource(dbt_project_dir)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_event_checks(location.names), privacy_check],
        jobs=[events_job, snapshots_job, vacuum_job, privacy_job],
        schedules=[
            *build_event_schedules(location, events_job),
            daily_snapshots,
            daily_vacuum,
            daily_privacy,
        ],
        sensors=[*build_sensors(location), build_lake_state(location)],
        resources=resources,
        executor=executor,
    )
