"""A deletion sync erases every trace of the users it names, and nothing else.

The acceptance of the privacy work: deletion jobs for three users (one by user id, with two
Amplitude ids; one in a cohort; one whose lines the export cut in half), then every byte of
every live file, decoded, holds none of their ids, every other row is as it was, and after
the retention and a vacuum no file under the lake does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.privacy.sync import sync_deletions
from loader.amplitude.runner import refresh_catalog
from loader.delta.rewrite import dictionary_columns
from loader.hours import hours_between
from loader.lake import Lake
from loader.pinned import PinnedLake
from loader.shell.privacy_commands import describe_erasure
from tests.conftest import LAST, NOW, START
from tests.privacy.lakes import PrivacyLake, choose_users, live_files
from tests.privacy.scan import every_file, holders, patterns


def _erased_from(rows: list[dict], amplitude_ids: set[int]) -> list[dict]:
    return [r for r in rows if r["amplitude_id"] not in amplitude_ids]


def test_a_deletion_sync_leaves_no_byte_of_the_users_and_changes_nothing_else(
    privacy_lake: PrivacyLake,
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    wanted = patterns(users.amplitude_ids, users.user_ids())
    found = holders(every_file(Path(lake.settings.lake_root)), wanted)
    # The scan finds them before: in events, day files, rejects and cohort membership.
    assert set().union(*found.values()) >= {str(a) for a in users.amplitude_ids}
    for part in ("/events/", "/events_rejects/", "/cohort_members/"):
        assert any(part in f for f in found), f"no id found in {part}: the scan proves nothing"
    before = {
        "events": lake.rows("events_all", "uuid, upload_hour"),
        "members": lake.rows("cohort_members", "snapshot_at, cohort_id, amplitude_id"),
        "rejects": lake.rows("rejects", "upload_hour, member, line_no"),
    }

    lake.request_deletion([users.member, users.rejected], ["user_12"])
    report = sync_deletions(lake.project, lake.settings, now=NOW)
    refresh_catalog(lake.settings)

    assert report.new_ids == 3 and report.erasure is not None
    assert report.erasure.resolved == 2  # user_12's two Amplitude ids
    leaks = holders(live_files(lake), wanted)
    assert not leaks, leaks
    # Rewritten files keep their source's encodings: no dictionary for unique values.
    events = [f for f in live_files(lake) if f.suffix == ".parquet" and "/events" in str(f)]
    for data in [f for f in events if "_delta_log" not in str(f) and "/events/" in str(f)]:
        dictionary = dictionary_columns(pq.ParquetFile(data).metadata)
        assert "uuid" not in dictionary and "event_type" in dictionary, data
    # Every other row is as it was: events, members and rejects.
    erased = users.amplitude_ids
    after_events = lake.rows("events_all", "uuid, upload_hour")
    assert after_events == _erased_from(before["events"], erased)
    assert lake.rows("cohort_members", "snapshot_at, cohort_id, amplitude_id") == _erased_from(
        before["members"], erased
    )
    kept_rejects = [
        r for r in before["rejects"] if not any(f'"amplitude_id": {a}' in r["line"] for a in erased)
    ]
    assert lake.rows("rejects", "upload_hour, member, line_no") == kept_rejects
    # The ground truth: the emulator's own events, less the deleted users.
    deleted_amplitude, deleted_users = lake.server.deletions.deleted(lake.synthetic.project_id)
    assert deleted_users == {"user_12"} and deleted_amplitude == {users.member, users.rejected}
    truth = [  # the first event of each member was cut in half: a reject
        e["uuid"]
        for hour in hours_between(START, LAST)
        for _, events in lake.synthetic.parts(hour)
        for e in events[1:]
        if e["amplitude_id"] not in erased
    ]
    assert sorted({r["uuid"] for r in after_events}) == sorted(set(truth))
    # The audit: one erasure, its counts, no erased value.
    (audit,) = lake.rows("privacy_erasures", "erased_at")
    removed = json.loads(audit["rows_removed"])
    assert removed["events"]["rows"] == len(before["events"]) - len(after_events)
    # Said once per table, in rows: the day files' copies are not counted again.
    said = describe_erasure(report.erasure)
    assert f"rows removed: cohort_members {removed['cohort_members']['rows']:,}, events" in said
    assert f"events {len(before['events']) - len(after_events):,};" in said
    assert "day_files" not in said and "from" not in said
    assert removed["cohort_members"]["rows"] == len(before["members"]) - len(
        lake.rows("cohort_members", "amplitude_id")
    )
    assert audit["ids"] == 5 and audit["jobs"] == ["amplitude/2024-03-14"]
    (job,) = lake.rows("privacy_jobs", "job")
    assert (job["status"], job["ids"], job["resolved_amplitude_ids"]) == ("staging", 3, 2)
    # The load log agrees with the rows left.
    assert sum(r["rows"] for r in lake.rows("load_log", "upload_hour")) == len(after_events)

    # After the retention, a vacuum leaves no file anywhere that holds them.
    later = datetime.now(UTC) + timedelta(hours=lake.settings.retention_hours + 1)
    vacuumed = vacuum_lake(lake.settings, now=later)
    assert vacuumed.removed
    everything = every_file(Path(lake.settings.lake_root))
    catalog = Path(lake.settings.catalog_path)
    leaks = holders([*everything, *catalog.parent.glob(catalog.name + "*")], wanted)
    assert not leaks, leaks


def test_the_erasure_retention_bounds_how_long_superseded_files_keep_erased_data(
    privacy_lake: PrivacyLake,
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    settings = replace(lake.settings, retention_hours=30 * 24, erasure_retention_hours=48)
    root = Path(settings.lake_root)

    def current() -> set[str]:
        pinned = PinnedLake.newest(Lake(root))
        return {p for table in pinned.tables.values() for p in table.files}

    before = current()
    lake.request_deletion([users.member], [])
    sync_deletions(lake.project, settings, now=NOW)
    dropped = before - current()  # the files that held the member's rows
    assert any("/events/" in p for p in dropped) and any("/cohort_members/" in p for p in dropped)
    # Within the erasure retention they stay, for readers of older versions.
    vacuum_lake(settings, now=datetime.now(UTC) + timedelta(hours=47))
    assert all((root / p).exists() for p in dropped)
    # Past it they go, though the retention is a month; and no file holds the member, the
    # tables' logs included.
    report = vacuum_lake(settings, now=datetime.now(UTC) + timedelta(hours=49))
    assert {p.split(": ", 1)[1] for p in report.removed} >= {p.split("/", 3)[3] for p in dropped}
    assert not any((root / p).exists() for p in dropped)
    logs = [f for f in every_file(root) if "_delta_log" in f.parts]
    assert len(logs) > 10, "no log scanned: the test proves nothing"
    found = holders(every_file(root), patterns([users.member], ["user_14"]))
    assert not found, found


def test_the_first_deletion_sync_lists_from_the_oldest_hour_the_lake_holds(
    privacy_lake: PrivacyLake,
) -> None:
    # The lake holds hours from START; the project now names no start (the demo's lake, a start
    # moved later): the first listing must reach back to the lake's oldest hour, not 180 days.
    lake = privacy_lake
    later = replace(lake.settings, start=None)
    sync_deletions(lake.project, later, now=NOW)
    listings = [r["params"] for r in lake.server.requests if r.get("method") == "GET"]
    assert [p["start_day"] for p in listings] == [f"{START:%Y-%m-%d}"], listings
    # A request older than the lake's hours (before a backfill of older hours): `--since`.
    since = START.date() - timedelta(days=40)
    again = sync_deletions(lake.project, later, now=NOW, since=since)
    listings = [r["params"] for r in lake.server.requests if r.get("method") == "GET"]
    assert again.listed.startswith(str(since)) and listings[-1]["start_day"] == str(since)
