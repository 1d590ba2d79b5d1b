"""Each wanted hour of a project and what the lake says of it: rows, rejects, missing, failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.lake_access import open_lake
from loader.amplitude.source_clock import source_now
from loader.catalog import lake_session, quote_list
from loader.hours import hour_key, hours_between, newest_ready_hour, utc_now
from loader.manifest import ManifestStore
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

    The rejects come from the snapshot; only hours recorded before it kept them have their
    manifests read (in one query).

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
    state = store.state
    rejects = {key: entry.rejected for key, entry in state.hours.items()}
    manifests = [
        lake.url(lake.join(e.manifest))
        for e in state.hours.values()
        if e.rejects and not e.rejected
    ]
    if manifests:
        with lake_session(lake.duckdb_filesystem) as con:
            rejects |= dict(
                con.execute(
                    f"SELECT hour, rejects FROM read_json({quote_list(manifests)},"
                    " columns = {hour: 'VARCHAR', rejects: 'BIGINT'})"
                ).fetchall()
            )
    loaded = sorted(store.loaded_hours())
    newest = newest_ready_hour(source_now(layout, now or utc_now()), settings.lag_hours)
    first = project.start or settings.start or (loaded[0] if loaded else None)
    if first is None:
        return []
    hours = sorted(set(hours_between(min(first, *loaded[:1]), newest)) | set(loaded))
    out = []
    for hour in hours:
        key = hour_key(hour)
        entry = state.hours.get(key)
        if entry is not None:
            kind = "loaded" if entry.rows else "empty"
            out.append(HourStatus(hour, kind, entry.rows, int(rejects.get(key, 0))))
        elif key in state.quarantine:
            out.append(HourStatus(hour, "failed"))
        else:
            out.append(HourStatus(hour, "missing"))
    return out
