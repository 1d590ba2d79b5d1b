"""Snapshots of cohorts (with membership), taxonomy, the events list and annotations."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pytest

from loader.amplitude.cohorts import CohortOptions, QuotaExceededError, parse_members
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import refresh_catalog
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator import metadata as truth
from loader.emulator.faults import FaultRule
from loader.errors import AuthError, HttpError, LoaderError
from loader.ratelimit import SlidingWindow
from tests.conftest import config_for
from tests.fake_clock import FakeClock

FIRST = datetime(2024, 3, 4, 1, tzinfo=UTC)
SECOND = datetime(2024, 3, 5, 1, tzinfo=UTC)
FAST = CohortOptions(poll_seconds=0.01)


@pytest.fixture
def server(synthetic: SyntheticProject) -> Iterator[EmulatorServer]:
    with EmulatorServer([synthetic], gzip_level=1) as emulator:
        yield emulator


@pytest.fixture
def config(server: EmulatorServer, synthetic: SyntheticProject) -> ProjectConfig:
    return config_for(synthetic, server)


def _query(settings: LoaderSettings, sql: str) -> list[tuple[object, ...]]:
    refresh_catalog(settings)
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def test_cohort_members_equal_the_emulators_membership(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    report = snapshot_project(config, settings, cohort_options=FAST, now=FIRST)
    assert report.cohorts is not None
    assert sorted(report.cohorts.downloaded) == sorted(
        c.id for c in truth.COHORTS if c.size_override is None
    )
    assert "over the downloadable" in report.cohorts.skipped["c5huge"]
    for spec in truth.COHORTS:
        rows = _query(
            settings,
            "SELECT amplitude_id, user_id, group_value FROM"
            f" amplitude.cohort_members_current WHERE cohort_id = '{spec.id}'",
        )
        if spec.size_override:
            assert rows == []
        elif spec.group:
            assert sorted(r[2] for r in rows) == sorted(f"acct-{n}" for n in truth.members(spec))
        else:
            expected = {
                (truth.amplitude_id(n), truth.user_id(n) or None) for n in truth.members(spec)
            }
            assert {(r[0], r[1]) for r in rows} == expected
    cohorts = _query(
        settings,
        "SELECT cohort_id, name, size, last_computed, raw->>'appId'"
        " FROM amplitude.cohorts_current ORDER BY 1",
    )
    assert [c[0] for c in cohorts] == sorted(c.id for c in truth.COHORTS)
    assert cohorts[1][1] == "Churn risk ⚠️" and cohorts[0][4] == "100001"


def test_taxonomy_lists_every_event_type_and_property(
    config: ProjectConfig, settings: LoaderSettings
) -> None:
    report = snapshot_project(config, settings, ("taxonomy",), now=FIRST)
    assert report.taxonomy is not None and report.taxonomy.available
    events = _query(
        settings, "SELECT event_type, deleted FROM amplitude.taxonomy_event_types_current"
    )
    assert {e for e, _ in events} == {e["event_type"] for e in truth.taxonomy_events(True)}
    assert dict(events)[truth.DELETED_EVENT] is True
    properties = set(
        _query(
            settings,
            "SELECT event_type, event_property FROM amplitude.taxonomy_event_properties_current",
        )
    )
    expected = {(None, p) for p in truth.SHARED_EVENT_PROPERTIES} | {
        (e["event_type"], p)
        for e in truth.taxonomy_events(True)
        for p in truth.event_property_names(e["event_type"])
    }
    assert properties == expected
    users = _query(settings, "SELECT user_property FROM amplitude.taxonomy_user_properties_current")
    assert {u for (u,) in users} == set(truth.USER_PROPERTIES)
    assert report.taxonomy.cost == 3 + 1 + len(events) + 1  # one call per event type


def test_a_second_snapshot_downloads_no_unchanged_cohort_and_keeps_history(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=FIRST)
    downloads = len(server.metadata.downloads)
    second = snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=SECOND)
    assert second.cohorts is not None and second.cohorts.downloaded == []
    assert len(second.cohorts.unchanged) == 5
    assert len(server.metadata.downloads) == downloads

    server.metadata.cohort_revision["c1churn"] = 1  # recomputed since
    third = snapshot_project(
        config, settings, ("cohorts",), cohort_options=FAST, now=datetime(2024, 3, 6, 1, tzinfo=UTC)
    )
    assert third.cohorts is not None and third.cohorts.downloaded == ["c1churn"]
    assert _query(settings, "SELECT count(DISTINCT snapshot_at) FROM amplitude.cohorts") == [(3,)]
    current = dict(
        _query(
            settings,
            "SELECT cohort_id, max(snapshot_at) FROM amplitude.cohort_members_current GROUP BY ALL",
        )
    )
    assert current["c1churn"] == datetime(2024, 3, 6, 1)
    assert current["c0power"] == datetime(2024, 3, 4, 1)  # its latest download
    log = _query(settings, "SELECT count(*) FROM amplitude.snapshot_log WHERE kind = 'cohorts'")
    assert log == [(3,)]


def test_the_storage_link_never_gets_the_auth_header(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=FIRST)
    assert len(server.metadata.storage_requests) == 5
    assert not any(r["authorization"] for r in server.metadata.storage_requests)


def test_the_membership_download_is_retried_and_its_failures_masked(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    # Storage answers 500 twice, then 503: the files still arrive, whole.
    server.faults.set(
        [
            FaultRule(kind="500", endpoint="cohort_storage", times=2),
            FaultRule(kind="503", endpoint="cohort_storage", times=1, skip=2),
        ]
    )
    report = snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=FIRST)
    assert report.cohorts is not None and len(report.cohorts.downloaded) == 5
    assert len(server.metadata.storage_requests) == 5 + 3
    spec = truth.COHORTS[0]
    rows = _query(
        settings,
        f"SELECT count(*) FROM amplitude.cohort_members_current WHERE cohort_id = '{spec.id}'",
    )
    assert rows == [(len(truth.members(spec)),)]

    # An error page that repeats the signed link it was asked for: the signature is masked.
    server.faults.set([FaultRule(kind="echo_headers", endpoint="cohort_storage")])
    server.metadata.cohort_revision[spec.id] = 1
    with pytest.raises(HttpError) as error:
        snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=SECOND)
    message = error.value.describe() + error.value.body
    assert "cohort storage (project 100001) answered HTTP 400" in message
    assert ".csv?***</URL>" in message  # the whole signed query is masked
    signatures = {r["signature"] for r in server.metadata.storage_requests[8:]}
    assert signatures and not any(signature in message for signature in signatures)


def test_an_expired_storage_link_is_asked_for_again_then_fails_clearly(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    server.metadata.link_seconds = -1
    with pytest.raises(LoaderError, match="expired three times"):
        snapshot_project(config, settings, ("cohorts",), cohort_options=FAST, now=FIRST)
    assert len(server.metadata.storage_requests) == 3


def test_the_quota_ledger_refuses_before_the_budget(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    options = replace(FAST, monthly_budget=2)
    with pytest.raises(QuotaExceededError) as error:
        snapshot_project(config, settings, ("cohorts",), cohort_options=options, now=FIRST)
    assert "budget of 2 is used up" in str(error.value)
    assert len(server.metadata.downloads) == 2
    with pytest.raises(QuotaExceededError):  # the ledger remembers across runs
        server.metadata.cohort_revision.update({c.id: 5 for c in truth.COHORTS})
        snapshot_project(config, settings, ("cohorts",), cohort_options=options, now=SECOND)
    assert len(server.metadata.downloads) == 2
    skipped = _query(
        settings,
        "SELECT report->'skipped' FROM amplitude.snapshot_log"
        " WHERE kind = 'cohorts' ORDER BY snapshot_at",
    )
    assert "budget used up" in str(skipped[-1][0])


def test_include_exclude_and_props(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    options = replace(FAST, include=("Power*", "c1*"), exclude=("c1churn",), props=True)
    report = snapshot_project(config, settings, ("cohorts",), cohort_options=options, now=FIRST)
    assert report.cohorts is not None and report.cohorts.downloaded == ["c0power"]
    assert _plan_of_user_7(settings, "cohort_members") == [("pro",)]


def _plan_of_user_7(settings: LoaderSettings, view: str) -> list[tuple[object, ...]]:
    """The `plan` property of user 7 in c0power (plans cycle free, pro, enterprise: pro)."""
    return _query(
        settings,
        f"SELECT properties->>'plan' FROM amplitude.{view}"
        " WHERE cohort_id = 'c0power' AND amplitude_id = 100000000007",
    )


def test_asking_for_properties_downloads_an_unchanged_cohort_again(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    plain = replace(FAST, include=("c0power",))
    first = snapshot_project(config, settings, ("cohorts",), cohort_options=plain, now=FIRST)
    assert first.cohorts is not None and first.cohorts.downloaded == ["c0power"]
    with_props = replace(plain, props=True)
    again = snapshot_project(config, settings, ("cohorts",), cohort_options=with_props, now=SECOND)
    assert again.cohorts is not None and again.cohorts.downloaded == ["c0power"]
    assert _plan_of_user_7(settings, "cohort_members_current") == [("pro",)]
    # A download with properties answers later requests, with them or without.
    for options in (with_props, plain):
        later = snapshot_project(config, settings, ("cohorts",), cohort_options=options, now=SECOND)
        assert later.cohorts is not None and later.cohorts.unchanged == ["c0power"]


def test_a_plan_without_the_taxonomy_is_recorded_not_fatal(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    server.metadata.taxonomy_enabled = False
    report = snapshot_project(config, settings, now=FIRST, cohort_options=FAST)
    assert report.taxonomy is not None and not report.taxonomy.available
    assert "plan" in str(report.taxonomy.reason)
    assert report.cohorts is not None and report.cohorts.downloaded  # the rest still ran
    assert _query(settings, "SELECT count(*) FROM amplitude.taxonomy_event_types") == [(0,)]
    with pytest.raises(AuthError):
        snapshot_project(config, settings, ("taxonomy",), strict_taxonomy=True, now=SECOND)


def test_events_list_and_annotations_with_the_legacy_fallback(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    server.faults.set([FaultRule(kind="429", endpoint="events_list", times=1)])
    snapshot_project(config, settings, ("events-list", "annotations"), now=FIRST)
    server.metadata.annotations_v3 = False
    snapshot_project(config, settings, ("annotations",), now=SECOND)
    types = _query(settings, "SELECT id, name FROM amplitude.event_types_current ORDER BY id")
    assert types == [(e["id"], e["value"]) for e in truth.events_list()]
    versions = _query(
        settings, "SELECT DISTINCT snapshot_at, api_version FROM amplitude.annotations ORDER BY 1"
    )
    assert [v for _, v in versions] == [3, 2]
    assert _query(settings, "SELECT label FROM amplitude.annotations_current ORDER BY 1") == [
        ("Pricing test starts",),
        ("Release 5.13 🚀",),
    ]


def test_membership_csv_quirks_are_parsed() -> None:
    text = (
        '" amplitude_id ","user_id\t","gp:plan"\n"356896327775",""," pro "\n\n'
        '"2","user, with comma","free"\n'
    )
    [batch] = parse_members("c", io.StringIO(text))
    rows = pa.Table.from_batches([batch]).to_pylist()
    assert [(r["amplitude_id"], r["user_id"], r["properties"]) for r in rows] == [
        (356896327775, None, '{"gp:plan": "pro"}'),
        (2, "user, with comma", '{"gp:plan": "free"}'),
    ]
    [group] = parse_members("g", io.StringIO('"\tgroup_value"\n"acct-1"\n'))
    assert group.to_pylist()[0]["group_value"] == "acct-1"


def test_the_sliding_window_waits_for_room() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 600, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert window.acquire() == 0
    clock.now = 100
    assert window.acquire() == 500  # the first call leaves the window at 600
    assert clock.slept == [500]
