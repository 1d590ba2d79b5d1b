"""On S3, where writers share no lock: a SIGKILL mid-commit, two loaders at once, readers meanwhile.

The loaders are the command line in processes of their own (`tests.loader_process`), each with
its own S3 client, as on separate machines; they find the loopback server and its credentials
through the standard `AWS_*` variables.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from loader.delta.tables import DeltaTables
from loader.emulator import EmulatorServer, SyntheticProject
from loader.lake import Lake
from tests.catalog_reader import reading
from tests.conftest import NOW, START, settings_in
from tests.lake_tables import each_commit_on_the_one_before
from tests.loader_process import LoaderProcess, run_loader
from tests.object_storage.lakes import catalog_events
from tests.snapshot_truth import KEY, SnapshotTruth
from tests.truth import truth

HOUR = timedelta(hours=1)
#: 26 hours: day 1 is finished under the tests' clock and compacted; day 2 is read from hours.
LAST = START + 25 * HOUR


def _synthetic() -> SyntheticProject:
    return SyntheticProject(events_per_hour=30, part_events=20)


def _backfill(
    server: EmulatorServer, url: str, tmp_path: Path, first: datetime, last: datetime
) -> list[str]:
    return [
        "backfill",
        *("--start", f"{first:%Y%m%dT%H}", "--end", f"{last:%Y%m%dT%H}"),
        *("--project-id", "100001", "--base-url", server.url),
        *("--lake", url, "--catalog", str(tmp_path / "catalog.duckdb")),
    ]


def _env(synthetic: SyntheticProject, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(AMPLITUDE_API_KEY=synthetic.api_key, AMPLITUDE_SECRET_KEY=synthetic.secret_key)
    return {**env, **extra}


def _assert_newest_snapshot_whole(url: str, synthetic: SyntheticProject) -> None:
    """Every file of the events table's newest version is in the bucket, and holds whole hours."""
    lake = Lake(url)
    events = DeltaTables(lake).open(KEY)
    if events is None:
        return
    for uri in events.file_uris():
        assert lake.exists(uri.split("://", 1)[1]), uri
    rows = events.to_pyarrow_table(columns=["uuid", "upload_hour"])
    by_hour: dict[datetime, set[str]] = {}
    for uuid, hour in zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True):
        by_hour.setdefault(hour, set()).add(uuid)
    for hour, uuids in by_hour.items():
        assert uuids == {e["uuid"] for e in synthetic.events(hour.astimezone(UTC))}, hour


def _newest(url: str) -> int:
    """The events table's newest version that changed files (a vacuum's do not)."""
    events = DeltaTables(Lake(url)).open(KEY)
    assert events is not None
    return next(e["version"] for e in events.history() if not e["operation"].startswith("VACUUM"))


@pytest.mark.parametrize(
    # The commit's own points: its files written, its record not yet or just created (the
    # local lake's crash tests cover every other point).
    "point",
    ["delta.before_commit:2", "delta.after_commit:1"],
)
def test_sigkill_during_a_commit_to_s3_then_a_rerun_gives_exactly_the_ground_truth(
    point: str, bucket: str, tmp_path: Path
) -> None:
    synthetic, url = _synthetic(), f"s3://{bucket}/lake"
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        command = _backfill(server, url, tmp_path, START, LAST)
        crashed = run_loader(command, _env(synthetic, LOADER_CRASH_AT=point), tmp_path / "out")
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        _assert_newest_snapshot_whole(url, synthetic)
        rerun = run_loader(command, _env(synthetic), tmp_path / "out")
        assert rerun.returncode == 0, rerun.stderr
    _assert_newest_snapshot_whole(url, synthetic)
    version, rows = catalog_events(replace(settings_in(tmp_path), lake_root=url))
    assert rows == truth(synthetic, START, LAST)
    assert version == _newest(url)
    events = DeltaTables(Lake(url)).open(KEY)
    assert events is not None
    assert len([u for u in events.file_uris() if "upload_date=2024-03-01/" in u]) == 1


def test_two_loaders_at_once_on_one_bucket_commit_one_history_and_readers_see_whole_snapshots(
    bucket: str, tmp_path: Path
) -> None:
    synthetic, url = _synthetic(), f"s3://{bucket}/lake"
    catalog, stop = tmp_path / "catalog.duckdb", tmp_path / "stop"
    last = LAST + 4 * HOUR
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        # Two hours first, so that the readers have a catalog to open.
        first = run_loader(
            _backfill(server, url, tmp_path, START, START + HOUR), _env(synthetic), tmp_path
        )
        assert first.returncode == 0, first.stderr
        with reading(catalog, stop, ("fresh", "attach"), url) as answered:
            time.sleep(1.5)  # the readers have opened the catalog and answered
            loaders = [
                LoaderProcess(
                    [*_backfill(server, url, tmp_path, a, b), "--reload"],
                    _env(synthetic),
                    tmp_path / "out",
                )
                for a, b in ((START, LAST), (START + 12 * HOUR, last))
            ]
            for loader in loaders:
                done = loader.wait(timeout=300)
                assert done.returncode == 0, done.stderr[-3000:]
            time.sleep(1.0)  # the readers see the newest catalog
        answers = list(answered.values())

    events = DeltaTables(Lake(url)).open(KEY)
    assert events is not None
    # One history: each commit made from the version before it, none moved past another's.
    assert each_commit_on_the_one_before(events)
    version, rows = catalog_events(replace(settings_in(tmp_path), lake_root=url))
    assert rows == truth(synthetic, START, last)
    assert version == _newest(url)
    _assert_newest_snapshot_whole(url, synthetic)

    # Every answer is the totals of one committed snapshot, and a reader never goes back.
    known = SnapshotTruth(url)
    known.record(synthetic)
    spans: dict[tuple[int, ...], list[int]] = {}
    for number in range(events.version() + 1):
        spans.setdefault(known.totals(number), []).append(number)
    for lines in answers:
        errors = [a["error"] for a in lines if "error" in a]
        assert not errors, errors[:3]
        counts = [tuple(a["counts"]) for a in lines]
        assert len(counts) >= 3 and not set(counts) - set(spans), (counts, sorted(spans))
        seen = [spans[c] for c in counts]
        assert not [(a, b) for a, b in pairwise(seen) if max(b) < min(a)], seen
