"""Experiment snapshots: flags and assignments with history, the cap, the rate, never tracked."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment.snapshot import ExperimentOptions
from loader.amplitude.experiment.users import ExperimentUser
from loader.amplitude.privacy.deletion_api import IdRequest
from loader.amplitude.privacy.sync import forget
from loader.amplitude.runner import refresh_catalog
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator import metadata as truth
from tests.experiment.conftest import change_flags, flags_now

FIRST = datetime(2024, 3, 4, 2, tzinfo=UTC)
SECOND = datetime(2024, 3, 5, 2, tzinfo=UTC)
#: A cohort of the emulator, and a user given by list (with a device, so device flags apply).
COHORT = next(c for c in truth.COHORTS if c.name == "Old campaign")
LISTED = ExperimentUser("listed-user", "listed-device")
FAST = ExperimentOptions(
    cohorts=(COHORT.name, "Nobody*"), users=(LISTED,), max_users=10_000, requests_per_second=1000
)


def _rows(settings: LoaderSettings, sql: str) -> list[dict[str, Any]]:
    refresh_catalog(settings)
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        result = con.execute(sql)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _users() -> list[ExperimentUser]:
    """The cohort's members that have a user id, and the listed user: whom the loader asks about."""
    members = [
        ExperimentUser(truth.user_id(n), None, truth.amplitude_id(n))
        for n in truth.members(COHORT)
        if truth.user_id(n)
    ]
    return [*members, LISTED]


def _expected(server: EmulatorServer, pid: int) -> set[tuple[Any, ...]]:
    """The assignment rows the emulator's ground truth gives every user in every deployment."""
    out = set()
    for user in _users():
        for name in ("server", "client"):
            who = {"user_id": user.user_id, "device_id": user.device_id}
            for flag, variant in server.experiment.assign(f"{name}-{pid}", who).items():
                payload = variant.get("payload")
                out.add(
                    (
                        name,
                        user.amplitude_id,
                        user.user_id,
                        user.device_id,
                        flag,
                        variant["key"],
                        None if payload is None else json.dumps(payload, sort_keys=True),
                    )
                )
    return out


def _assignments(settings: LoaderSettings, at: datetime) -> set[tuple[Any, ...]]:
    rows = _rows(
        settings,
        "SELECT deployment, amplitude_id, user_id, device_id, flag_key, variant, payload"
        f" FROM amplitude.experiment_assignments WHERE snapshot_at = '{at:%Y-%m-%d %H:%M:%S}'",
    )
    return {
        (
            *(r[k] for k in ("deployment", "amplitude_id", "user_id", "device_id", "flag_key")),
            r["variant"],
            None if r["payload"] is None else json.dumps(json.loads(r["payload"]), sort_keys=True),
        )
        for r in rows
    }


