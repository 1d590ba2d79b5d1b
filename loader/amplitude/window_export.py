"""One export window from request to staged hours: download, download again, stage, or split."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loader.amplitude.config import ProjectConfig
from loader.amplitude.export_api import ExportApi, ExportResult
from loader.amplitude.hour_manifests import ExportRequest, empty_hours
from loader.amplitude.stage import Stager
from loader.amplitude.sync_report import SyncReport
from loader.errors import CorruptArchiveError, ExportTooLargeError
from loader.hours import utc_now
from loader.manifest import ManifestStore
from loader.pipeline import Ahead, Cancelled
from loader.planner import Window
from loader.progress import Progress
from loader.publish import StagedHour, days_due
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: How often a window whose zip turns out corrupt is downloaded before giving up.
DOWNLOADS = 3


@dataclass
class Download:
    """One window's export request and what it answered.

    Attributes:
        window: The hours asked for.
        zip_path: Where the zip is (for a `zip` outcome).
        result: The outcome.
        ahead: Made on a thread of its own, ahead of its staging.
    """

    window: Window
    zip_path: Path
    result: ExportResult
    ahead: bool = False


class WindowExporter:
    """Exports windows of one project and stages their hours.

    Args:
        project: The project.
        api: Its Export API.
        stager: Turns zips into staged hours.
        newest_ready_hour: No hour after it may be recorded (a 404 inside the lag means "not
            exported yet", not "no data").
        report: Counts requests, downloaded bytes and unchanged hours.
        finished_before: Days that ended before it are finished: a window that holds all of
            such a day's hours writes the day as one file (None: never).
        progress: Progress sink.
    """

    def __init__(
        self,
        project: ProjectConfig,
        api: ExportApi,
        stager: Stager,
        *,
        newest_ready_hour: datetime,
        report: SyncReport,
        progress: Progress,
        finished_before: datetime | None = None,
    ) -> None:
        self.project = project
        self.api = api
        self.stager = stager
        self.newest_ready_hour = newest_ready_hour
        self.finished_before = finished_before
        self.report = report
        self.progress = progress

    def stage(
        self,
        window: Window,
        recheck: ManifestStore | None,
        *,
        ahead: Ahead[Download] | None = None,
        downloaded: Callable[[], object] | None = None,
        idle: Callable[[], object] | None = None,
    ) -> list[StagedHour] | None:
        """Export a window and stage its hours.

        A zip whose members turn out corrupt is downloaded again, up to `DOWNLOADS` times, once
        `idle` has returned.

        Args:
            window: The hours to export.
            recheck: When re-checking, what is loaded now: only hours whose members differ from
                their manifest's are staged.
            ahead: The window's download, started earlier (`download_ahead`); None to download
                it now. What the download raised is raised here.
            downloaded: Called once the window's export is in hand and will not be split, before
                it is staged (to start the next window's download).
            idle: Waits until no other download of the sync is under way, so that a download
                again never runs beside the next window's.

        Returns:
            The staged hours, or None when Amplitude says the window is over its size limit or
            timed out: the caller splits it.

        Raises:
            ExportTooLargeError: If one hour alone is too large.
            CorruptArchiveError: If every download was corrupt.
        """
        attempt = 1
        while True:
            try:
                got = ahead.result() if ahead is not None else self.download(window)
                notify, ahead, downloaded = downloaded, None, None  # for the first attempt only
                return self._stage(got, recheck, notify)
            except CorruptArchiveError as exc:
                if attempt == DOWNLOADS:
                    raise CorruptArchiveError(
                        f"{exc.what} in all {DOWNLOADS} downloads",
                        project=self.project.label,
                        hours=str(window),
                        remedy="Amplitude's export of these hours seems broken; nothing of them"
                        " was recorded; run again later or report it to Amplitude",
                    ) from exc
                log.warning("%s; downloading %s again", exc.what, window)
                self.progress.note(f"{exc.what}; downloading {window} again")
                if idle is not None:
                    idle()
                attempt += 1

    def download(self, window: Window, cancelled: threading.Event | None = None) -> Download:
        """Request a window's export and download it into the scratch folder.

        Args:
            window: The hours to export.
            cancelled: Set when the download is no longer wanted (it then raises `Cancelled`);
                None for a download made in the caller's thread, which reports its progress.

        Returns:
            The outcome, with the zip's path.
        """
        zip_path = self.stager.scratch / f"export-{uuid.uuid4().hex}.zip"
        if cancelled is None:
            self.progress.window(f"{window} (project {self.project.label})", None)
            progress: Callable[[int], None] = self.progress.downloaded
        else:

            def progress(_: int) -> None:
                if cancelled.is_set():
                    raise Cancelled(f"the download of {window} is no longer wanted")

            progress(0)
        log.info("project %s: export request for %s", self.project.label, window)
        result = self.api.export(window, zip_path, progress)
        log.info(
            "project %s: export of %s answered %s (HTTP %s, %.1f MB in %.1f s, %d attempt(s))",
            self.project.label,
            window,
            result.outcome,
            result.fetched.status,
            result.fetched.bytes / 1e6,
            result.fetched.seconds,
            result.fetched.attempts,
        )
        return Download(window, zip_path, result, ahead=cancelled is not None)

    def download_ahead(self, window: Window) -> Ahead[Download]:
        """Start a window's download on a thread of its own, to overlap it with other work.

        The export API is slow (minutes before the first byte are common), and a download waits
        where staging computes: downloading the next window while one stages keeps both going.
        The sync starts the next window's download once this one's is in hand, so one download
        at most runs ahead.

        Args:
            window: The hours to export.

        Returns:
            The download under way; pass it to `stage`, or cancel it.
        """
        return Ahead(lambda cancelled: self.download(window, cancelled), f"download {window}")

    def _stage(
        self, got: Download, recheck: ManifestStore | None, downloaded: Callable[[], object] | None
    ) -> list[StagedHour] | None:
        window, zip_path, result = got.window, got.zip_path, got.result
        self.report.requests += 1
        if got.ahead:  # its progress was not shown while it ran
            self.progress.window(f"{window} (project {self.project.label})", None)
            self.progress.downloaded(result.fetched.bytes)
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
            log.info(
                "project %s: %s is %s; splitting it in half", self.project.label, window, reason
            )
            self.progress.note(f"{window} is {reason}; splitting it in half")
            return None
        if downloaded is not None:
            downloaded()
        self.report.bytes_downloaded += result.fetched.bytes
        request = ExportRequest(
            project_id=self.project.project_id,
            window=window,
            request_id=uuid.uuid4().hex[:12],
            loaded_at=utc_now(),
        )
        if result.outcome == "empty":
            # Only hours past the lag are ever planned, so a 404 here means "no data", not "not
            # exported yet"; the guard keeps it that way if planning ever changes.
            assert window.last <= self.newest_ready_hour, "an hour inside the lag was recorded"
            hours = window.hour_list()
            if recheck is not None:
                hours = [h for h in hours if _changed(recheck, h, "")]
                self.report.unchanged += window.hours - len(hours)
            return empty_hours(request, hours)
        crash_point("load.after_download")
        staging_started = time.monotonic()
        request.zip_path = zip_path
        request.zip_sha256 = result.fetched.sha256
        request.zip_bytes = result.fetched.bytes
        only = None
        if recheck is not None:
            prints = self.stager.fingerprints(request)
            only = {h for h, fingerprint in prints.items() if _changed(recheck, h, fingerprint)}
            self.report.unchanged += window.hours - len(only)
        staged_hours = set(window.hour_list()) if only is None else only
        whole = days_due(staged_hours, self.finished_before) if self.finished_before else []
        staged = self.stager.stage(request, only, whole_days=whole)
        zip_path.unlink(missing_ok=True)
        timings = {
            "download_seconds": round(result.fetched.seconds, 3),
            "stage_seconds": round(time.monotonic() - staging_started, 3),
            "download_attempts": result.fetched.attempts,
        }
        for item in staged:
            item.manifest.request.update(timings)
        return staged


def _changed(store: ManifestStore, hour: datetime, fingerprint: str) -> bool:
    """Whether an hour is not loaded, or was loaded from members other than these."""
    manifest = store.read(hour)
    return manifest is None or manifest.content_sha256 != fingerprint
