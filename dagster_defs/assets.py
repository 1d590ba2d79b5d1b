"""The events asset and the catalog asset: each calls the library once per run."""

import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg

from dagster_defs.automation import AFTER_ANY_LOAD
from dagster_defs.facts import (
    drift,
    events_table_metadata,
    lake_figures,
    lake_location,
    publish_observations,
    run_metadata,
)
from dagster_defs.location import Location
from dagster_defs.logs import library_logs
from dagster_defs.partitions import hours_in_run, projects_in_run
from dagster_defs.resources import AmplitudeResource, LakeResource
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.catalog import catalog_version
from loader.errors import LoaderError
from loader.hours import hour_key

# Judged: a backfill must run as few runs of many hours (one export request serves many), which
# only `backfill_policy` gives; Dagster marks the parameter beta, and every run's process would
# print so. Only that warning is silenced.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`", category=dg.BetaWarning)


class EventsConfig(dg.Config):
    """How a run treats hours that are already loaded."""

    reload: bool = False
    """Replace loaded hours (default: keep them and load only missing ones)."""
    recheck: bool = False
    """Export loaded hours again and replace those whose content changed."""


def build_events(location: Location) -> dg.AssetsDefinition:
    """The events asset: one run loads the upload hours of its partitions.

    Args:
        location: The code location's settings and names.

    Returns:
        The asset, with its schema-drift check.
    """
    names = location.names

    @dg.asset(
        key=names.events,
        partitions_def=location.partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(
            max_partitions_per_run=location.settings.partitions_per_run
        ),
        pool=names.api_pool,
        group_name=names.group,
        kinds={"parquet", "python"},
        metadata=events_table_metadata(),
        # Hourly loads: stale when no hour has landed for the lag plus a few missed schedules.
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=location.settings.lag_hours + 6),
            warn_window=timedelta(hours=location.settings.lag_hours + 2),
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "schema_drift",
                asset=names.events,
                description="No top-level field appeared in these hours that earlier hours lacked.",
            )
        ],
    )
    def events(
        context: dg.AssetExecutionContext,
        config: EventsConfig,
        amplitude: AmplitudeResource,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        """Every raw event Amplitude exported for these upload hours, as Parquet in the lake."""
        first, last = hours_in_run(context)
        wanted = projects_in_run(context)
        projects = [
            p for p in amplitude.projects() if wanted is None or str(p.project_id) in wanted
        ]
        settings = lake.settings(amplitude)
        try:
            with library_logs(context):
                reports = sync_projects(
                    projects,
                    settings,
                    start=first,
                    end=last,
                    reload=config.reload,
                    recheck=config.recheck,
                    catalog=False,
                )
        except LoaderError as exc:
            raise dg.Failure(description=exc.describe()) from None
        new_fields, seen = drift(settings, reports)
        publish_observations(context, names.events, reports)
        return dg.MaterializeResult(
            metadata={
                **run_metadata(reports, first, last, single=len(context.partition_keys) == 1),
                "lake": lake_location(settings.lake_root),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="schema_drift",
                    passed=not new_fields,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "new_fields": ", ".join(new_fields) or "none",
                        "unknown_fields_seen": ", ".join(seen) or "none",
                        "hours": f"{hour_key(first)}..{hour_key(last)}",
                    },
                )
            ],
        )

    return events


def build_catalog(location: Location) -> dg.AssetsDefinition:
    """The catalog asset: the DuckDB file of views, rebuilt after any load.

    Args:
        location: The code location's settings and names.

    Returns:
        The asset.
    """
    names = location.names

    @dg.asset(
        key=names.catalog,
        # After an erasure too: the catalog, then the dbt models' tables, follow it.
        deps=[names.events, *names.snapshot_keys.values(), names.privacy],
        pool=names.catalog_pool,
        group_name=names.group,
        kinds={"duckdb"},
        automation_condition=AFTER_ANY_LOAD,
    )
    def catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        """The DuckDB catalog of views over the newest snapshot of the lake, swapped in whole."""
        settings = lake.settings()
        with library_logs(context):
            changed = refresh_catalog(settings)
        snapshot = catalog_version(Path(settings.catalog_path))
        context.log.info(
            "catalog %s, reading snapshot %d",
            "rebuilt" if changed else "already up to date",
            snapshot,
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(Path(settings.catalog_path).resolve())),
                "rebuilt": changed,
                "lake_snapshot": snapshot,
                **lake_figures(settings),
            }
        )

    return catalog
