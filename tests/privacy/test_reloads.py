"""An erased user stays erased when hours are loaded again; new data after the cutoff stays.

Amplitude keeps exporting a deleted user's events until its job has run, and for ever those
of a user erased with `forget` alone: reloads and re-checks must drop them again. Events that
arrive after the request (the cutoff) are new data, as they are for Amplitude.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.amplitude.privacy.deletion_api import IdRequest
from loader.amplitude.privacy.sync import forget, sync_deletions
from loader.amplitude.runner import recheck_projects, refresh_catalog, sync_projects
from loader.emulator.faults import FaultRule
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.snapshot.layout import TableLayout
from tests.conftest import NOW
from tests.privacy.lakes import PrivacyLake, choose_users, live_files
from tests.privacy.scan import holders, patterns


def _hours_of(lake: PrivacyLake, amplitude_id: int) -> dict[datetime, int]:
    rows = lake.rows("events_all", "upload_hour")
    out: dict[datetime, int] = {}
    for r in rows:
        if r["amplitude_id"] == amplitude_id:
            hour = r["upload_hour"].replace(tzinfo=UTC)
            out[hour] = out.get(hour, 0) + 1
    return out


def test_a_reload_and_a_recheck_of_hours_that_held_an_erased_user_keep_them_erased(
    privacy_lake: PrivacyLake,
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    held = _hours_of(lake, users.member)
    first, last = min(held), min(held) + timedelta(hours=5)
    lake.request_deletion([users.member], [])
    sync_deletions(lake.project, lake.settings, now=NOW)
    assert not _hours_after_refresh(lake, users.member)

    reports = sync_projects(
        [lake.project], lake.settings, start=first, end=last, reload=True, now=NOW
    )
    assert reports[0].hours_loaded + reports[0].hours_empty == 6  # the export still has them
    assert not _hours_after_refresh(lake, users.member)
    recheck_projects([lake.project], lake.settings, 30, now=NOW)
    assert not _hours_after_refresh(lake, users.member)
    assert not holders(live_files(lake), patterns([users.member], ["user_14"]))
    # The reloaded hour's manifest says how many rows it dropped, and counts the rest.
    layout = TableLayout(
        Lake(lake.settings.lake_root), SOURCE, str(lake.synthetic.project_id), TABLE
    )
    manifest = ManifestStore(layout).read(first)
    assert manifest is not None and manifest.extra["erased_rows"] == held[first]
    (logged,) = [
        r
        for r in lake.rows("load_log", "upload_hour")
        if r["upload_hour"] == first.replace(tzinfo=None)
    ]
    assert logged["rows"] == sum(
        1 for r in lake.rows("events_all", "uuid") if r["upload_hour"] == first.replace(tzinfo=None)
    )


def _hours_after_refresh(lake: PrivacyLake, amplitude_id: int) -> dict[datetime, int]:
    refresh_catalog(lake.settings)
    return _hours_of(lake, amplitude_id)


def test_forget_erases_before_its_moment_and_keeps_what_arrived_after(
    privacy_lake: PrivacyLake,
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    held = _hours_of(lake, users.rejected)
    moment = datetime(2024, 3, 2, 12, 20, tzinfo=UTC)
    erasure, jobs = forget(
        lake.project,
        lake.settings,
        [IdRequest("amplitude_id", users.rejected)],
        "dpo@example.com",
        now=moment,
    )
    assert erasure.version is not None and not jobs
    left = _hours_after_refresh(lake, users.rejected)
    # The hour of the request itself goes too: a row's time is its upload hour.
    assert left == {
        h: n for h, n in held.items() if h >= moment.replace(minute=0) + timedelta(hours=1)
    }
    assert left and len(left) < len(held), "the user must have rows on both sides of the moment"
    # Reloading hours on both sides: those before stay erased, those after are as they were.
    around = moment.replace(minute=0, tzinfo=UTC)
    sync_projects(
        [lake.project],
        lake.settings,
        start=around - timedelta(hours=6),
        end=around + timedelta(hours=6),
        reload=True,
        now=NOW,
    )
    assert _hours_after_refresh(lake, users.rejected) == left
    (job,) = lake.rows("privacy_jobs", "job")
    assert job["status"] == "local" and job["job"].startswith("forget/")
    assert job["erase_before"] == moment.replace(tzinfo=None)


def test_an_erasure_committed_while_a_reload_downloads_applies_to_what_it_publishes(
    privacy_lake: PrivacyLake,
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    held = _hours_of(lake, users.member)
    first = min(held)
    # The export answers after 3 s: the erasure is committed while the reload waits for it.
    lake.server.faults.set([FaultRule("slow_first_byte", params={"seconds": 3})])
    reload = threading.Thread(
        target=sync_projects,
        args=([lake.project], lake.settings),
        kwargs={"start": first, "end": first + timedelta(hours=5), "reload": True, "now": NOW},
    )
    reload.start()
    time.sleep(1.0)
    erasure, _ = forget(
        lake.project, lake.settings, [IdRequest("amplitude_id", users.member)], "dpo"
    )
    assert reload.is_alive(), "the reload finished before the erasure: the test proves nothing"
    reload.join(timeout=120)
    assert erasure.version is not None
    assert not _hours_after_refresh(lake, users.member)
    assert not holders(live_files(lake), patterns([users.member], ["user_14"]))
