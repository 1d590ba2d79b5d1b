"""The benchmark: the loader end to end against the physical floor, on this machine.

It generates a synthetic one-day export once (reused), then measures in the same run:

* the floor: unzip and gunzip of that zip to nowhere, ISA-L, one process per core;
* the best single block: DuckDB alone turning the hours into typed, sorted Parquet;
* the loader end to end, in a child process: download from the emulator over loopback,
  normalise, publish the Parquet files and manifests, refresh the catalog; with the peak memory
  of the child's whole process tree;
* three analyst queries on the catalog's views over Parquet and on a native DuckDB table of the
  same rows;
* a sync with nothing to do over a year of loaded hours (8,760 manifests);
* the hourly mode: the same day published hour by hour, then compacted, and what it wrote;
* optionally, the loader again into a lake on object storage (`--lake s3://...`), beside the
  local figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE, EventsLoader
from loader.amplitude.hour_manifests import TABLE, ExportRequest, HourFacts, events_manifest
from loader.catalog import tune_for_views
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.bulk import BulkSpec, write_export
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.planner import Window
from loader.secrets import Secret
from loader.shell.benchmark_hourly import measure_hourly
from loader.shell.benchmark_log import measure_open_newest
from loader.shell.benchmark_yardsticks import measure_best_block, measure_floor
from loader.snapshot.layout import TableLayout

DAY = datetime(2024, 3, 1, tzinfo=UTC)
QUERIES = {
    "events per type per day, one week": (
        "SELECT event_time::DATE AS day, event_type, count(*) FROM {t}"
        " WHERE event_time >= TIMESTAMP '2024-02-24' AND event_time < TIMESTAMP '2024-03-02'"
        " GROUP BY ALL"
    ),
    "daily active users": (
        "SELECT event_time::DATE AS day, count(DISTINCT amplitude_id) FROM {t} GROUP BY ALL"
    ),
    "sessions of one user": (
        "SELECT session_id, min(event_time), max(event_time), count(*) FROM {t}"
        " WHERE user_id = 'user_7' GROUP BY ALL"
    ),
}


@dataclass
class BenchResult:
    """The figures of one benchmark run.

    Attributes:
        events: Events in the export (all its days).
        days: Days in the window, each of the same number of events.
        json_bytes: Decompressed bytes of the export.
        zip_bytes: Size of the zips.
        floor_seconds: Unzip and gunzip to nowhere, one process per core.
        block_seconds: The best single block: DuckDB alone turning the hours into sorted,
            typed Parquet, two connections of one thread (`loader.shell.benchmark_yardsticks`).
        block_rows: Rows that block wrote (every event, or the measure is void).
        loader_seconds: The loader end to end.
        peak_memory_mb: Peak resident memory of the loader's process tree.
        queries: Per query: seconds on the views, on a native table, and their ratio.
        noop_sync_seconds: A sync with nothing to do over 8,760 loaded hours.
        open_newest_seconds: Opening the newest version of a table after 8,760 hourly
            commits, and listing its files (`loader.shell.benchmark_log`).
        hourly: The hourly mode: the first day published hour by hour, then compacted
            (`loader.shell.benchmark_hourly`); empty for windows of several days.
        hourly_text: The same, as a line for people.
        remote_lake: The object-storage lake loaded into as well, if any.
        remote_seconds: The loader end to end into that lake.
        remote_objects: The objects that load left in it.
    """

    events: int
    days: int = 1
    json_bytes: int = 0
    zip_bytes: int = 0
    floor_seconds: float = 0.0
    block_seconds: float = 0.0
    block_rows: int = 0
    loader_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    queries: dict[str, dict[str, float]] = field(default_factory=dict)
    noop_sync_seconds: float = 0.0
    open_newest_seconds: float = 0.0
    hourly: dict[str, float] = field(default_factory=dict)
    hourly_text: str = ""
    remote_lake: str = ""
    remote_seconds: float = 0.0
    remote_objects: int = 0

    @property
    def ratio_to_floor(self) -> float:
        """The loader's time over the floor's."""
        return self.loader_seconds / self.floor_seconds if self.floor_seconds else 0.0

    def summary(self) -> dict[str, object]:
        """All figures, derived ones included, for printing or JSON."""
        seconds = self.loader_seconds or 1e-9
        return {
            **asdict(self),
            "events_per_second": round(self.events / seconds),
            "json_mb_per_second": round(self.json_bytes / 1e6 / seconds, 1),
            "floor_events_per_second": round(self.events / (self.floor_seconds or 1e-9)),
            "ratio_to_floor": round(self.ratio_to_floor, 2),
            "ratio_to_block": round(seconds / self.block_seconds, 2) if self.block_seconds else 0,
            "remote_ratio_to_local": round(self.remote_seconds / seconds, 2),
        }


def _peak_tree_rss(process: psutil.Process, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        try:
            tree = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)


def measure_loader(
    zips: list[Path], work: Path, project: SyntheticProject, lake: str | None = None
) -> tuple[float, float]:
    """Load the export through the command line in a child process, against the emulator.

    Args:
        zips: One export a day from `DAY` on, served by the emulator for that day's request.
        work: A folder for the catalog, and the lake unless `lake` is given (emptied first).
        project: The synthetic project (its keys).
        lake: Another lake (a new, empty one) to load into instead of `work/lake`.

    Returns:
        (seconds, peak resident memory of the child's process tree in MB).
    """
    shutil.rmtree(work, ignore_errors=True)
    days = [DAY + timedelta(days=d) for d in range(len(zips))]
    static = {(f"{d:%Y%m%d}T00", f"{d:%Y%m%d}T23"): z for d, z in zip(days, zips, strict=True)}
    with EmulatorServer([project], static_exports=static) as server:
        env = {
            **os.environ,
            "AMPLITUDE_API_KEY": project.api_key,
            "AMPLITUDE_SECRET_KEY": project.secret_key,
        }
        command = [
            sys.executable,
            "-m",
            "loader",
            "backfill",
            "--start",
            f"{DAY:%Y-%m-%d}",
            "--end",
            f"{days[-1]:%Y-%m-%d}",
            "--project-id",
            str(project.project_id),
            "--base-url",
            server.url,
            "--lake",
            lake or str(work / "lake"),
            "--catalog",
            str(work / "catalog.duckdb"),
        ]
        started = time.monotonic()
        child = subprocess.Popen(  # noqa: S603  (our own command line, no user text)
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stop, peak = threading.Event(), [0.0]
        watcher = threading.Thread(
            target=_peak_tree_rss, args=(psutil.Process(child.pid), stop, peak), daemon=True
        )
        watcher.start()
        _, errors = child.communicate()
        seconds = time.monotonic() - started
        stop.set()
        watcher.join()
    if child.returncode != 0:
        raise RuntimeError(f"the loader failed: {errors.decode()[-2000:]}")
    return seconds, peak[0] / 1e6


def measure_queries(catalog: Path, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Time the analyst queries on the views and on a native table of the same rows.

    Args:
        catalog: The catalog file.
        repeat: Runs per query (the median counts).

    Returns:
        Per query: `views`, `native` seconds and `ratio`.
    """
    results = {}
    with tune_for_views(duckdb.connect()) as con:
        con.execute(f"ATTACH '{catalog}' AS catalog (READ_ONLY)")
        con.execute("CREATE TABLE native_events AS SELECT * FROM catalog.amplitude.events")
        for name, sql in QUERIES.items():
            timings = {}
            for label, table in (
                ("views", "catalog.amplitude.events"),
                ("native", "native_events"),
            ):
                con.execute(sql.format(t=table)).fetchall()  # warm both alike
                runs = []
                for _ in range(repeat):
                    started = time.monotonic()
                    con.execute(sql.format(t=table)).fetchall()
                    runs.append(time.monotonic() - started)
                timings[label] = statistics.median(runs)
            timings["ratio"] = timings["views"] / timings["native"] if timings["native"] else 0
            results[name] = {k: round(v, 4) for k, v in timings.items()}
    return results


def measure_noop_sync(work: Path, hours: int = 8760) -> float:
    """Time a sync with nothing to do over a year of loaded hours.

    Args:
        work: A folder for the lake (emptied first).
        hours: Loaded hours.

    Returns:
        Seconds.
    """
    shutil.rmtree(work, ignore_errors=True)
    lake = Lake(work / "lake")
    store = ManifestStore(TableLayout(lake, SOURCE, "100001", TABLE))
    start = DAY - timedelta(hours=hours)
    manifests = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        request = ExportRequest(100001, Window(hour, hour), "bench", DAY)
        manifests.append(events_manifest(request, hour, HourFacts()))
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    store.append(manifests, scratch, log_retention=timedelta(days=7))
    # An unreachable port: if the sync made any request it would fail.
    project = ProjectConfig(
        100001, Secret("bench-key-0"), Secret("bench-secret-0"), base_url="http://127.0.0.1:9"
    )
    settings = LoaderSettings(
        lake_root=str(work / "lake"), catalog_path=str(work / "c.duckdb"), start=start
    )
    started = time.monotonic()
    report = EventsLoader(project, settings, now=DAY + timedelta(hours=2)).sync()
    seconds = time.monotonic() - started
    assert report.requests == 0
    return seconds


def run_benchmark(
    events: int,
    folder: Path,
    *,
    days: int = 1,
    skip_queries: bool = False,
    noop_hours: int = 8760,
    lake: str | None = None,
    skip_hourly: bool = False,
) -> BenchResult:
    """Run every measurement on an export of `events` events a day over `days` days.

    Args:
        events: Events in each synthetic day.
        folder: Where the exports (kept) and the work folders go.
        days: Days in the window: a longer window has as many events per hour, so memory must
            not grow with it.
        skip_queries: Leave out the query comparison.
        noop_hours: Loaded hours the no-op sync looks over (a year by default).
        lake: An object-storage URL (`s3://bucket/prefix`) to load into as well, with the
            store's credentials from its standard chain; the load goes to a new folder below
            it, deleted afterwards, and a missing bucket is created.
        skip_hourly: Leave out the hourly mode.

    Returns:
        The figures.
    """
    project = SyntheticProject()
    zips = [
        write_export(
            BulkSpec(events, DAY + timedelta(days=d), project), folder / _zip_name(events, d)
        )
        for d in range(days)
    ]
    result = BenchResult(
        events=events * days, days=days, zip_bytes=sum(z.stat().st_size for z in zips)
    )
    for zip_path in zips:
        seconds, json_bytes = measure_floor(zip_path)
        result.floor_seconds += seconds
        result.json_bytes += json_bytes
        seconds, rows = measure_best_block(zip_path, folder / "block")
        result.block_seconds += seconds
        result.block_rows += rows
    result.loader_seconds, result.peak_memory_mb = measure_loader(zips, folder / "run", project)
    if lake:
        result.remote_lake = lake
        with _scratch_lake(lake) as url:
            result.remote_seconds, _ = measure_loader(zips, folder / "remote", project, url)
            remote = Lake(url)
            result.remote_objects = len(remote.files(remote.root))
    if not skip_queries:
        result.queries = measure_queries(folder / "run" / "catalog.duckdb")
    result.noop_sync_seconds = measure_noop_sync(folder / "noop", noop_hours)
    result.open_newest_seconds = measure_open_newest(folder / "log", noop_hours).seconds
    if days == 1 and not skip_hourly:
        shutil.rmtree(folder / "hourly", ignore_errors=True)
        hourly = measure_hourly(zips[0], folder / "hourly", project)
        result.hourly, result.hourly_text = hourly.summary(), hourly.text()
    return result


@contextlib.contextmanager
def _scratch_lake(url: str) -> Iterator[str]:
    """A new folder below an object-storage URL, deleted after; its bucket made if missing."""
    lake = Lake(url)
    bucket = lake.root.split("/", 1)[0]
    if not lake.fs.exists(bucket):
        lake.fs.mkdir(bucket)
    folder = lake.join(f"amplitude-loader-bench-{uuid.uuid4().hex[:12]}")
    try:
        yield lake.url(folder)
    finally:
        if lake.fs.exists(folder):
            lake.fs.rm(folder, recursive=True)


def _zip_name(events: int, day: int) -> str:
    # v2: every event has its own ids and times (exports of v1 repeated 4,000 templates' values);
    # v3: events weigh 2.3 KB, as real ones do (v2's 1.9 KB).
    return f"export-v3-{events}.zip" if day == 0 else f"export-v3-{events}-day{day + 1}.zip"


def report_text(result: BenchResult) -> str:
    """Format the figures for people.

    Args:
        result: The figures.

    Returns:
        A few lines.
    """
    s = result.summary()
    lines = [
        f"export            {result.events:,} events over {result.days} day(s),"
        f" {result.json_bytes / 1e9:.2f} GB of JSON,"
        f" {result.zip_bytes / 1e9:.2f} GB zip",
        f"floor             {result.floor_seconds:.1f} s ({s['floor_events_per_second']:,}"
        " events/s): unzip + gunzip (ISA-L), one process per core",
        f"best block        {result.block_seconds:.1f} s: DuckDB read_json of the hours, typed,"
        " sorted, zstd Parquet, 2 connections x 1 thread",
        f"loader            {result.loader_seconds:.1f} s ({s['events_per_second']:,} events/s,"
        f" {s['json_mb_per_second']} MB/s of JSON), {s['ratio_to_floor']}x the floor,"
        f" {s['ratio_to_block']}x the best block",
        f"peak memory       {result.peak_memory_mb:,.0f} MB (the loader's whole process tree)",
        f"no-op sync        {result.noop_sync_seconds:.2f} s over 8,760 loaded hours",
        f"newest version    {result.open_newest_seconds:.3f} s to open and list its files, after"
        " 8,760 hourly commits",
        *([result.hourly_text] if result.hourly_text else []),
    ]
    if result.remote_lake:
        lines.append(
            f"loader into {result.remote_lake}  {result.remote_seconds:.1f} s,"
            f" {s['remote_ratio_to_local']}x the local lake's {result.loader_seconds:.1f} s"
            f" ({result.remote_objects:,} objects written)"
        )
    for name, timing in result.queries.items():
        lines.append(
            f"query             {name}: views {timing['views']:.3f} s, native"
            f" {timing['native']:.3f} s ({timing['ratio']:.2f}x)"
        )
    return "\n".join(lines)


def write_json(results: list[BenchResult], path: Path) -> None:
    """Write the figures as JSON, for tracking."""
    path.write_text(json.dumps([r.summary() for r in results], indent=1))
