"""Loading one project's event stream: plan the missing hours, export, judge, publish.

The unit of state is one upload hour. Each export window is published as soon as it is staged,
so an interrupted backfill keeps every window it finished, and a rerun asks only for the rest.
The jobs live apart: `hour_plan` chooses the windows, `window_export` downloads and stages one,
`reject_policy` judges its hours, `loader.publish` commits them, and `SyncReport` keeps count.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loader.amplitude import reject_policy
from loader.amplitude.clients import project_client
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.export_api import ExportApi
from loader.amplitude.hour_manifests import EVENTS_SPEC, SOURCE, TABLE, UNIQUE
from loader.amplitude.hour_plan import HourPlan
from loader.amplitude.privacy.scrub import EraseOnLoad
from loader.amplitude.stage import Stager
from loader.amplitude.sync_report import SyncReport
from loader.amplitude.window_export import Download, WindowExporter
from loader.errors import (
    CorruptArchiveError,
    ExportTooLargeError,
    LoaderError,
    RejectThresholdError,
)
from loader.hours import utc_now
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.pipeline import Ahead
from loader.planner import Window
from loader.progress import NoProgress, Progress
from loader.publish import Publisher, StagedHour
from loader.snapshot.layout import TableLayout

log = logging.getLogger(__name__)

__all__ = ["SOURCE", "TABLE", "UNIQUE", "EventsLoader"]

#: Failures that concern only some hours: every other hour of the sync still loads.
HOUR_FAILURES = (ExportTooLargeError, RejectThresholdError, CorruptArchiveError)


@dataclass
class _Run:
    """The state one sync threads through its windows."""

    exporter: WindowExporter
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
        self.plan = HourPlan(project, settings, now or utc_now())
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
        publisher = Publisher(
            self.layout,
            EVENTS_SPEC,
            scratch,
            UNIQUE,
            log_retention=self.settings.log_retention,
            scrub=EraseOnLoad(self.lake, self.layout.project, scratch),
        )
        stager = Stager(
            scratch, self.settings.guards, threads=self.settings.threads, progress=self.progress
        )
        exporter = WindowExporter(
            self.project,
            self.api,
            stager,
            newest_ready_hour=self.plan.newest_ready_hour,
            report=report,
            progress=self.progress,
            finished_before=self.plan.finished_before,
        )
        try:
            if publisher.compact(self.plan.finished_before):  # days a crash left uncompacted
                self.after_commit()
            store = self.manifests
            missing = self.plan.missing_hours(store, start, end, reload=reload or recheck)
            windows = self.plan.windows(store, missing)
            self.progress.planned(len(missing))
            log.info(
                "project %s: %d hour(s) to load in %d export request(s)",
                self.project.label,
                len(missing),
                len(windows),
            )
            run = _Run(exporter, publisher, report, errors, recheck)
            self._load_windows(windows, run)
            if windows:
                report.duplicates = publisher.later_copies()
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

    def _load_windows(self, windows: list[Window], run: _Run) -> None:
        """Load windows in order, each one's download overlapping the staging of the one before.

        Once a window's export is in hand (and not split), the next window's is requested on a
        thread of its own while this one is staged, published and compacted: the Export API
        takes long to answer, and a download waits where staging computes. A failure of the
        download made ahead surfaces when its window's turn comes, after the windows before it
        are published; an error that stops the sync cancels it. One export request at a time
        all the same: a window downloaded again (a corrupt zip) waits for the download ahead.
        """
        ahead: Ahead[Download] | None = None

        def idle() -> None:  # the download ahead as it is when called
            if ahead is not None:
                ahead.wait()

        try:
            for number, window in enumerate(windows):
                following = windows[number + 1] if number + 1 < len(windows) else None

                def start_next(following: Window | None = following) -> None:
                    nonlocal ahead
                    if following is not None:
                        ahead = run.exporter.download_ahead(following)

                mine, ahead = ahead, None
                self._load_window(window, run, mine, start_next, idle)
        finally:
            if ahead is not None:
                ahead.cancel()

    def _load_window(
        self,
        window: Window,
        run: _Run,
        ahead: Ahead[Download] | None = None,
        downloaded: Callable[[], object] | None = None,
        idle: Callable[[], object] | None = None,
    ) -> None:
        """Export, stage and publish one window, splitting it while Amplitude says it is too big.

        Failures that concern only some hours (one hour too large, too many malformed lines, a
        broken export) are kept in `run.errors` so that every other hour still loads; anything
        else (credentials, an API that keeps failing) stops the sync.

        Args:
            window: The hours.
            run: The sync's state.
            ahead: The window's download, if it was started earlier.
            downloaded: Called once its export is in hand and will not be split.
            idle: Waits for the download made ahead, before this window is downloaded again.
        """
        self.current = window
        try:
            staged = run.exporter.stage(
                window,
                self.manifests if run.recheck else None,
                ahead=ahead,
                downloaded=downloaded,
                idle=idle,
            )
        except HOUR_FAILURES as exc:
            run.errors.append(exc.locate(project=self.project.label, hours=str(window)))
            self.progress.published(window.hours)  # done with, though not loaded
            return
        if staged is None:
            run.report.splits += 1
            for half in window.halves():
                self._load_window(half, run)
            return
        try:
            self._publish(staged, run)  # counts its hours, the failed ones included
        except HOUR_FAILURES as exc:
            run.errors.append(exc.locate(project=self.project.label, hours=str(window)))

    def _publish(self, staged: list[StagedHour], run: _Run) -> None:
        """Publish a window's good hours, quarantine its failed ones, compact finished days."""
        good, failed = reject_policy.judge(staged, self.settings)
        run.publisher.publish(good)
        run.publisher.quarantine(failed)
        run.publisher.compact(self.plan.finished_before)
        self.after_commit()
        run.report.count(good)
        self.progress.published(len(staged))
        if failed:
            raise reject_policy.failure(failed, self.settings, self.project.label)
