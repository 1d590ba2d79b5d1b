"""Running loads of several projects and reporting their state.

This is the one code path behind the command line and the Dagster assets.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loader.amplitude.catalog_views import amplitude_views
from loader.amplitude.config import DEFAULT_CATALOG, LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE, TABLE, EventsLoader
from loader.amplitude.lake_access import open_lake
from loader.amplitude.schema import LATER_COPY
from loader.amplitude.setting_names import named
from loader.amplitude.source_clock import source_now
from loader.amplitude.sync_report import SyncReport
from loader.catalog import (
    catalog_lake,
    lake_session,
    publish_catalog,
    quote_list,
)
from loader.delta.tables import DeltaTables
from loader.errors import ConfigError, LoaderError, explain_unexpected, stop_behind
from loader.hours import (
    contiguous_ranges,
    hour_key,
    hours_between,
    newest_ready_hour,
    utc_now,
)
from loader.manifest import LOAD_LOG, ManifestStore
from loader.pinned import PinnedLake, pin, table_keys
from loader.progress import Progress
from loader.publish import DAY
from loader.secrets import Secret
from loader.snapshot.layout import TableLayout, project_of

log = logging.getLogger(__name__)

LAST_RUN = "last_run.json"


def refresh_catalog(settings: LoaderSettings, *, force: bool = False) -> bool:
    """Make the DuckDB catalog read the newest snapshot of the lake.

    Args:
        settings: Where the lake and the catalog are.
        force: Rebuild even if nothing changed.

    Returns:
        True if the catalog file was replaced.
    """
    lake = open_lake(settings)
    pinned = PinnedLake.newest(lake, [SOURCE])
    url = lake.address
    rebuilt = publish_catalog(
        Path(settings.catalog_path),
        amplitude_views(pinned),
        version=pinned.version,
        lake=url,
        force=force,
        filesystem=lake.duckdb_filesystem,
    )
    _tell_of_a_left_catalog(Path(settings.catalog_path), url)
    return rebuilt


def _tell_of_a_left_catalog(catalog: Path, lake: str) -> None:
    """Say so when the default catalog still reads this lake but another catalog now does.

    A lake named without a catalog used to share `warehouse/catalog.duckdb`; now it has its
    own beside it. Sessions and dbt profiles still pointed at the old file would read a frozen
    snapshot without a word.
    """
    old = Path(DEFAULT_CATALOG)
    if old.resolve() == catalog.resolve() or not old.exists():
        return
    if catalog_lake(old) in (lake, None):  # None: built before catalogs recorded their lake
        log.warning(
            "the catalog of lake %s is %s; %s may read it too but is no longer refreshed:"
            " point sessions and AMPLITUDE_CATALOG (dbt) at %s, or delete it",
            lake,
            catalog,
            old,
            catalog,
        )


def _record_run(layout: TableLayout, report: SyncReport | None, error: str | None) -> None:
    record = {
        "finished_at": datetime.now(UTC).isoformat(),
        "ok": error is None,
        "error": error,
        "report": None
        if report is None
        else {k: v for k, v in asdict(report).items() if k not in ("published", "rows_by_hour")},
    }
    lake = layout.lake
    try:
        lake.write_bytes(
            lake.join(layout.state_file(LAST_RUN)), json.dumps(record, indent=1).encode()
        )
    except OSError as exc:  # a full disk: the error itself still reaches the user
        log.error("could not record the run's outcome in %s: %s", layout.state_file(LAST_RUN), exc)


def check_catalog_writable(settings: LoaderSettings) -> None:
    """Find a catalog folder that cannot be written before anything is downloaded.

    Args:
        settings: Where the catalog is.

    Raises:
        ConfigError: If the folder cannot be created or written.
    """
    folder = Path(settings.catalog_path).resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the catalog folder {folder} cannot be written ({exc.strerror or exc})",
            remedy=f"make it writable, or point {named('catalog')} elsewhere",
        ) from None


def sync_projects(
    projects: list[ProjectConfig],
    settings: LoaderSettings,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    reload: bool = False,
    recheck: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
    catalog: bool = True,
) -> list[SyncReport]:
    """Load every project, then refresh the catalog.

    A project that fails does not stop the others; the failures are raised together at the end,
    after the catalog shows everything that did load.

    Args:
        projects: The projects.
        settings: Loader settings.
        start: First hour (default: each project's configured start).
        end: Last hour, included (default: the newest ready hour).
        reload: Replace hours already loaded.
        recheck: Export loaded hours again and replace those whose content changed.
        now: The current moment (tests pin it).
        progress: Progress sink.
        catalog: Refresh the catalog afterwards.

    Returns:
        One report per project.

    Raises:
        LoaderError: If any project failed; its message has each project's explanation.
    """
    reports: list[SyncReport] = []
    errors: list[LoaderError] = []
    lake = open_lake(settings)
    if catalog:  # a crash may have left it behind the newest snapshot
        check_catalog_writable(settings)
        refresh_catalog(settings)
    for project in projects:
        layout = TableLayout(lake, SOURCE, str(project.project_id), TABLE)
        loader: EventsLoader | None = None
        try:
            loader = EventsLoader(
                project,
                settings,
                now=now,
                progress=progress,
                after_commit=(lambda: refresh_catalog(settings)) if catalog else None,
            )
            report = loader.sync(start, end, reload=reload, recheck=recheck)
        except BaseException as exc:  # every failure is recorded before it ends the process
            window = loader.current if loader else None
            hours = str(window) if window else None
            stop = stop_behind(exc)  # an interrupt, whatever error it caused, is an interrupt
            error = (
                exc.locate(project=project.label, hours=hours)  # what the raiser did not know
                if isinstance(exc, LoaderError) and stop is None
                else explain_unexpected(exc, project=project.label, hours=hours)
            )
            _record_run(layout, None, error.describe())
            if stop is not None and stop is not exc:
                raise stop from exc
            if not isinstance(exc, Exception):  # an interrupt still interrupts
                raise
            if not isinstance(exc, LoaderError):
                log.debug("unexpected failure", exc_info=exc)
            errors.append(error)
            continue
        _record_run(layout, report, None)
        reports.append(report)
    if catalog:
        refresh_catalog(settings)
    if errors:
        raise LoaderError.together(errors)
    return reports


@dataclass
class ProjectStatus:
    """The state of one project's events in the lake.

    Attributes:
        project: Label.
        start: First hour wanted.
        newest_ready: Newest hour that could be loaded now.
        loaded_ranges: Inclusive ranges of loaded hours.
        gaps: Inclusive ranges of hours wanted but not loaded.
        hours_loaded: Loaded hours.
        hours_empty: Loaded hours without rows.
        rows: Rows in the lake (later copies of re-exported uuids included).
        rejects: Rejected lines that are not events (malformed, not UTF-8, too long).
        repeated_uuids: Lines rejected because their uuid was repeated within the hour.
        quarantined: Hours that failed (too many rejects): not loaded, their rejects readable.
        duplicate_uuids: Later copies of uuids exported in two upload hours (hidden by `events`).
        duplicate_examples: A few of those uuids with the hour of their later copy.
        last_loaded_at: When an hour was last published.
        last_run: The last sync's outcome.
        snapshot: The committed snapshot this status describes (readers see the same).
        days_compacted: Upload days read from one compacted file.
    """

    project: str
    start: str | None
    newest_ready: str
    loaded_ranges: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    hours_loaded: int = 0
    hours_empty: int = 0
    rows: int = 0
    rejects: int = 0
    repeated_uuids: int = 0
    quarantined: list[str] = field(default_factory=list)
    duplicate_uuids: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    last_loaded_at: str | None = None
    last_run: dict[str, object] | None = None
    snapshot: int = 0
    days_compacted: int = 0


def recheck_projects(
    projects: list[ProjectConfig],
    settings: LoaderSettings,
    hours: int,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> list[SyncReport]:
    """Export each project's newest `hours` loaded hours again; replace those that changed.

    The window ends at the project's newest loaded hour, not at the clock's newest ready hour:
    on a lake that stopped loading months ago a re-check must not load a few isolated new hours.
    A project with nothing loaded is skipped.

    Args:
        projects: The projects.
        settings: Loader settings.
        hours: How many hours, back from the newest loaded one.
        now: The current moment (tests pin it).
        progress: Progress sink.

    Returns:
        One report per project that has loaded hours.
    """
    lake = open_lake(settings)
    newest = newest_ready_hour(now or utc_now(), settings.lag_hours)
    reports: list[SyncReport] = []
    for project in projects:
        layout = TableLayout(lake, SOURCE, str(project.project_id), TABLE)
        loaded = [h for h in ManifestStore(layout).loaded_hours() if h <= newest]
        if not loaded:
            log.warning("project %s: nothing loaded yet, so nothing to re-check", project.label)
            continue
        last = max(loaded)
        reports += sync_projects(
            [project],
            settings,
            start=last - timedelta(hours=hours - 1),
            end=last,
            recheck=True,
            now=now,
            progress=progress,
        )
    return reports


def _ranges(hours: list[datetime]) -> list[str]:
    return [
        hour_key(a) if a == b else f"{hour_key(a)}..{hour_key(b)}"
        for a, b in contiguous_ranges(sorted(hours))
    ]


def lake_projects(settings: LoaderSettings) -> list[ProjectConfig]:
    """The projects whose events the lake holds, for commands that only read it.

    Args:
        settings: Where the lake is.

    Returns:
        One project per id found, without keys.
    """
    lake = open_lake(settings)
    ids = sorted(
        int(project)
        for key in table_keys(lake, [SOURCE])
        if key.endswith(f"/{TABLE}") and (project := project_of(key.split("/")[1]))
    )
    return [ProjectConfig(project_id=i, api_key=Secret(""), secret_key=Secret("")) for i in ids]


def project_status(
    project: ProjectConfig, settings: LoaderSettings, *, now: datetime | None = None
) -> ProjectStatus:
    """Describe what is loaded for one project.

    Args:
        project: The project.
        settings: Loader settings.
        now: The current moment.

    Returns:
        The project's status.
    """
    lake = open_lake(settings)
    layout = TableLayout(lake, SOURCE, str(project.project_id), TABLE)
    tables = DeltaTables(lake)
    events = pin(tables, layout.key)
    log_files = pin(tables, layout.sibling(LOAD_LOG).key)
    store = ManifestStore(layout, [lake.url(lake.join(p)) for p in log_files.files])
    loaded = sorted(store.loaded_hours())
    newest = newest_ready_hour(source_now(layout, now or utc_now()), settings.lag_hours)
    first = project.start or settings.start or (loaded[0] if loaded else None)
    status = ProjectStatus(
        project=project.label,
        start=hour_key(first) if first else None,
        newest_ready=hour_key(newest),
        loaded_ranges=_ranges(loaded),
        hours_loaded=len(loaded),
    )
    if first:
        loaded_set = set(loaded)
        status.gaps = _ranges([h for h in hours_between(first, newest) if h not in loaded_set])
    status.snapshot = PinnedLake.newest(lake, [SOURCE]).version
    days = [f.split(f"{DAY}=", 1)[1].split("/", 1)[0] for f in events.files if f"{DAY}=" in f]
    full = {d for d, n in Counter(h.date().isoformat() for h in loaded).items() if n == 24}
    status.days_compacted = sum(1 for d, n in Counter(days).items() if n == 1 and d in full)
    rejects = pin(tables, layout.sibling(f"{TABLE}_rejects").key)
    with lake_session(lake.duckdb_filesystem) as con:
        con.execute("SET TimeZone = 'UTC'")
        if rejects.files:
            held = con.execute(
                "SELECT DISTINCT upload_hour FROM read_parquet("
                f"{quote_list([lake.url(lake.join(p)) for p in rejects.files])},"
                " hive_partitioning = false) WHERE NOT loaded"
            ).fetchall()
            failed = [h.astimezone(UTC) for (h,) in held]
            status.quarantined = _ranges([h for h in failed if h not in loaded])
        manifests = store.manifests().values()
        status.rows = sum(m.rows for m in manifests)
        status.hours_empty = sum(1 for m in manifests if not m.rows)
        status.repeated_uuids = sum(int(m.extra.get("duplicates_in_hour") or 0) for m in manifests)
        status.rejects = sum(m.rejects for m in manifests) - status.repeated_uuids
        status.last_loaded_at = max((m.loaded_at for m in manifests), default=None)
        later = (
            con.execute(
                f"SELECT uuid, upload_hour FROM read_parquet("
                f"{quote_list([lake.url(lake.join(p)) for p in events.files])},"
                f" hive_partitioning = false, union_by_name = true) WHERE {LATER_COPY}"
                " ORDER BY upload_hour DESC"
            ).fetchall()
            if events.files
            else []
        )
        status.duplicate_uuids = len(later)
        status.duplicate_examples = [f"{u} (again at {h:%Y-%m-%dT%H})" for u, h in later[:5]]
    last_run = lake.join(layout.state_file(LAST_RUN))
    if lake.exists(last_run):
        status.last_run = json.loads(lake.read_bytes(last_run))
    return status
