"""Opening a project's lake (adopting one an earlier version wrote) and vacuuming it.

Apart from the runner so that the privacy commands use the same two steps without importing
the loads.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta

from loader.amplitude.config import LoaderSettings
from loader.amplitude.hour_manifests import UNIQUE
from loader.lake import Lake
from loader.snapshot.log import CommitLog
from loader.snapshot.migrate import migrate_legacy
from loader.snapshot.vacuum import VacuumReport, vacuum


def open_lake(settings: LoaderSettings) -> Lake:
    """Open the lake, adopting it first if an earlier version wrote it (once).

    Args:
        settings: Where the lake is.

    Returns:
        The lake.
    """
    lake = Lake(settings.lake_root)
    lake.check_access()
    # Only a lake with source folders but no commit log has anything to adopt; a new or empty
    # lake gets no scratch folder.
    written = any(not name.startswith("_") for name in lake.names(lake.root))
    if written and not CommitLog(lake).versions():
        scratch = lake.scratch(uuid.uuid4().hex)
        try:
            migrate_legacy(lake, scratch, UNIQUE)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return lake


def vacuum_lake(settings: LoaderSettings, *, now: datetime | None = None) -> VacuumReport:
    """Delete the files that no snapshot younger than the retention references.

    Args:
        settings: Where the lake is, and the retention.
        now: The current moment (tests pin it).

    Returns:
        What was removed.
    """
    return vacuum(
        open_lake(settings),
        timedelta(hours=settings.retention_hours),
        now,
        erasure_retention=timedelta(hours=settings.erasure_retention_hours),
    )
