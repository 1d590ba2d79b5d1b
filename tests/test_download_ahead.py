"""The next export window downloads while the one before it is staged and published."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import EventsLoader
from loader.amplitude.runner import refresh_catalog
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.errors import HttpError
from tests.conftest import LAST, NOW, START, catalog_rows, with_retry
from tests.truth import truth

#: How long a commit's callback waits for the next window's request to reach the server.
PATIENCE_SECONDS = 10.0


def _requests_during_commits(
    emulator: EmulatorServer,
) -> tuple[list[int], Callable[[], None]]:
    """A commit callback that waits (a while) for one more export request than commits so far.

    While it waits, the sync's own thread is blocked in it: only a download started ahead can
    send a request. It records how many requests the server had seen when it returned.
    """
    seen: list[int] = []

    def after_commit() -> None:
        wanted = len(seen) + 2  # this window's request, and the next one's
        deadline = time.monotonic() + PATIENCE_SECONDS
        while len(emulator.export_requests()) < wanted and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.append(len(emulator.export_requests()))

    return seen, after_commit


def test_the_next_window_is_requested_before_this_one_is_committed(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    seen, after_commit = _requests_during_commits(emulator)
    loader = EventsLoader(project, settings, now=NOW, after_commit=after_commit)

    report = loader.sync(START, LAST)

    windows = [(r["start"], r["end"]) for r in emulator.export_requests()]
    assert windows == [
        (f"{day:%Y%m%d}T00", f"{day:%Y%m%d}T23")
        for day in (START, START + timedelta(days=1), START + timedelta(days=2))
    ], "one request a day, each once"
    # While window n's commit callback held the sync's thread, window n+1 had been requested.
    assert seen == [2, 3, 3]
    refresh_catalog(settings)
    rows = {row["uuid"] for row in catalog_rows(settings)}
    assert rows == truth(synthetic, START, LAST).keys()
    assert report.requests == 3


def test_a_failed_download_made_ahead_stops_the_sync_after_the_window_before_is_published(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    second = START + timedelta(days=1)
    emulator.faults.set(
        [FaultRule(kind="500", times=None, start=f"{second:%Y%m%d}T00", end=f"{second:%Y%m%d}T23")]
    )
    settings = with_retry(settings, attempts=2, base_seconds=0.01, cap_seconds=0.01)
    loader = EventsLoader(project, settings, now=NOW)

    with pytest.raises(HttpError) as failure:
        loader.sync(START, LAST)

    assert failure.value.hours == f"{second:%Y-%m-%d}T00..{second:%Y-%m-%d}T23"
    loaded = loader.manifests.loaded_hours()
    assert min(loaded) == START and max(loaded) == START + timedelta(hours=23)
    asked = {r["start"] for r in emulator.export_requests()}
    assert f"{LAST:%Y%m%d}T00" not in asked, "no window after the failed one is asked for"


def test_an_error_that_stops_the_sync_does_not_wait_for_the_download_made_ahead(
    emulator: EmulatorServer,
    project: ProjectConfig,
    settings: LoaderSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    second = START + timedelta(days=1)
    # The second window's server answers late; the first window's commit fails (a full disk).
    emulator.faults.set(
        [
            FaultRule(
                kind="slow_first_byte",
                start=f"{second:%Y%m%d}T00",
                params={"seconds": 8},  # far longer than the first window takes
            )
        ]
    )
    monkeypatch.setenv("LOADER_DISK_FULL_AT", "publish.before_commit")
    loader = EventsLoader(project, settings, now=NOW)

    with pytest.raises(OSError, match="No space left"):
        loader.sync(START, LAST)

    # The sync gave up without waiting for the second window's answer: the server had not
    # answered it yet (a request is logged when its answer starts).
    assert len(emulator.export_requests()) == 1
    ahead = [t for t in threading.enumerate() if t.name.startswith("download ")]
    assert len(ahead) == 1, "the second window's download was under way"
    ahead[0].join(timeout=30)
    assert not ahead[0].is_alive()
    # Cancelled once answered: nothing was kept, and no later window was asked for.
    assert [r["start"] for r in emulator.export_requests()] == [
        f"{START:%Y%m%d}T00",
        f"{second:%Y%m%d}T00",
    ]
    scratch = Path(settings.lake_root) / "_scratch"
    assert not scratch.exists() or not any(scratch.rglob("*.zip"))
    assert not loader.manifests.loaded_hours()


def test_a_window_downloaded_again_waits_for_the_download_ahead(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    second = START + timedelta(days=1)
    # The first window's zip is corrupt once (found while staging, so it is downloaded again);
    # the second window's answer, made ahead meanwhile, takes a while.
    emulator.faults.set(
        [
            FaultRule(kind="corrupt_member", start=f"{START:%Y%m%d}T00"),
            FaultRule(kind="slow_first_byte", start=f"{second:%Y%m%d}T00", params={"seconds": 4}),
        ]
    )

    EventsLoader(project, settings, now=NOW).sync(START, LAST)

    # One export request at a time, as the pool limits in the README count them.
    assert emulator.peak_exports_in_flight == 1
    assert [r["start"][:8] for r in emulator.export_requests()] == [
        f"{day:%Y%m%d}" for day in (START, second, START, LAST)
    ]
    refresh_catalog(settings)
    assert {row["uuid"] for row in catalog_rows(settings)} == truth(synthetic, START, LAST).keys()
