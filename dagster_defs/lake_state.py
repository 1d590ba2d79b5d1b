"""The lake is the state: hours and snapshots loaded outside Dagster show up as materialized.

An hour loaded by the command line (or by another orchestrator) is as loaded as one a Dagster run
loaded: the newest snapshot of the lake lists it. This sensor reads that snapshot and reports a
runless materialization, which Dagster's docs recommend for assets updated outside its runs, for
every loaded hour Dagster does not know yet, for each snapshot table that Dagster never saw
materialized, and for the catalog a command built at the newest snapshot. Those reports are
updates like any other, so the catalog (if behind) and the dbt models downstream refresh after
them (see `AFTER_ANY_LOAD`). The sensor only reads the lake, so it runs
from the start; `AMPLITUDE_DAGSTER_AUTOMATION` concerns what calls Amplitude.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_defs.location import Location
from dagster_defs.resources import LakeResource
from loader.amplitude.config import LoaderSettings
from loader.amplitude.events import SOURCE, TABLE
from loader.catalog import catalog_lake, catalog_version
from loader.hours import hour_from_key
from loader.lake import Lake
from loader.manifest import LOAD_LOG, ManifestStore
from loader.pinned import PinnedLake
from loader.snapshot.layout import TableLayout

#: Reports per tick: a first tick over years of hours catches up over a few ticks.
MAX_REPORTS = 5000


def _partition(hour_key: str, project: str, by_project: bool) -> str:
    """The events partition of a lake hour (`YYYY-MM-DDTHH`) of one project."""
    hour = f"{hour_from_key(hour_key):%Y-%m-%d-%H:%M}"
    if by_project:
        return dg.MultiPartitionKey({"hour": hour, "project": project})
    return hour


def loaded_partitions(pinned: PinnedLake, by_project: bool) -> dict[str, int]:
    """The events partitions the load logs list as loaded, with their rows.

    Args:
        pinned: The lake's tables, pinned.
        by_project: Whether the partitions are hours by project.

    Returns:
        Partition key to rows (an hour of several projects, under one-dimensional partitions,
        sums their rows).
    """
    partitions: dict[str, int] = {}
    for events in pinned.tables_named(SOURCE, TABLE):
        layout = TableLayout(pinned.lake, SOURCE, events.project, TABLE)
        files = pinned.urls(pinned.table(layout.sibling(LOAD_LOG).key).files)
        for hour_key, manifest in ManifestStore(layout, files).manifests().items():
            key = _partition(hour_key, events.project, by_project)
            partitions[key] = partitions.get(key, 0) + manifest.rows
    return partitions


def build_lake_state(location: Location) -> dg.SensorDefinition:
    """The sensor that reports what the lake holds and Dagster does not know.

    Args:
        location: The code location's settings and names.

    Returns:
        The sensor.
    """
    names = location.names

    @dg.sensor(
        name=names.name("lake_state"),
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks hours and snapshots loaded outside Dagster (the command line) as"
        " materialized, from the lake's newest snapshot.",
    )
    def lake_state(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SkipReason:
        """Report what the lake holds and Dagster does not know."""
        settings = lake.settings()
        snapshot = PinnedLake.newest(Lake(settings.lake_root), [SOURCE])
        valid = set(
            location.partitions.get_partition_keys(dynamic_partitions_store=context.instance)
        )
        known = context.instance.get_materialized_partitions(names.events)
        new = {
            k: rows
            for k, rows in loaded_partitions(snapshot, location.several_projects).items()
            if k in valid
        }
        missing = sorted(set(new) - known)[:MAX_REPORTS]
        for key in missing:
            context.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    names.events,
                    partition=key,
                    description="loaded outside Dagster; found in the lake",
                    metadata={"dagster/row_count": new[key], "lake_snapshot": snapshot.version},
                )
            )
        tables = []
        for table, asset_key in names.snapshot_keys.items():
            held = [t for t in snapshot.tables_named(SOURCE, table) if t.files]
            if held and context.instance.get_latest_materialization_event(asset_key) is None:
                context.instance.report_runless_asset_event(
                    dg.AssetMaterialization(
                        asset_key,
                        description="snapshotted outside Dagster; found in the lake",
                        metadata={"lake_snapshot": snapshot.version, "projects": len(held)},
                    )
                )
                tables.append(table)
        built = _catalog_built_outside(context.instance, names.catalog, settings, snapshot.version)
        return dg.SkipReason(
            f"lake snapshot {snapshot.version}: reported {len(missing)} hour(s) and"
            f" {len(tables)} snapshot table(s) loaded outside Dagster"
            + (f", and the catalog of snapshot {built} built outside it" if built >= 0 else "")
        )

    return lake_state


def _catalog_built_outside(
    instance: dg.DagsterInstance, key: dg.AssetKey, settings: LoaderSettings, newest: int
) -> int:
    """Report the catalog as materialized if a command built it newer than Dagster saw it.

    Only a catalog of the newest snapshot: one behind is left to the automation, which
    rebuilds it (a report in the same tick as its parents' would count as the refresh).

    Returns:
        The snapshot the reported catalog reads; -1 if nothing was reported (no catalog, one of
        another lake or of an older snapshot, or one Dagster already knows).
    """
    path = Path(settings.catalog_path)
    lake = Lake(settings.lake_root)
    version = catalog_version(path)
    if version != newest or catalog_lake(path) != lake.address:
        return -1
    latest = instance.get_latest_materialization_event(key)
    materialization = latest.asset_materialization if latest else None
    seen = materialization.metadata.get("lake_snapshot") if materialization else None
    if isinstance(seen, dg.IntMetadataValue) and (seen.value or 0) >= version:
        return -1
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            key,
            description="built outside Dagster (the command line); found beside the lake",
            metadata={
                "path": dg.MetadataValue.path(str(path.resolve())),
                "lake_snapshot": version,
            },
        )
    )
    return version
