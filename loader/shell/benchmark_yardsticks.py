"""What the loader is measured against, in the same run: the floor and the best single block.

The floor: unzip and gunzip of the export to nowhere, with ISA-L, one process per core.

The best single block: what DuckDB alone does with the day. The day's members are laid out as
one folder of gzipped JSON lines per upload hour (not timed). Then, timed, two DuckDB
connections of one thread each take hours in turn: `read_json` with every field typed as the
loader types it (bags as JSON), sorted by `event_time`, written as one zstd Parquet file per
hour. That is the loader's work without its guarantees (rejects and their
reasons, unknown keys kept, duplicates, manifests, commits, the catalog), so the loader's time
over this one says what those cost on this machine, in the same run.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
from isal import igzip

from loader.amplitude.members import parse_member_name
from loader.amplitude.schema import FIELDS, SQL_TYPES
from loader.catalog import NO_DOWNLOADS, quote_identifier, quote_list, quote_literal


def _gunzip_members(args: tuple[str, list[str]]) -> int:
    path, names = args
    total = 0
    with zipfile.ZipFile(path) as archive:
        for name in names:
            with archive.open(name) as raw, igzip.open(raw, "rb") as stream:
                while chunk := stream.read(4 << 20):
                    total += len(chunk)
    return total


def measure_floor(zip_path: Path, processes: int | None = None) -> tuple[float, int]:
    """Unzip and gunzip every member to nowhere, one process per core.

    Args:
        zip_path: The export.
        processes: Processes (default: one per core).

    Returns:
        (seconds, decompressed bytes).
    """
    processes = processes or os.cpu_count() or 2
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if n.endswith(".json.gz")]
    shares = [(str(zip_path), names[i::processes]) for i in range(processes)]
    started = time.monotonic()
    with ProcessPoolExecutor(processes) as pool:
        total = sum(pool.map(_gunzip_members, shares))
    return time.monotonic() - started, total


#: How `read_json` reads each field: as the loader types it, but the fields whose JSON type varies
#: between projects stay JSON (the loader keeps them as their JSON text), and timestamps are read
#: as text and cast after (exports write "" for a missing one).
_COLUMNS = {
    f.key: "JSON" if f.kind == "text" else "VARCHAR" if f.kind == "timestamp" else SQL_TYPES[f.kind]
    for f in FIELDS
}


def _value(key: str, kind: str) -> str:
    name = quote_identifier(key)
    return f"TRY_CAST(NULLIF({name}, '') AS TIMESTAMP)" if kind == "timestamp" else name


def _hour_folders(zip_path: Path, work: Path) -> list[list[Path]]:
    """Copy each member out of the zip into a folder per upload hour (its gzip untouched)."""
    shutil.rmtree(work, ignore_errors=True)
    hours: dict[str, list[Path]] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for number, name in enumerate(n for n in archive.namelist() if n.endswith(".json.gz")):
            hour = f"{parse_member_name(name).hour:%Y%m%dT%H}"
            target = work / hour / f"{number}.json.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 4 << 20)
            hours.setdefault(hour, []).append(target)
    return [files for _, files in sorted(hours.items())]


def _write_hour(con: duckdb.DuckDBPyConnection, files: list[Path], out: Path) -> int:
    columns = (
        "{"
        + ", ".join(f"{quote_literal(k)}: {quote_literal(t)}" for k, t in _COLUMNS.items())
        + "}"
    )
    select = ", ".join(f"{_value(f.key, f.kind)} AS {quote_identifier(f.column)}" for f in FIELDS)
    con.execute(
        f"COPY (SELECT {select} FROM read_json({quote_list([str(f) for f in files])},"
        f" format = 'newline_delimited', columns = {columns}) ORDER BY event_time)"
        f" TO {quote_literal(str(out))} (FORMAT parquet, COMPRESSION zstd)"
    )
    row = con.execute(f"SELECT count(*) FROM read_parquet({quote_literal(str(out))})").fetchone()
    return int(row[0]) if row else 0


def measure_best_block(zip_path: Path, work: Path, connections: int = 2) -> tuple[float, int]:
    """Time DuckDB turning the day's hours into sorted, typed Parquet, one thread a connection.

    Args:
        zip_path: The day's export.
        work: A folder for the hours and the Parquet files (emptied first).
        connections: Connections, one thread each, that take hours in turn.

    Returns:
        (seconds, rows written).
    """
    hours = _hour_folders(zip_path, work / "hours")
    out = work / "parquet"
    out.mkdir(parents=True)
    queue = list(enumerate(hours))
    lock = threading.Lock()
    rows = [0] * connections
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        with duckdb.connect(config={**NO_DOWNLOADS, "threads": 1}) as con:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    number, files = queue.pop(0)
                try:
                    rows[slot] += _write_hour(con, files, out / f"{number:02d}.parquet")
                except BaseException as exc:  # reported below, in the caller's thread
                    errors.append(exc)
                    return

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    if errors:
        raise errors[0]
    return seconds, sum(rows)
