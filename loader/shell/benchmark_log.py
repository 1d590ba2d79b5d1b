"""The cost of a long log: opening the newest version of a table after a year of hourly commits.

A year of hourly loads is 8,760 commits to the events table. Committing that many through
delta-rs takes minutes to hours here (about 150 ms a commit on a busy 2-core machine), too
long for a benchmark run. So the first two commits are real, and the other records are copies
of the second with a new file name and version: the same bytes delta-rs writes for a commit
that adds one file. Checkpoints are delta-rs's own, every 100 versions as the tables'
`delta.checkpointInterval` makes them, so the newest version is a checkpoint and up to 99
records away, as on a real lake.
"""

from __future__ import annotations

import functools
import json
import shutil
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loader.delta.commit import Change, commit
from loader.delta.files import add_file
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake

_SPEC = TableSpec(pa.schema([("n", pa.int64())]), stats=("n",))
_KEY = "bench/project_1/events"
_YEAR = timedelta(days=400)
#: Versions between two checkpoints (the tables' `delta.checkpointInterval`).
_CHECKPOINTS = 100


@dataclass
class OpenNewest:
    """What opening the newest version of a long log cost.

    Attributes:
        commits: Versions in the log.
        files: Data files the newest version lists.
        seconds: Opening it and listing its files (median of three).
    """

    commits: int
    files: int
    seconds: float


def _same(change: Change, _: object) -> Change:
    return change


def measure_open_newest(work: Path, commits: int = 8760) -> OpenNewest:
    """Build a table of `commits` versions, each adding a file, and time opening the newest.

    Args:
        work: A folder for the lake (emptied first).
        commits: Versions in the log.

    Returns:
        The measurement.
    """
    shutil.rmtree(work, ignore_errors=True)
    tables = DeltaTables(Lake(work / "lake"))
    scratch = work / "scratch"
    scratch.mkdir(parents=True)
    for number in range(2):
        local = scratch / f"{number}.parquet"
        pq.write_table(pa.table({"n": [number]}, _SPEC.schema), local)
        change = Change(adds=[add_file(tables, _KEY, _SPEC, local)])
        commit(tables, _KEY, _SPEC, "bench", functools.partial(_same, change), log_retention=_YEAR)
    log = Path(tables.uri(_KEY)) / "_delta_log"
    template = (log / f"{1:020d}.json").read_text().splitlines()
    add = next(json.loads(line) for line in template if '"add"' in line)
    info = next(json.loads(line) for line in template if '"commitInfo"' in line)
    for version in range(2, commits):
        add["add"]["path"] = f"part-{version:08d}.parquet"
        lines = [json.dumps(info), json.dumps(add)]
        (log / f"{version:020d}.json").write_text("\n".join(lines) + "\n")
        if version % _CHECKPOINTS == 0:
            table = tables.open(_KEY, version)
            assert table is not None
            table.create_checkpoint()
    runs = []
    files = 0
    for _ in range(3):
        started = time.monotonic()
        table = tables.open(_KEY)
        assert table is not None
        files = len(table.file_uris())
        runs.append(time.monotonic() - started)
    return OpenNewest(commits, files, statistics.median(runs))
