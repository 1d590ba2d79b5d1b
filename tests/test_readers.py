"""Analysts and loads never block each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START
from tests.truth import truth

READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
    query = "SELECT count(*) FROM amplitude.events"
    print(con.execute(query).fetchone()[0], flush=True)
    for line in sys.stdin:  # each line asks for a count again on the same, still open connection
        print(con.execute(query).fetchone()[0], flush=True)
    """
)


def _reader(catalog: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", READER, catalog, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ask(reader: subprocess.Popen[str]) -> int:
    assert reader.stdin and reader.stdout
    reader.stdin.write("count\n")
    reader.stdin.flush()
    return int(reader.stdout.readline())


def test_a_reader_holding_the_catalog_open_blocks_no_sync_and_keeps_its_snapshot(
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    project: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    middle = START + timedelta(days=1)
    sync_projects([project], settings, end=middle, now=NOW)
    # The default DuckDB connection is read-write: it locks the file for every other process.
    reader = _reader(settings.catalog_path, "rw")
    try:
        assert reader.stdout
        before = int(reader.stdout.readline())
        assert before == len(truth(synthetic, START, middle))

        sync_projects([project], settings, now=NOW)  # must not hit DuckDB's lock
        refresh_catalog(settings, force=True)  # even a rebuilt catalog is swapped in beside it

        assert _ask(reader) == before  # its session keeps the snapshot it opened
    finally:
        reader.kill()
        reader.wait()
    fresh = _reader(settings.catalog_path, "ro")
    try:
        assert fresh.stdout
        assert int(fresh.stdout.readline()) == len(truth(synthetic, START, LAST))
    finally:
        fresh.kill()
        fresh.wait()


def test_catalog_files_are_never_left_half_built(settings: LoaderSettings) -> None:
    refresh_catalog(settings)
    folder = Path(settings.catalog_path).parent
    assert [p.name for p in folder.iterdir() if "building" in p.name] == []