def test_flags_and_assignments_land_with_history(
    server: EmulatorServer,
    synthetic: SyntheticProject,
    config: ProjectConfig,
    with_cohorts: LoaderSettings,
) -> None:
    settings, pid = with_cohorts, synthetic.project_id
    before = flags_now(server, synthetic)
    expected_before = _expected(server, pid)
    first = snapshot_project(
        config, settings, ("experiment",), experiment_options=FAST, now=FIRST
    ).experiment
    change_flags(server, synthetic)
    after = flags_now(server, synthetic)
    expected_after = _expected(server, pid)
    second = snapshot_project(
        config, settings, ("experiment",), experiment_options=FAST, now=SECOND
    ).experiment
    assert first is not None and second is not None
    assert first.flags == {"server": 4, "client": 2} and first.users == len(_users())

    flags = _rows(settings, "SELECT * FROM amplitude.experiment_flags")
    for at, served in ((FIRST, before), (SECOND, after)):
        landed = {
            (r["deployment"], r["flag_key"]): json.loads(r["raw"])
            for r in flags
            if r["snapshot_at"] == at.replace(tzinfo=None)
        }
        assert landed == {(d, f["key"]): f for d, fs in served.items() for f in fs}
    current = _rows(
        settings,
        "SELECT deployment, flag_version, variants FROM amplitude.experiment_flags_current"
        " WHERE flag_key = 'checkout-experiment'",
    )
    assert [(r["deployment"], r["flag_version"]) for r in current] == [("server", 8)]
    assert json.loads(current[0]["variants"])["treatment"]["payload"]["cta"] == "Go"

    # Assignments: every user's variants in every deployment, as Experiment assigns them then.
    assert expected_before != expected_after  # the new payload shows in the second snapshot
    assert _assignments(settings, FIRST) == expected_before
    assert _assignments(settings, SECOND) == expected_after
    # Never tracked: Experiment recorded no assignment event for any of these evaluations.
    assert server.experiment.evaluations == 2 * 2 * len(_users())
    assert server.experiment.tracked == 0
    [log] = _rows(
        settings,
        "SELECT report FROM amplitude.snapshot_log WHERE kind = 'experiment'"
        f" AND snapshot_at = '{SECOND:%Y-%m-%d %H:%M:%S}'",
    )
    report = json.loads(log["report"])
    assert report["users"] == len(_users()) and report["cohorts"] == {COHORT.id: COHORT.name}
    assert report["users_over_cap"] == 0 and report["unmatched_cohort_patterns"] == ["Nobody*"]
    anonymous = sum(1 for n in truth.members(COHORT) if not truth.user_id(n))
    assert report["members_without_user_id"] == anonymous > 0
    # A holdout group is a row like any flag, and assigns its variant like one.
    assert ("server", "holdout-q4") in {(r["deployment"], r["flag_key"]) for r in flags}
    assert any(row[4] == "holdout-q4" for row in _assignments(settings, SECOND))


def test_the_cap_and_the_rate_limit_hold(
    server: EmulatorServer, config: ProjectConfig, settings: LoaderSettings
) -> None:
    listed = tuple(ExperimentUser(f"user_{n}") for n in range(30, 0, -1))
    rate = 8.0
    options = ExperimentOptions(users=listed, max_users=12, requests_per_second=rate)
    report = snapshot_project(
        config, settings, ("experiment",), experiment_options=options, now=FIRST
    ).experiment
    assert report is not None
    kept = sorted(u.user_id or "" for u in listed)[:12]
    assert report.users == 12 and report.selection.over_cap == 18
    calls = server.experiment.calls
    assert sorted({user for _, _, user, _ in calls}) == kept  # the same 12 users every time
    assert len(calls) == 12 * 2
    times = sorted(t for t, *_ in calls)
    # At most `rate` requests in any second (arrival times, less 50 ms for the network).
    assert max(sum(1 for u in times if t <= u < t + 0.95) for t in times) <= rate
    assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.9
    assert server.experiment.tracked == 0


def test_an_erased_user_is_neither_asked_about_nor_kept(
    server: EmulatorServer,
    synthetic: SyntheticProject,
    config: ProjectConfig,
    with_cohorts: LoaderSettings,
) -> None:
    settings = with_cohorts
    erased = _users()[0]
    snapshot_project(config, settings, ("experiment",), experiment_options=FAST, now=FIRST)
    held = _rows(
        settings,
        "SELECT count(*) AS n FROM amplitude.experiment_assignments"
        f" WHERE user_id = '{erased.user_id}'",
    )
    assert held[0]["n"] > 0
    # Asked after the snapshot: its rows came before the request, so they go.
    asked = FIRST + timedelta(minutes=5)
    forget(config, settings, [IdRequest("user_id", str(erased.user_id))], "test", now=asked)
    gone = _rows(
        settings,
        "SELECT count(*) AS n FROM amplitude.experiment_assignments"
        f" WHERE user_id = '{erased.user_id}' OR amplitude_id = {erased.amplitude_id}",
    )
    assert gone[0]["n"] == 0
    server.experiment.calls.clear()
    # The erasure took the user out of the cohort's membership; listed by hand, the user is
    # still left out.
    again = replace(FAST, users=(*FAST.users, ExperimentUser(erased.user_id)))
    second = snapshot_project(
        config, settings, ("experiment",), experiment_options=again, now=SECOND
    ).experiment
    assert second is not None and second.selection.erased == 1
    assert erased.user_id not in {user for _, _, user, _ in server.experiment.calls}
    assert len(server.experiment.calls) == 2 * (len(_users()) - 1)
