"""A reader in its own process, as an analyst's session: counts the events views until told to stop.

Run as `python tests/catalog_reader.py CATALOG MODE STOP_FILE [LAKE]`; MODE is `long` (one
read-only connection for the whole run), `fresh` (a new connection per query) or `attach` (a
connection held open the whole run, as a notebook would, and each query through
`open_catalog`). A remote LAKE's filesystem is registered in every session, as
`amplitude-loader query` does. Each answer is printed as one JSON line: the four counts of one
query, or the error it raised.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from loader.catalog import NO_DOWNLOADS, open_catalog
from loader.lake import Lake

QUERY = """
SELECT (SELECT count(*) FROM amplitude.events),
       (SELECT count(DISTINCT uuid) FROM amplitude.events),
       (SELECT count(*) FROM amplitude.events_all),
       (SELECT count(DISTINCT uuid) FROM amplitude.events_all)
"""


def _connect(catalog: str, filesystem: Any) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(catalog, read_only=True, config=NO_DOWNLOADS)
    if filesystem is not None:
        con.register_filesystem(filesystem)
    con.execute("SET parquet_metadata_cache = true")  # as the README recommends
    return con


def _evidence(catalog: str, folder: Path) -> str:
    """Keep a copy of the file now at the path, to tell a torn read from a torn file."""
    try:
        copy = folder / f"evidence-{os.getpid()}-{time.monotonic_ns()}.duckdb"
        shutil.copyfile(catalog, copy)
        with duckdb.connect(str(copy), read_only=True) as check:
            check.execute(QUERY).fetchone()
        return f"; the file now at the path (inode {os.stat(catalog).st_ino}) reads fine"
    except Exception as exc:  # the evidence itself failed: say how
        return f"; the file now at the path fails too: {type(exc).__name__}: {exc}"


def main(catalog: str, mode: str, stop: Path, lake: str | None = None) -> None:
    """Query every few tens of milliseconds until `stop` exists."""
    filesystem = Lake(lake).duckdb_filesystem if lake else None
    con = _connect(catalog, filesystem) if mode in ("long", "attach") else None
    while not stop.exists():
        phase = "open"  # said with an error: opening the catalog, or querying it
        try:
            if mode == "attach":
                with open_catalog(catalog, filesystem) as attached:
                    phase = "query"
                    row = attached.execute(QUERY).fetchone()
            elif con is None:
                with _connect(catalog, filesystem) as fresh:
                    phase = "query"
                    row = fresh.execute(QUERY).fetchone()
            else:
                phase = "query"
                row = con.execute(QUERY).fetchone()
            print(json.dumps({"counts": list(row or ())}), flush=True)
        except Exception as exc:
            error = f"{phase}: {type(exc).__name__}: {exc} (duckdb {duckdb.__version__})"
            error += _evidence(catalog, stop.parent)
            print(json.dumps({"error": error}), flush=True)
        time.sleep(0.02)


@contextlib.contextmanager
def reading(
    catalog: str | Path, stop: Path, modes: tuple[str, ...], lake: str | None = None
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Run one reader process per mode while the block runs; then stop them and collect.

    Yields:
        Mode to its answers (filled when the block ends): `{"counts": [...]}` or `{"error"}`.
    """
    command = [sys.executable, __file__, str(catalog)]
    readers = {
        mode: subprocess.Popen(
            [*command, mode, str(stop), *([lake] if lake else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in modes
    }
    answers: dict[str, list[dict[str, Any]]] = {}
    try:
        yield answers
    finally:
        stop.touch()
        for mode, reader in readers.items():
            out, err = reader.communicate(timeout=60)
            assert reader.returncode == 0, err
            answers[mode] = [json.loads(line) for line in out.splitlines()]


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), *sys.argv[4:5])
