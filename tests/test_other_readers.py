"""Other engines read the lake's Delta tables, every version whole, as the catalog does.

A history with reloads of changed content (rows gone, rows new) on a compacted day and on a day
read from its hours; then every version of the events table is read, pinned, by Polars and by
DuckDB's own `delta` extension (in an environment of its own: the extension's wheel requires
DuckDB 1.5.5, the loader uses 2.0), and each answer is that version's ground truth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START
from tests.snapshot_truth import KEY, SnapshotTruth

HOUR = timedelta(hours=1)


def _history(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> SnapshotTruth:
    """Loads and reloads with changed content; the truth of every version they committed."""
    truth = SnapshotTruth(settings.lake_root)

    def sync(content: SyntheticProject, **window: object) -> None:
        emulator.projects[content.api_key] = content
        sync_projects([project], settings, now=NOW, **window)  # type: ignore[arg-type]
        truth.record(content)

    sync(synthetic, end=START + 30 * HOUR)
    changed = replace(synthetic, seed=8)
    for first in (START + 5 * HOUR, START + 26 * HOUR):  # a compacted day, a day of hours
        sync(changed, start=first, end=first + 2 * HOUR, reload=True)
    sync(synthetic, end=LAST)
    return truth


def _catalog_counts(settings: LoaderSettings) -> tuple[int, ...]:
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM amplitude.events),"
            " (SELECT count(DISTINCT uuid) FROM amplitude.events),"
            " (SELECT count(*) FROM amplitude.events_all),"
            " (SELECT count(DISTINCT uuid) FROM amplitude.events_all)"
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_polars_reads_every_version_as_its_ground_truth_and_the_newest_as_the_catalog(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    truth = _history(emulator, synthetic, project, settings)
    uri = str(Path(settings.lake_root) / KEY)
    versions = sorted(truth.snapshots)
    assert len(versions) >= 6, versions
    for version in versions:
        rows = pl.read_delta(uri, version=version, columns=["uuid", "later_copy"])
        first = rows.filter(~pl.col("later_copy"))
        answer = (first.height, first["uuid"].n_unique(), rows.height, rows["uuid"].n_unique())
        assert answer == truth.totals(version), version
    assert _catalog_counts(settings) == truth.totals(versions[-1])


#: Run in the extension's own environment: every version of the table, pinned, through
#: `delta_scan`, the extension installed from its wheel's file (DuckDB downloads nothing).
_READER = """
import glob, json, pathlib, sys
import duckdb, duckdb_extension_delta
folder = pathlib.Path(duckdb_extension_delta.__file__).parent
(extension,) = glob.glob(str(folder / "extensions" / "*" / "delta.duckdb_extension"))
con = duckdb.connect(
    config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
)
con.execute(f"INSTALL '{extension}'")
con.execute("LOAD delta")
uri, versions = sys.argv[1], json.loads(sys.argv[2])
out = {}
for version in versions:
    scan = f"delta_scan('{uri}', version => {version})"
    out[version] = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT later_copy),"
        f" count(DISTINCT uuid) FILTER (WHERE NOT later_copy), count(*), count(DISTINCT uuid)"
        f" FROM {scan}"
    ).fetchone()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_duckdbs_own_delta_extension_reads_every_version_as_its_ground_truth(
    tmp_path: Path,
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    uv = shutil.which("uv") or [sys.executable, "-m", "uv"]
    command = [uv] if isinstance(uv, str) else uv
    venv = tmp_path / "delta-reader"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run([*command, "venv", "-q", str(venv)], check=True, env=env, timeout=300)
    install = [*command, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
    subprocess.run(
        [*install, "duckdb==1.5.5", "duckdb-extension-delta"], check=True, env=env, timeout=600
    )
    truth = _history(emulator, synthetic, project, settings)
    versions = sorted(truth.snapshots)
    uri = str(Path(settings.lake_root) / KEY)
    read = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _READER, uri, json.dumps(versions)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    answers = {int(v): tuple(c) for v, c in json.loads(read.stdout).items()}
    assert answers == {v: truth.totals(v) for v in versions}
    assert answers[versions[-1]] == _catalog_counts(settings)
