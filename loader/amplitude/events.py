"""Loading one project's event stream: plan the missing hours, export, stage, publish.

The unit of state is one upload hour. Each export window is published as soon as it is staged,
so an interrupted backfill keeps every window it finished, and a rerun asks only for the rest.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from loader import __version__
from loader.amplitude import reject_policy
from loader.amplitude.clients import project_client
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.export_api import ExportApi
from loader.amplitude.hour_writer import ORDER, StageRequest
from loader.amplitude.schema import SCHEMA_VERSION
from loader.amplitude.stage import Stager
from loader.amplitude.sync_report import SyncReport
from loader.errors import (
    ConfigError,
    CorruptArchiveError,
    ExportTooLargeError,
    LoaderError,
    RejectThresholdError,
)
from loader.hours import hour_key, hours_between, newest_ready_hour, utc_now
from loader.lake import Lake
from loader.manifest import HourManifest, ManifestStore
from loader.planner import Window, plan_windows
from loader.progress import NoProgress, Progress
from loader.publish import Publisher, StagedHour
from loader.snapshot.duplicates import UniqueKey
from loader.snapshot.layout import TableLayout
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: How often a window whose zip turns out corrupt is downloaded before giving up.
DOWNLOADS = 3
SOURCE = "amplitude"
TABLE = "events"
#: An event is its uuid within its project; the earliest upload hour's copy is the one shown.
UNIQUE = UniqueKey("uuid", "upload_hour", ("project_id",))


@dataclass
class _Run:
    """The state one sync threads through its windows."""

    stager: Stager
    publisher: Publisher
    report: SyncReport
    errors: list[LoaderError]
    recheck: bool


class EventsLoader:
    """Loads the events of one project into the lake.

    Args:
        project: The project.
        settings: Loader settings.
        now: The current moment (tests pin it); defaults to the clock.
        progress: Progress sink.
        after_commit: Called after each export window's commits (the catalog refresh, so
            that readers see a long backfill grow).
    """

    def __init__(
        self,
        project: ProjectConfig,
        settings: LoaderSettings,
        *,
        now: datetime | None = None,
        progress: Progress | None = None,
        after_commit: Callable[[], object] | None = None,
    ) -> None:
        self.project = project
        self.settings = settings
        self.now = now or utc_now()
        self.progress = progress or NoProgress()
        self.lake = Lake(settings.lake_root)
        self.layout = TableLayout(self.lake, SOURCE, str(project.project_id), TABLE)
        self.after_commit = after_commit or (lambda: None)
        self.current: Window | None = None  # the window being loaded, for failure reports
        client = project_client(project, settings, "Export API")
        self.api = ExportApi(client, project.label, settings.guards)

    @property
    def manifests(self) -> ManifestStore:
        """The manifests as of the newest snapshot."""
        return ManifestStore(self.layout)

    @property
    def finished_before(self) -> datetime:
        """Days that end before this are finished: past the lag and the re-check window."""
        return self.now - timedelta(hours=self.settings.lag_hours + self.settings.recheck_hours)

    @property
    def newest_ready_hour(self) -> datetime:
        """The newest hour old enough to export."""
        return newest_ready_hour(self.now, self.settings.lag_hours)

    def wanted_hours(self, start: datetime | None, end: datetime | None) -> list[datetime]:
        """Return the hours a sync covers: from the start to the newest ready hour.

        Args:
            start: First hour (default: the project's, else the settings').
            end: Last hour, included (capped at the newest ready hour).

        Returns:
            The hours, in order.

        Raises:
            ConfigError: If no start is known, or the hours begin after the newest ready one.
        """
        first = start or self.project.start or self.settings.start
        if first is None:
            raise ConfigError(
                "no start date configured",
                project=self.project.label,
                remedy="set AMPLITUDE_START (for example 2024-01-01) or pass --start",
            )
        if first > self.newest_ready_hour:
            raise ConfigError(
                f"hours from {hour_key(first)} are not exported yet: the newest ready hour is"
                f" {hour_key(self.newest_ready_hour)} (with a lag of {self.settings.lag_hours} h)",
                project=self.project.label,
                remedy="ask for hours in the past; the start may be mistyped",
            )
        last = min(end, self.newest_ready_hour) if end else self.newest_ready_hour
        return list(hours_between(first, last)) if first <= last else []

    def missing_hours(
        self, start: datetime | None = None, end: datetime | None = None, *, reload: bool = False
    ) -> list[datetime]:
        """Return the wanted hours that have no manifest (all of them with `reload`).

        Args:
            start: First hour.
            end: Last hour, included.
            reload: Load loaded hours again.

        Returns:
            The hours to load, in order.
        """
        wanted = self.wanted_hours(start, end)
        if reload:
            return wanted
        loaded = self.manifests.loaded_hours()
        return [h for h in wanted if h not in loaded]

    def sync(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        reload: bool = False,
        recheck: bool = False,
    ) -> SyncReport:
        """Load every missing hour from `start` to `end` (or the newest ready hour).

        Args:
            start: First hour.
            end: Last hour, included.
            reload: Replace hours that are already loaded.
            recheck: Export loaded hours again too, but replace only those whose content changed
                (late-arriving data); hours are compared by their members' checksums, before any
                parsing.

        Returns:
            What was done.

        Raises:
            LoaderError: When some hours could not be loaded; every window that succeeded is
                published first, and the error lists the hours that failed and why.
        """
        started = time.monotonic()
        report = SyncReport(self.project.label, str(self.project.project_id))
        errors: list[LoaderError] = []
        scratch = self.lake.scratch(uuid.uuid4().hex)
        publisher = Publisher(self.layout, scratch, UNIQUE, order=ORDER)
        stager = Stager(
            scratch, self.settings.guards, threads=self.settings.threads, progress=self.progress
        )
        try:
            if publisher.compact(self.finished_before):  # days a crash left uncompacted
                self.after_commit()
            missing = self.missing_hours(start, end, reload=reload or recheck)
            windows = plan_windows(
                missing,
                self._estimator(missing),
                target_bytes=self.settings.target_window_bytes,
            )
            log.info(
                "project %s: %d hour(s) to load in %d export request(s)",
                self.project.label,
                len(missing),
                len(windows),
            )
            run = _Run(stager, publisher, report, errors, recheck)
            for window in windows:
                self._load_window(window, run)
        finally:
            stager.close()
            shutil.rmtree(scratch, ignore_errors=True)
            report.seconds = time.monotonic() - started
        report.published.sort()
        report.failures = [e.describe() for e in errors]
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise LoaderError(
                f"{len(errors)} problems; every other hour was loaded: "
                + " | ".join(e.describe() for e in errors)
            )
        return report

    def _estimator(self, missing: list[datetime]) -> Callable[[datetime], float | None]:
        """Estimate an hour's zip size from the loaded hours nearest to the missing ones."""
        store = self.manifests
        loaded = sorted(store.loaded_hours())
        if not loaded or not missing:
            return lambda hour: None
        anchor = missing[0]
        nearest = sorted(loaded, key=lambda h: abs((h - anchor).total_seconds()))[:48]
        sizes = [m.bytes_downloaded for h in nearest if (m := store.read(h)) and m.rows]
        if not sizes:
            return lambda hour: None
        typical = float(statistics.median(sizes))
        return lambda hour: typical

    def _load_window(self, window: Window, run: _Run) -> None:
        """Export, stage and publish one window, splitting it while Amplitude says it is too big.

        A zip whose members turn out corrupt is downloaded again, up to `DOWNLOADS` times.
        Failures that concern only some hours (one hour too large, too many malformed lines, a
        broken export) are appended to `errors` so that every other hour still loads; anything
        else (credentials, an API that keeps failing) stops the sync.
        """
        for attempt in range(1, DOWNLOADS + 1):
            try:
                self._export_and_stage(window, run)
                return
            except (ExportTooLargeError, RejectThresholdError) as exc:
                run.errors.append(exc)
                return
            except CorruptArchiveError as exc:
                if attempt == DOWNLOADS:
                    run.errors.append(
                        CorruptArchiveError(
                            f"{exc.what} in all {DOWNLOADS} downloads",
                            project=self.project.label,
                            hours=str(window),
                            remedy="Amplitude's export of these hours seems broken; nothing of them"
                            " was recorded; run again later or report it to Amplitude",
                        )
                    )
                    return
                log.warning("%s; downloading %s again", exc.what, window)
                self.progress.note(f"{exc.what}; downloading {window} again")

    def _export_and_stage(self, window: Window, run: _Run) -> None:
        self.current = window
        stager, report = run.stager, run.report
        store = self.manifests  # what is loaded now, for a re-check to compare with
        scratch = stager.scratch
        zip_path = scratch / f"export-{uuid.uuid4().hex}.zip"
        self.progress.window(f"project {self.project.label} {window}", None)
        report.requests += 1
        result = self.api.export(window, zip_path, self.progress.downloaded)
        if result.outcome in ("too_large", "timeout"):
            reason = "over the export size limit" if result.outcome == "too_large" else "timed out"
            if window.hours == 1:
                raise ExportTooLargeError(
                    f"one hour alone is {reason} (HTTP {result.fetched.status})",
                    project=self.project.label,
                    hours=str(window),
                    remedy="the Export API cannot deliver this hour; use Amplitude's Amazon S3"
                    " export for it",
                )
            report.splits += 1
            self.progress.note(f"{window} is {reason}; splitting it in half")
            for half in window.halves():
                self._load_window(half, run)
            return
        report.bytes_downloaded += result.fetched.bytes
        request_id = uuid.uuid4().hex[:12]
        if result.outcome == "empty":
            hours = window.hour_list()
            if run.recheck:
                hours = [h for h in hours if self._changed(h, "", store)]
                report.unchanged += window.hours - len(hours)
            staged = [self._empty_hour(h, window, request_id) for h in hours]
        else:
            crash_point("load.after_download")
            staging_started = time.monotonic()
            request = StageRequest(
                project_id=self.project.project_id,
                window=window,
                zip_path=zip_path,
                zip_sha256=result.fetched.sha256,
                zip_bytes=result.fetched.bytes,
                request_id=request_id,
                loaded_at=utc_now(),
            )
            only = None
            if run.recheck:
                prints = stager.fingerprints(request)
                only = {
                    h for h, fingerprint in prints.items() if self._changed(h, fingerprint, store)
                }
                report.unchanged += window.hours - len(only)
            staged = stager.stage(request, only)
            zip_path.unlink(missing_ok=True)
            timings = {
                "download_seconds": round(result.fetched.seconds, 3),
                "stage_seconds": round(time.monotonic() - staging_started, 3),
                "download_attempts": result.fetched.attempts,
            }
            for item in staged:
                item.manifest.request.update(timings)
        good, failed = reject_policy.judge(staged, self.settings)
        snapshot = run.publisher.publish(good)
        if snapshot is not None:
            report.duplicates = snapshot.table(self.layout.key).index_rows
        run.publisher.quarantine(failed)
        run.publisher.compact(self.finished_before)
        self.after_commit()
        for item in good:
            manifest = item.manifest
            report.published.append(item.hour)
            report.rows_by_hour[item.hour] = manifest.rows
            report.rows += manifest.rows
            report.rejects += manifest.rejects
            report.bytes_json += manifest.bytes_json
            if manifest.rows:
                report.hours_loaded += 1
            else:
                report.hours_empty += 1
        if failed:
            raise reject_policy.failure(failed, self.settings, self.project.label)

    def _changed(self, hour: datetime, fingerprint: str, store: ManifestStore) -> bool:
        entry = store.entry(hour)
        return entry is None or entry.content_sha256 != fingerprint

    def _empty_hour(self, hour: datetime, window: Window, request_id: str) -> StagedHour:
        # Only hours past the lag are ever planned, so a 404 here means "no data", not "not
        # exported yet"; the guard below keeps it that way if planning ever changes.
        assert hour <= self.newest_ready_hour, "an hour inside the lag must never be recorded"
        manifest = HourManifest(
            project=str(self.project.project_id),
            table=TABLE,
            hour=hour_key(hour),
            rows=0,
            lines_read=0,
            rejects=0,
            bytes_json=0,
            bytes_parquet=0,
            bytes_downloaded=0,
            request={
                "id": request_id,
                "first_hour": hour_key(window.first),
                "last_hour": hour_key(window.last),
                "status": 404,
            },
            content_sha256="",
            schema_version=SCHEMA_VERSION,
            loader_version=__version__,
            extra={"members": [], "unknown_keys": [], "rows_outside_hour": 0},
        )
        return StagedHour(hour, manifest, None, None)
