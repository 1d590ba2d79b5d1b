"""What a run reports to Dagster: metadata, per-partition observations and schema drift."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg

from loader.amplitude.config import LoaderSettings
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.hour_status import hour_figures, hour_statuses
from loader.amplitude.runner import lake_projects
from loader.amplitude.schema import FIELDS, LATER_COPY, LOADER_COLUMNS, SQL_TYPES
from loader.amplitude.sync_report import SyncReport
from loader.hours import hour_key
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.snapshot.layout import TableLayout


def events_table_metadata() -> dict[str, object]:
    """The events table as Dagster shows it: its columns, types and meanings, and its view.

    Returns:
        Definition metadata for the events asset.
    """
    key = dg.TableColumnConstraints(nullable=False, unique=True)
    columns = [
        dg.TableColumn(
            f.column,
            SQL_TYPES[f.kind],
            description=f"{f.description} (export key `{f.key}`)",
            constraints=key if f.column == "uuid" else None,
        )
        for f in FIELDS
    ]
    columns += [
        dg.TableColumn(name, sql_type, description=text, constraints=dg.TableColumnConstraints())
        for name, sql_type, text in LOADER_COLUMNS
        if name != LATER_COPY  # `events` leaves the later copies out, and their flag
    ]
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": "amplitude.events",
    }


def lake_location(lake_root: str) -> dg.MetadataValue:
    """A link to the lake: its folder, or its URL on object storage."""
    if "://" in lake_root:
        return dg.MetadataValue.url(lake_root)
    return dg.MetadataValue.path(str(Path(lake_root).resolve()))


def lake_figures(settings: LoaderSettings) -> dict[str, int]:
    """The status page's figures over every project of the lake, as metadata Dagster plots.

    Args:
        settings: Where the lake is, the start and the lag.

    Returns:
        `hours_with_events`, `hours_without_events`, `missing_hours`, `failed_hours`, `rows`
        and `rejected_lines`.
    """
    hours = [h for p in lake_projects(settings) for h in hour_statuses(p, settings)]
    return {name.replace(" ", "_"): value for name, value in hour_figures(hours).items()}


def run_metadata(
    reports: list[SyncReport], first: datetime, last: datetime, *, single: bool
) -> dict[str, dg.RawMetadataValue]:
    """Summarise a run's loads.

    Dagster copies one result's metadata to every partition of a range run, so window totals are
    under their own keys and `dagster/row_count` is set only for single-partition runs.

    Args:
        reports: One report per project.
        first: First hour of the run.
        last: Last hour of the run.
        single: Whether the run covers one partition.

    Returns:
        Metadata.
    """
    rows = sum(r.rows for r in reports)
    seconds = max(sum(r.seconds for r in reports), 1e-9)
    json_bytes = sum(r.bytes_json for r in reports)
    metadata: dict[str, dg.RawMetadataValue] = {
        "hours": f"{hour_key(first)}..{hour_key(last)}",
        "hours_loaded": sum(r.hours_loaded for r in reports),
        "hours_empty": sum(r.hours_empty for r in reports),
        "hours_unchanged": sum(r.unchanged for r in reports),
        "window_rows": rows,
        "rejects": sum(r.rejects for r in reports),
        "megabytes_downloaded": round(sum(r.bytes_downloaded for r in reports) / 1e6, 3),
        "export_requests": sum(r.requests for r in reports),
        "splits": sum(r.splits for r in reports),
        "json_mb_per_second": round(json_bytes / 1e6 / seconds, 2),
        "events_per_second": round(rows / seconds),
        "projects": ", ".join(r.project for r in reports),
    }
    if single:
        metadata["dagster/row_count"] = rows
    return metadata


def publish_observations(
    context: dg.AssetExecutionContext, key: dg.AssetKey, reports: list[SyncReport]
) -> None:
    """Record each partition's row count as an observation of that partition.

    Args:
        context: The asset's context.
        key: The asset.
        reports: The run's reports.
    """
    if len(context.partition_keys) <= 1:
        return
    rows_by_hour: dict[str, int] = {}
    for report in reports:
        for hour, rows in report.rows_by_hour.items():
            partition_key = f"{hour:%Y-%m-%d-%H:%M}"  # the hourly partition key format
            rows_by_hour[partition_key] = rows_by_hour.get(partition_key, 0) + rows
    for partition in context.partition_keys:
        hour_rows = rows_by_hour.get(partition.split("|")[0])
        if hour_rows is not None:
            context.log_event(
                dg.AssetObservation(
                    asset_key=key, partition=partition, metadata={"rows": hour_rows}
                )
            )


def drift(settings: LoaderSettings, reports: list[SyncReport]) -> tuple[list[str], list[str]]:
    """Find top-level fields that the hours of this run carry and earlier hours did not.

    Args:
        settings: Where the lake is.
        reports: The run's reports (their published hours).

    Returns:
        (new fields, all unknown fields seen in this run's hours), sorted.
    """
    lake = Lake(settings.lake_root)
    new: set[str] = set()
    seen: set[str] = set()
    for report in reports:
        if not report.published:
            continue
        store = ManifestStore(TableLayout(lake, SOURCE, report.project_id, TABLE))
        first = min(report.published)
        before: set[str] = set()
        for hour in sorted(h for h in store.loaded_hours() if h < first)[-24 * 7 :]:
            manifest = store.read(hour)
            if manifest:
                before.update(manifest.extra.get("unknown_keys", []))
        for hour in report.published:
            manifest = store.read(hour)
            if manifest:
                seen.update(manifest.extra.get("unknown_keys", []))
        if before or store.loaded_hours() - set(report.published):
            new |= seen - before
    return sorted(new), sorted(seen)
