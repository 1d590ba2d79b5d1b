"""The command line: the demo, sync and status, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from loader.emulator import EmulatorServer
from tests.conftest import LAST
from tests.loader_process import Finished, run_loader


def _run(*args: str, cwd: Path, **env: str) -> Finished:
    """`amplitude-loader <args>` in a child process (see `tests.loader_process`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    return run_loader(list(args), {**clean, **env}, cwd / ".output", cwd=cwd, timeout=300)


def _demo_env(emulator: EmulatorServer) -> dict[str, str]:
    """The demo project's id and keys, going to the emulator."""
    return {
        "AMPLITUDE_PROJECT_ID": "100001",
        "AMPLITUDE_API_KEY": "demo-api-key",
        "AMPLITUDE_SECRET_KEY": "demo-secret-key",
        "AMPLITUDE_BASE_URL": emulator.url,
    }


def test_demo_loads_the_synthetic_project_and_checks_itself(tmp_path: Path) -> None:
    # The installed console script itself, as the README runs it (the other tests fork).
    script = Path(sys.executable).with_name("amplitude-loader")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    result = subprocess.run(
        [str(script), "demo", "--days", "1", "--events-per-hour", "40"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "matches" in result.stdout and "DOES NOT MATCH" not in result.stdout
    assert " in 24 hours (" in result.stdout, result.stdout  # every hour, as `status` counts
    assert "SELECT" in result.stdout
    assert (tmp_path / "warehouse" / "catalog.duckdb").exists()

    # `status` after the demo, with nothing configured: the lake's projects, no key needed.
    status = _run("status", "--html", "status.html", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "project 100001" in status.stdout and "hours         24 (" in status.stdout
    assert "project 100001" in (tmp_path / "status.html").read_text()

    query = _run("query", "SELECT count(*) > 0 FROM amplitude.events", cwd=tmp_path)
    assert query.returncode == 0 and query.stdout.splitlines()[-1] == "True"
    wrong = _run("query", "SELECT nope FROM amplitude.events", cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1, wrong.stderr
    assert "the query failed: Binder Error" in wrong.stderr and "SHOW ALL TABLES" in wrong.stderr
    missing = _run("query", "SELECT 1", "--catalog", "elsewhere.duckdb", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
    assert "there is no catalog at elsewhere.duckdb" in missing.stderr


def test_sync_status_and_a_second_sync(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = _demo_env(emulator)
    args = ("--start", f"{LAST:%Y-%m-%d}", "--end", f"{LAST:%Y-%m-%d}")
    first = _run("backfill", *args, cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "24 hour(s)" in first.stdout.replace("loaded, ", "").replace(" empty", "") or (
        "hour(s) loaded" in first.stdout
    )
    second = _run("backfill", *args, cwd=tmp_path, **env)
    assert "0 export request(s)" in second.stdout

    status = _run("status", "--json", "--default-start", f"{LAST:%Y-%m-%d}", cwd=tmp_path, **env)
    assert status.returncode == 0, status.stderr
    [state] = json.loads(status.stdout)
    assert state["loaded_ranges"] == [f"{LAST:%Y-%m-%d}T00..{LAST:%Y-%m-%dT%H}"]
    assert state["last_run"]["ok"] is True and state["hours_loaded"] == 24
    # status reads only the lake: it needs no keys
    text = _run(
        "status",
        "--default-start",
        f"{LAST:%Y-%m-%d}",
        cwd=tmp_path,
        AMPLITUDE_PROJECT_ID="100001",
    )
    assert text.returncode == 0, text.stderr
    snapshot = state["snapshot"]
    assert f"lake snapshot {snapshot}; the catalog reads snapshot {snapshot}" in text.stdout
    vacuumed = _run("vacuum", "--retention-hours", "0", cwd=tmp_path)
    assert vacuumed.returncode == 0, vacuumed.stderr
    assert "vacuumed" in vacuumed.stdout and "removed" in vacuumed.stdout


def test_missing_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run("sync", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "AMPLITUDE_PROJECT_ID" in result.stderr


def test_a_reversed_range_and_no_start_are_configuration_errors(tmp_path: Path) -> None:
    keys = {"AMPLITUDE_API_KEY": "k", "AMPLITUDE_SECRET_KEY": "s", "AMPLITUDE_PROJECT_ID": "1"}
    reversed_range = _run(
        "backfill", "--start", "2024-03-05", "--end", "2024-03-02", cwd=tmp_path, **keys
    )
    assert reversed_range.returncode == 2, reversed_range.stderr
    assert reversed_range.stderr.count("\n") == 1
    assert "--end 2024-03-02T23 is before --start 2024-03-05T00" in reversed_range.stderr
    no_start = _run("sync", "--base-url", "http://127.0.0.1:9", cwd=tmp_path, **keys)
    assert no_start.returncode == 2, no_start.stderr
    assert "no start date configured" in no_start.stderr and "AMPLITUDE_START" in no_start.stderr


def test_wrong_keys_exit_1_with_one_line_naming_the_region(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    result = _run(
        "backfill",
        "--start",
        "2024-03-03",
        "--end",
        "2024-03-03",
        cwd=tmp_path,
        AMPLITUDE_PROJECT_ID="100001",
        AMPLITUDE_API_KEY="nope-1234",
        AMPLITUDE_SECRET_KEY="wrong-secret-9876",
        AMPLITUDE_BASE_URL=emulator.url,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "AMPLITUDE_REGION=eu" in result.stderr and "wrong-secret-9876" not in result.stderr


def test_snapshot_command_and_a_second_run_that_downloads_nothing(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    emulator.metadata.polls_before_done = 0
    env = _demo_env(emulator)
    first = _run("snapshot", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert "downloaded 5" in first.stdout and "skipped c5huge" in first.stdout
    second = _run("snapshot", "cohorts", cwd=tmp_path, **env)
    assert second.returncode == 0, second.stderr
    assert "downloaded 0" in second.stdout and "5 unchanged (not downloaded again)" in second.stdout
    budget = _run("snapshot", "cohorts", "--monthly-budget", "5", cwd=tmp_path, **env)
    assert budget.returncode == 0  # nothing changed, so nothing to download: the budget holds
    emulator.metadata.cohort_revision["c0power"] = 1
    refused = _run("snapshot", "cohorts", "--monthly-budget", "5", cwd=tmp_path, **env)
    assert refused.returncode == 1 and "budget of 5 is used up" in refused.stderr


def test_a_range_wholly_in_the_future_is_a_configuration_error(tmp_path: Path) -> None:
    keys = {"AMPLITUDE_API_KEY": "k", "AMPLITUDE_SECRET_KEY": "s", "AMPLITUDE_PROJECT_ID": "1"}
    future = _run(
        "backfill",
        "--start",
        "2099-01-01",
        "--end",
        "2099-01-02",
        "--base-url",
        "http://127.0.0.1:9",
        cwd=tmp_path,
        **keys,
    )
    assert future.returncode == 2, future.stderr
    assert future.stderr.count("\n") == 1
    assert "hours from 2099-01-01T00 are not exported yet" in future.stderr


def test_a_bad_value_or_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (("backfill", "--start", "soon", "--end", "2024-01-01"), ("sync", "--bogus")):
        result = _run(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Usage:" not in result.stderr, result.stderr
        assert f"(see `amplitude-loader {args[0]} --help`)" in result.stderr


def test_nothing_listening_on_a_loopback_url_fails_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = _run(
        "backfill",
        "--start",
        "2024-03-03",
        "--end",
        "2024-03-03",
        cwd=tmp_path,
        AMPLITUDE_PROJECT_ID="1",
        AMPLITUDE_API_KEY="key-1234",
        AMPLITUDE_SECRET_KEY="secret-5678",
        AMPLITUDE_BASE_URL=f"http://127.0.0.1:{port}",
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"nothing listens at http://127.0.0.1:{port}" in result.stderr
    assert "hours 2024-03-03T00..2024-03-03T23" in result.stderr
    assert time.monotonic() - started < 30  # it used to retry for 100 s first


def test_a_full_disk_is_explained_and_recorded_for_status(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    env = _demo_env(emulator)
    day = f"{LAST:%Y-%m-%d}"
    full = _run(
        "backfill",
        "--start",
        day,
        "--end",
        day,
        cwd=tmp_path,
        LOADER_DISK_FULL_AT="publish.before_data",
        **env,
    )
    assert full.returncode == 1 and full.stderr.count("\n") == 1, full.stderr
    assert f"project 100001, hours {day}T00..{day}T23: the disk is full" in full.stderr
    assert "free space where the lake" in full.stderr
    status = _run("status", "--json", cwd=tmp_path, AMPLITUDE_PROJECT_ID="100001")
    [state] = json.loads(status.stdout)
    assert state["last_run"]["ok"] is False and "the disk is full" in state["last_run"]["error"]


def test_an_unwritable_catalog_folder_is_found_before_downloading(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    (tmp_path / "not-a-folder").write_text("")
    result = _run(
        "backfill",
        "--start",
        f"{LAST:%Y-%m-%d}",
        "--end",
        f"{LAST:%Y-%m-%d}",
        "--catalog",
        "not-a-folder/catalog.duckdb",
        cwd=tmp_path,
        **_demo_env(emulator),
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the catalog folder" in result.stderr and "cannot be written" in result.stderr
    assert emulator.export_requests() == []  # nothing was downloaded
