"""Each wanted hour of a project and what the lake says of it: rows, rejects, missing, failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.lake_access import open_lake
from loader.amplitude.source_clock import source_now
from loader.catalog import lake_session, quote_list
from loader.delta.tables import DeltaTables
from loader.hours import hour_key, hours_between, newest_ready_hour, utc_now
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.pinned import pin
from loader.snapshot.layout import TableLayout


@dataclass(frozen=True)
class HourStatus:
    """One upload hour of one project.

    Attributes:
        hour: The hour.
        state: `loaded` (with rows), `empty` (loaded, no rows), `failed` (quarantined: too many
            rejects), or `missing` (wanted, ready, not loaded).
        rows: Rows loaded.
        rejects: Lines rejected (malformed, repeated uuids).
    """

    hour: datetime
    state: str
    rows: int = 0
    rejects: int = 0


#: Each state, as a figure's name.
STATE_FIGURES = {
    "loaded": "hours with events",
    "empty": "hours without events",
    "missing": "missing hours",
    "failed": "failed hours",
}


def hour_figures(hours: list[HourStatus]) -> dict[str, int]:
    """The figures of the status page: hours in each state, rows and rejected lines.

    Args:
        hours: Hour statuses (of one project or several).

    Returns:
        Figure name to value, in the page's order.
    """
    figures = {label: sum(1 for h in hours if h.state == s) for s, label in STATE_FIGURES.items()}
    figures["rows"] = sum(h.rows for h in hours)
    figures["rejected lines"] = sum(h.rejects for h in hours)
    return figures


def hour_statuses(
    project: ProjectConfig, settings: LoaderSettings, *, now: datetime | None = None
) -> list[HourStatus]:
    """Every hour from the project's start (or its first loaded hour) to the newest ready hour.

    Loaded hours and their rejects come from the load log; failed hours from the rejects
    table.

    Args:
        project: The project.
        settings: Where the lake is, the start and the lag.
        now: The current moment.

    Returns:
        The hours, oldest first.
    """
    lake = open_lake(settings)
    layout = TableLayout(lake, SOURCE, str(project.project_id), TABLE)
    store = ManifestStore(layout)
    manifests = store.manifests()
    rejects = {key: m.rejects for key, m in manifests.items()}
    failed = _failed_hours(lake, layout)
    loaded = sorted(store.loaded_hours())
    newest = newest_ready_hour(source_now(layout, now or utc_now()), settings.lag_hours)
    first = project.start or settings.start or (loaded[0] if loaded else None)
    if first is None:
        return []
    hours = sorted(set(hours_between(min(first, *loaded[:1]), newest)) | set(loaded))
    out = []
    for hour in hours:
        key = hour_key(hour)
        manifest = manifests.get(key)
        if manifest is not None:
            kind = "loaded" if manifest.rows else "empty"
            out.append(HourStatus(hour, kind, manifest.rows, int(rejects.get(key, 0))))
        elif hour in failed:
            out.append(HourStatus(hour, "failed"))
        else:
            out.append(HourStatus(hour, "missing"))
    return out


def _failed_hours(lake: Lake, layout: TableLayout) -> set[datetime]:
    """Hours whose last load failed (too many rejects): their rejected lines are not loaded."""
    rejects = pin(DeltaTables(lake), layout.sibling(f"{layout.table}_rejects").key)
    if not rejects.files:
        return set()
    with lake_session(lake.duckdb_filesystem) as con:
        con.execute("SET TimeZone = 'UTC'")
        found = con.execute(
            "SELECT DISTINCT upload_hour FROM read_parquet("
            f"{quote_list([lake.url(lake.join(p)) for p in rejects.files])},"
            " hive_partitioning = false) WHERE NOT loaded"
        ).fetchall()
    return {hour.astimezone(UTC) for (hour,) in found}
