"""Opening a project's lake and vacuuming it.

Apart from the runner so that the privacy commands use the same two steps without importing
the loads.
"""

from __future__ import annotations

from datetime import timedelta

from loader.amplitude.config import LoaderSettings
from loader.errors import LoaderError
from loader.lake import Lake
from loader.vacuum import VacuumReport, vacuum_lake_tables


def open_lake(settings: LoaderSettings) -> Lake:
    """Open the lake.

    Args:
        settings: Where the lake is.

    Returns:
        The lake.

    Raises:
        LoaderError: If an earlier version wrote it (its own commit log, `_commits/`).
    """
    lake = Lake(settings.lake_root)
    lake.check_access()
    names = lake.names(lake.root)
    if "_commits" in names:
        raise LoaderError(
            f"the lake {lake.address} was written by an earlier version (its own commit log,"
            " _commits/), and this one reads Delta tables",
            remedy="convert it with the version that converts lakes, or load into a new lake",
        )
    return lake


def vacuum_lake(settings: LoaderSettings) -> VacuumReport:
    """Delete the files that no version younger than the retention needs, table by table.

    Args:
        settings: Where the lake is, and the retentions.

    Returns:
        What was removed.
    """
    return vacuum_lake_tables(
        open_lake(settings),
        timedelta(hours=settings.retention_hours),
        timedelta(hours=settings.erasure_retention_hours),
    )
