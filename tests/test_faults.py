"""Every fault switch of the emulator, and what the loader makes of it."""

from __future__ import annotations

import gzip
import json
import time
import zipfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import EventsLoader
from loader.amplitude.runner import project_status, sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.errors import AuthError, HttpError, LoaderError
from loader.hours import contiguous_ranges
from loader.secrets import Secret
from tests.conftest import LAST, NOW, catalog_rows, config_for
from tests.truth import truth

FIRST = LAST - timedelta(hours=23)  # one day keeps these tests quick


def _sync(project: ProjectConfig, settings: LoaderSettings) -> None:
    sync_projects([project], settings, start=FIRST, now=NOW)


def _assert_exact(settings: LoaderSettings, synthetic: SyntheticProject) -> None:
    expected = truth(synthetic, FIRST, LAST)
    rows = catalog_rows(settings)
    assert sorted(r["uuid"] for r in rows) == sorted(expected)


def _assert_nothing_recorded(project: ProjectConfig, settings: LoaderSettings) -> None:
    assert EventsLoader(project, settings, now=NOW).manifests.loaded_hours() == set()


@pytest.mark.parametrize(
    "kind, params",
    [
        ("429", {}),
        ("429", {"retry_after": 0}),
        ("500", {}),
        ("502", {}),
        ("503", {}),
        ("drop_mid_body", {}),
        ("truncated_zip", {}),
        ("non_zip_body", {}),
        ("slow_first_byte", {"seconds": 0.3}),
    ],
)
def test_transient_faults_are_retried_and_the_result_is_exact(
    kind: str,
    params: dict[str, object],
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    emulator.faults.set([FaultRule(kind=kind, times=2, params=params)])
    _sync(project, settings)

    statuses = [r["status"] for r in emulator.export_requests()]
    expected_attempts = 1 if kind == "slow_first_byte" else 3
    assert len(statuses) == expected_attempts
    _assert_exact(settings, synthetic)


def test_retry_after_is_honoured(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    emulator.faults.set([FaultRule(kind="429", times=1, params={"retry_after": 1})])
    started = time.monotonic()
    _sync(project, settings)
    times = [r["time"] for r in emulator.export_requests()]
    assert times[1] - times[0] >= 0.95
    assert time.monotonic() - started >= 0.95


@pytest.mark.parametrize("kind", ["500", "non_zip_body", "truncated_zip", "drop_mid_body"])
def test_persistent_faults_fail_clearly_and_record_nothing(
    kind: str, emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    emulator.faults.set([FaultRule(kind=kind, times=None)])
    with pytest.raises(HttpError) as error:
        _sync(project, settings)
    message = str(error.value)
    assert "kept failing for" in message and "over 4 attempts" in message
    assert "project 100001, hours 2024-03-03T" in message and "AMPLITUDE_RETRY_MINUTES" in message
    _assert_nothing_recorded(project, settings)


def test_a_corrupt_member_is_downloaded_again(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    emulator.faults.set([FaultRule(kind="corrupt_member", times=1)])
    _sync(project, settings)
    assert len(emulator.export_requests()) == 2
    _assert_exact(settings, synthetic)


def test_a_persistently_corrupt_member_fails_clearly_and_records_nothing(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    emulator.faults.set([FaultRule(kind="corrupt_member", times=None)])
    with pytest.raises(LoaderError) as error:
        _sync(project, settings)
    assert str(error.value).startswith("project 100001, hours 2024-03-03T00..2024-03-03T23:")
    assert "corrupt" in str(error.value) and "in all 3 downloads" in str(error.value)
    assert len(emulator.export_requests()) == 3
    _assert_nothing_recorded(project, settings)


def test_a_few_bad_lines_are_rejected_with_reasons_and_counted(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:

    emulator.faults.set([FaultRule(kind="bad_lines", times=1, params={"lines": 1})])
    _sync(project, replace(settings, max_reject_ratio=0.5))

    _assert_exact(settings, synthetic)
    rejects = catalog_rows(settings, "rejects")
    members = sum(len(synthetic.parts(FIRST + timedelta(hours=h))) for h in range(24))
    assert len(rejects) == members
    assert {r["reason"] for r in rejects} == {"invalid JSON"}
    assert all(r["line"].startswith('{"uuid": "broken"') and r["member"] for r in rejects)
    log = catalog_rows(settings, "load_log")
    assert sum(r["rejects"] for r in log) == members
    assert all(r["rows"] == r["lines_read"] - r["rejects"] for r in log)


def test_lines_that_are_not_utf8_are_rejected_and_the_hours_load(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:

    emulator.faults.set([FaultRule(kind="bad_bytes", times=1, params={"lines": 4})])
    _sync(project, replace(settings, max_reject_ratio=0.5))

    _assert_exact(settings, synthetic)
    rejects = catalog_rows(settings, "rejects")
    members = sum(len(synthetic.parts(FIRST + timedelta(hours=h))) for h in range(24))
    assert (
        len(rejects) == 4 * members
    )  # one reject per bad line: a string, a bag, a field, not JSON
    assert all(r["reason"].startswith("invalid UTF-8 at byte ") for r in rejects)
    assert {r["line"][:25] for r in rejects} >= {
        '{"uuid": "bad-utf8-string',
        '{"uuid": "bad-utf8-bag", ',
        '{"uuid": "bad-utf8-unknow',
    }
    expected = set()  # where the emulator put them: line numbers after a bad line stay right
    for h in range(24):
        for name, events in synthetic.parts(FIRST + timedelta(hours=h)):
            lines: list[object] = list(events)
            for i in range(4):
                lines.insert(min(i * 5 + 1, len(lines)), i)
            expected |= {(name, n) for n, x in enumerate(lines, 1) if isinstance(x, int)}
    assert {(r["member"].rsplit("/", 1)[-1], r["line_no"]) for r in rejects} == {
        (m.rsplit("/", 1)[-1], n) for m, n in expected
    }
    log = catalog_rows(settings, "load_log")
    assert all(r["rows"] == r["lines_read"] - r["rejects"] for r in log)


def test_too_many_bad_lines_fail_the_hour_and_record_it_not(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    emulator.faults.set([FaultRule(kind="bad_lines", times=None, params={"lines": 30})])
    with pytest.raises(LoaderError, match="too many rejected lines") as error:
        _sync(project, settings)
    assert "max-reject-ratio" in str(error.value)
    assert f"{FIRST:%Y-%m-%dT%H} 30 malformed of " in str(error.value)
    recorded = EventsLoader(project, settings, now=NOW).manifests.loaded_hours()
    hours = [FIRST + timedelta(hours=h) for h in range(24)]
    busy = [h for h in hours if synthetic.events(h)]
    assert recorded == set(hours) - set(busy)  # only the empty hours

    # The rejects of the failed hours are where the message points, marked as not loaded.
    quarantined = catalog_rows(settings, "rejects")
    assert quarantined and not any(r["loaded"] for r in quarantined)
    assert {r["upload_hour"].replace(tzinfo=UTC) for r in quarantined} == set(busy)
    assert project_status(project, settings, now=NOW).quarantined == [
        f"{a:%Y-%m-%dT%H}..{b:%Y-%m-%dT%H}" for a, b in contiguous_ranges(busy)
    ]

    # Loaded later, the hours release their quarantine.
    emulator.faults.set([FaultRule(kind="bad_lines", times=None, params={"lines": 1})])
    _sync(project, replace(settings, max_reject_ratio=0.5))
    rejects = catalog_rows(settings, "rejects")
    assert rejects and all(r["loaded"] for r in rejects)
    assert project_status(project, settings, now=NOW).quarantined == []


def test_an_export_repeating_one_line_fails_its_hour_and_says_so_apart(
    emulator: EmulatorServer, synthetic: SyntheticProject, settings: LoaderSettings, tmp_path: Path
) -> None:
    hour = LAST
    line = json.dumps(synthetic.events(hour)[0])
    member = f"{synthetic.project_id}/{synthetic.project_id}_{hour:%Y-%m-%d}_{hour.hour}#0.json.gz"
    export = tmp_path / "repeated.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr(member, gzip.compress((line + "\n").encode() * 1500 + b"{oops\n"))
    emulator.static_exports[(f"{hour:%Y%m%dT%H}", f"{hour:%Y%m%dT%H}")] = export
    project = config_for(synthetic, emulator)

    with pytest.raises(LoaderError) as error:
        sync_projects([project], settings, start=hour, end=hour, now=NOW)
    assert "1 malformed and 1,499 repeated uuid(s) of 1,501 lines" in str(error.value)
    status = project_status(project, settings, now=NOW)
    assert status.hours_loaded == 0 and status.quarantined == [f"{hour:%Y-%m-%dT%H}"]
    reasons = Counter(r["reason"] for r in catalog_rows(settings, "rejects"))
    assert reasons == {"uuid repeated within the hour (first copy kept)": 1499, "invalid JSON": 1}

    sync_projects([project], replace(settings, max_repeat_ratio=1.0), start=hour, end=hour, now=NOW)
    status = project_status(project, settings, now=NOW)
    assert (status.rows, status.rejects, status.repeated_uuids) == (1, 1, 1499)


@pytest.mark.parametrize(
    ("member", "data", "said"),
    [
        ("../../escape.json.gz", b"{}\n", "unsafe name '../../escape.json.gz'"),
        ("{project}/{project}_{day}_{hour}#0.json.gz", b"{}\n" * 3_000_000, "expands"),
    ],
    ids=["zip-slip", "zip-bomb"],
)
def test_a_hostile_archive_fails_naming_the_project_the_hours_and_the_remedy(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    settings: LoaderSettings,
    tmp_path: Path,
    member: str,
    data: bytes,
    said: str,
) -> None:
    hour = LAST
    name = member.format(project=synthetic.project_id, day=f"{hour:%Y-%m-%d}", hour=hour.hour)
    export = tmp_path / "hostile.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr(name, gzip.compress(data, compresslevel=9))
    emulator.static_exports[(f"{hour:%Y%m%dT%H}", f"{hour:%Y%m%dT%H}")] = export
    project = config_for(synthetic, emulator)
    guarded = replace(settings, guards=replace(settings.guards, expansion_floor_bytes=1 << 20))

    with pytest.raises(LoaderError) as error:
        sync_projects([project], guarded, start=hour, end=hour, now=NOW)
    message = str(error.value)
    assert message.startswith(f"project {project.label}, hours {hour:%Y-%m-%dT%H}: "), message
    assert said in message and ("was not read" in message or "raise the expansion" in message)
    status = project_status(project, settings, now=NOW)
    assert status.hours_loaded == 0 and message in str(status.last_run)


def test_size_limit_splits_the_window_until_it_fits(
    synthetic: SyntheticProject, settings: LoaderSettings
) -> None:
    hour_sizes = []
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as probe:
        for h in range(24):
            body = probe.build_export(
                synthetic, FIRST + timedelta(hours=h), FIRST + timedelta(hours=h)
            )
            hour_sizes.append(len(body) if body else 0)
    limit = max(hour_sizes) * 3  # a few hours fit, a day does not
    with EmulatorServer([synthetic], now=NOW, gzip_level=1, max_export_bytes=limit) as server:
        project = config_for(synthetic, server)
        report = EventsLoader(project, settings, now=NOW).sync(start=FIRST)
        statuses = [r["status"] for r in server.export_requests()]
    assert report.splits >= 3 and statuses.count(400) == report.splits
    from loader.amplitude.runner import refresh_catalog

    refresh_catalog(settings)
    _assert_exact(settings, synthetic)


def test_one_hour_over_the_limit_names_the_hour_and_the_s3_export(
    synthetic: SyntheticProject, settings: LoaderSettings
) -> None:
    with EmulatorServer([synthetic], now=NOW, gzip_level=1, max_export_bytes=100) as server:
        project = config_for(synthetic, server)
        loader = EventsLoader(project, settings, now=NOW)
        with pytest.raises(LoaderError) as error:
            loader.sync(start=LAST - timedelta(hours=1))
    message = str(error.value)
    assert "one hour alone is over the export size limit" in message
    assert "S3" in message and "2024-03-03T22" in message and "2024-03-03T23" in message
    assert loader.manifests.loaded_hours() == set()


def test_504_splits_the_window_like_the_size_limit(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    emulator.faults.set([FaultRule(kind="504", times=1)])
    _sync(project, settings)
    windows = [(r["start"], r["end"], r["status"]) for r in emulator.export_requests()]
    assert windows[0] == ("20240303T00", "20240303T23", 504)
    assert windows[1:] == [("20240303T00", "20240303T11", 200), ("20240303T12", "20240303T23", 200)]
    _assert_exact(settings, synthetic)


def test_a_malformed_request_400_is_reported_not_split(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    # A 400 with Amplitude's structured error body: the emulator gives it for ranges > 365 days.
    loader = EventsLoader(project, settings, now=NOW)
    from loader.planner import Window

    with pytest.raises(HttpError, match="Amplitude rejected the export request") as error:
        loader.api.export(Window(FIRST - timedelta(days=400), LAST), settings_path(settings))
    assert "range over 365 days" in str(error.value)
    assert len(emulator.export_requests()) == 1


def settings_path(settings: LoaderSettings):  # type: ignore[no-untyped-def]
    from pathlib import Path

    return Path(settings.lake_root).parent / "probe.zip"


def test_bad_keys_get_a_clear_message_that_names_the_region(
    emulator: EmulatorServer, settings: LoaderSettings
) -> None:
    wrong = ProjectConfig(
        100001, Secret("wrong-key-abc"), Secret("wrong-secret-xyz"), base_url=emulator.url
    )
    with pytest.raises(AuthError) as error:
        _sync(wrong, settings)
    message = str(error.value)
    assert "AMPLITUDE_REGION=eu" in message and "403" in message
    assert "wrong-secret-xyz" not in message and "wrong-key-abc" not in message
    assert len(emulator.export_requests()) == 1  # credentials errors are not retried


def test_empty_range_is_a_404_and_is_recorded_as_loaded_with_zero_rows(
    settings: LoaderSettings,
) -> None:
    quiet = SyntheticProject(events_per_hour=5, first_hour=LAST + timedelta(hours=1))
    with EmulatorServer([quiet], now=NOW, gzip_level=1) as server:
        project = config_for(quiet, server)
        loader = EventsLoader(project, settings, now=NOW)
        report = loader.sync(start=FIRST)
        assert [r["status"] for r in server.export_requests()] == [404]
    assert report.hours_empty == 24 and report.rows == 0
    assert len(loader.manifests.loaded_hours()) == 24


def test_hours_inside_the_lag_are_not_ready_and_never_recorded(
    settings: LoaderSettings, synthetic: SyntheticProject
) -> None:
    # The emulator exports an hour 2 hours after it ends; with the loader's lag set to 0 the
    # newest hours answer 404 "not found" but lie inside the lag, and must not be recorded.

    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        project = config_for(synthetic, server)
        loader = EventsLoader(project, replace(settings, lag_hours=3), now=NOW)
        loader.sync(start=LAST)
        assert loader.manifests.loaded_hours() == {LAST}
        assert loader.plan.newest_ready_hour == LAST


class _Counted:
    """A progress sink that adds up the hours planned and the hours done with."""

    def __init__(self) -> None:
        self.planned_hours = 0
        self.done_hours = 0

    def planned(self, hours: int) -> None:
        self.planned_hours += hours

    def published(self, hours: int) -> None:
        self.done_hours += hours

    def window(self, description: str, total_bytes: int | None) -> None:
        pass

    def downloaded(self, nbytes: int) -> None:
        pass

    def normalised(self, events: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def test_the_progress_counts_every_planned_hour_once_failed_hours_included(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    emulator.faults.set([FaultRule(kind="bad_lines", times=None, params={"lines": 30})])
    counted = _Counted()
    with pytest.raises(LoaderError, match="too many rejected lines"):
        EventsLoader(project, settings, now=NOW, progress=counted).sync(start=FIRST)
    assert counted.planned_hours == 24 and counted.done_hours == 24
