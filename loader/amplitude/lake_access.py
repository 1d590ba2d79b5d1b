"""Opening a project's lake (converting one an earlier version wrote) and vacuuming it.

Apart from the runner so that the privacy commands use the same two steps without importing
the loads.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta

from loader.amplitude.config import LoaderSettings
from loader.amplitude.hour_manifests import EVENTS_SPEC, TABLE, UNIQUE
from loader.errors import LoaderError
from loader.lake import Lake
from loader.legacy.convert import CONVERTED, HourlyTable, convert_legacy, needs_conversion
from loader.vacuum import VacuumReport, vacuum_lake_tables


def open_lake(settings: LoaderSettings) -> Lake:
    """Open the lake, converting it to Delta tables first if an earlier version wrote it.

    Args:
        settings: Where the lake is.

    Returns:
        The lake.

    Raises:
        LoaderError: If a version older than the lake's own commit log wrote it.
    """
    lake = Lake(settings.lake_root)
    lake.check_access()
    if needs_conversion(lake):
        scratch = lake.scratch(uuid.uuid4().hex)
        try:
            convert_legacy(
                lake,
                scratch,
                {TABLE: HourlyTable(EVENTS_SPEC, UNIQUE)},
                log_retention=settings.log_retention,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    elif any(
        folder.startswith("project=")
        for source in lake.names(lake.root)
        if not source.startswith(("_", "."))
        for folder in lake.names(lake.join(source))
    ) and not lake.exists(lake.join(CONVERTED)):
        raise LoaderError(
            f"the lake {lake.address} was written by a version older than its commit log,"
            " which this one cannot convert",
            remedy="run amplitude-loader 0.1 on it once (it adopts the lake), then this version"
            " converts it; or load into a new lake",
        )
    return lake


def vacuum_lake(settings: LoaderSettings, *, now: datetime | None = None) -> VacuumReport:
    """Delete the files that no version younger than the retention needs, table by table.

    Args:
        settings: Where the lake is, and the retentions.
        now: The current moment (tests pin a later one).

    Returns:
        What was removed.
    """
    return vacuum_lake_tables(
        open_lake(settings),
        timedelta(hours=settings.retention_hours),
        timedelta(hours=settings.erasure_retention_hours),
        now,
    )
