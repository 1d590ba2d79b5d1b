"""From a downloaded export zip to staged hours: sorted Parquet, rejects and manifests.

Members are grouped by the upload hour in their names and read in natural order. Each hour's
rows are collected as Arrow tables; an hour that outgrows the memory budget is spilled to sorted
chunk files and merged by DuckDB out of core, so memory never depends on the size of an hour.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loader import __version__
from loader.amplitude.members import SUFFIX, MemberName, parse_member_name
from loader.amplitude.normalise import Normaliser, add_bookkeeping
from loader.amplitude.schema import KEYS, SCHEMA_VERSION
from loader.archive import Guards, LineBlock, MemberReader, safe_members
from loader.errors import ArchiveError
from loader.hours import describe_hours, hour_key
from loader.manifest import HourManifest
from loader.pipeline import background
from loader.planner import Window
from loader.progress import NoProgress, Progress
from loader.publish import StagedHour

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 122_880  # DuckDB's own row-group size: one scan task per group
DUPLICATE_REASON = "uuid repeated within the hour (first copy kept)"


@dataclass
class StageRequest:
    """Everything staging needs to know about one downloaded window.

    Attributes:
        project_id: The configured project.
        window: The hours that were asked for.
        zip_path: The downloaded archive.
        zip_sha256: Its digest.
        zip_bytes: Its size.
        request_id: An id for this export request.
        loaded_at: The load's timestamp.
    """

    project_id: int
    window: Window
    zip_path: Path
    zip_sha256: str
    zip_bytes: int
    request_id: str
    loaded_at: datetime


@dataclass
class _HourRows:
    tables: list[pa.Table] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    spilled: list[Path] = field(default_factory=list)
    lines: int = 0
    bytes_json: int = 0
    memory: int = 0
    members: list[dict[str, object]] = field(default_factory=list)
    unknown_keys: set[str] = field(default_factory=set)
    rows_outside_hour: int = 0
    read: bool = False  # every member has been read (its rows may still wait in a batch)


@dataclass
class _Batch:
    lines: list[pa.Array] = field(default_factory=list)
    numbers: list[pa.Array] = field(default_factory=list)
    parts: list[pa.Array] = field(default_factory=list)
    nbytes: int = 0


class Stager:
    """Turns export zips into staged hours.

    Lines are normalised in batches of about `batch_bytes` that span members and hours (a query
    has a fixed cost); each hour is written out as soon as all of its rows are through.

    Args:
        scratch: A local folder for staged files.
        guards: Archive size limits.
        threads: Parsing threads.
        batch_bytes: Decompressed bytes normalised per query.
        hour_memory_bytes: Rows an hour may hold in memory before spilling to disk.
        progress: Progress sink.
    """

    def __init__(
        self,
        scratch: Path,
        guards: Guards,
        *,
        threads: int = 2,
        batch_bytes: int = 32 << 20,
        hour_memory_bytes: int = 512 << 20,
        progress: Progress | None = None,
    ) -> None:
        self.scratch = scratch
        self.guards = guards
        self.threads = threads
        self.batch_bytes = batch_bytes
        self.hour_memory_bytes = hour_memory_bytes
        self.progress = progress or NoProgress()
        self.normaliser = Normaliser(threads=threads, max_line_bytes=guards.max_line_bytes)

    def close(self) -> None:
        """Release the parser."""
        self.normaliser.close()

    def fingerprints(self, request: StageRequest) -> dict[datetime, str]:
        """Return each hour's content fingerprint from the zip's directory, reading no member.

        The fingerprint is a digest of the names, CRC-32s and sizes of an hour's members, as in
        its manifest's `content_sha256`; an hour without members has an empty fingerprint.

        Args:
            request: The downloaded window.

        Returns:
            Fingerprint of every hour of the window.
        """
        with zipfile.ZipFile(request.zip_path) as archive:
            by_hour = self._members_by_hour(archive, request)
        return {
            hour: _fingerprint(
                [
                    (n.name, i.CRC, i.file_size)
                    for n, i in sorted(by_hour.get(hour, []), key=lambda m: m[0])
                ]
            )
            for hour in request.window.hour_list()
        }

    def stage(self, request: StageRequest, only: set[datetime] | None = None) -> list[StagedHour]:
        """Stage every hour of a window from its zip.

        Hours of the window with no member are staged as empty. Members of hours outside the
        window are ignored (and logged): their hours get requests of their own.

        Args:
            request: The downloaded window.
            only: Stage only these hours of the window (default: all).

        Returns:
            One staged hour per hour staged, in order.

        Raises:
            ArchiveError: If the archive is unsafe, corrupt, or from another project.
        """
        started = time.monotonic()
        hours = [h for h in request.window.hour_list() if only is None or h in only]
        with zipfile.ZipFile(request.zip_path) as archive, ThreadPoolExecutor(1) as writer:
            by_hour = self._members_by_hour(archive, request)
            total_member_bytes = sum(i.file_size for ms in by_hour.values() for _, i in ms)
            reader = MemberReader(archive, self.guards)
            rows = {hour: _HourRows() for hour in hours}
            finishing = _Finishing(writer, self, request, total_member_bytes)
            sources: list[tuple[datetime, str]] = []  # part tag -> (hour, member name)
            batch = _Batch()

            def read() -> Iterator[tuple[datetime, MemberName, zipfile.ZipInfo, LineBlock | None]]:
                # Runs in a background thread: decompression overlaps parsing.
                for hour in hours:
                    for name, info in sorted(by_hour.get(hour, []), key=lambda m: m[0]):
                        yield hour, name, info, None
                        for block in reader.blocks(info):
                            yield hour, name, info, block

            current: datetime | None = None
            for hour, name, info, block in background(read()):
                if hour != current:
                    self._hour_read(current, rows, batch, finishing)
                    current = hour
                if block is None:  # a new member
                    rows[hour].members.append(
                        {"name": name.name, "crc32": info.CRC, "bytes": info.file_size}
                    )
                    sources.append((hour, name.name))
                    continue
                rows[hour].lines += len(block.lines)
                rows[hour].bytes_json += block.nbytes
                batch.lines.append(block.lines)
                batch.numbers.append(block.line_numbers)
                batch.parts.append(pa.array([len(sources) - 1] * len(block.lines), pa.int32()))
                batch.nbytes += block.nbytes
                if batch.nbytes >= self.batch_bytes:
                    self._flush(batch, sources, rows, request)
                    batch = _Batch()
                    finishing.ready(rows)
            self._hour_read(current, rows, batch, finishing)
            for hour in hours:  # hours without members
                rows[hour].read = True
            self._flush(batch, sources, rows, request)
            finishing.ready(rows)
            staged = finishing.results()
        log.debug("staged %s in %.2f s", request.window, time.monotonic() - started)
        return [staged[hour] for hour in hours]

    def _members_by_hour(
        self, archive: zipfile.ZipFile, request: StageRequest
    ) -> dict[datetime, list[tuple[MemberName, zipfile.ZipInfo]]]:
        wanted = set(request.window.hour_list())
        by_hour: dict[datetime, list[tuple[MemberName, zipfile.ZipInfo]]] = defaultdict(list)
        ignored = []
        for info in safe_members(archive, SUFFIX):
            name = parse_member_name(info.filename)
            if name.project != request.project_id:
                raise ArchiveError(
                    f"the export holds project {name.project}'s data, not project"
                    f" {request.project_id}'s",
                    project=request.project_id,
                    hours=str(request.window),
                    remedy="the keys belong to another project: fix the project id or the keys",
                )
            if name.hour in wanted:
                by_hour[name.hour].append((name, info))
            else:
                ignored.append(name)
        if ignored:
            log.warning(
                "project %s: ignored %d member(s) for hours outside the window %s (%s)",
                request.project_id,
                len(ignored),
                request.window,
                describe_hours(n.hour for n in ignored),
            )
        return by_hour

    def _flush(
        self,
        batch: _Batch,
        sources: list[tuple[datetime, str]],
        rows: dict[datetime, _HourRows],
        request: StageRequest,
    ) -> None:
        """Normalise a batch and hand each hour its rows and rejects."""
        if not batch.lines:
            return
        result = self.normaliser.normalise(
            pa.chunked_array(batch.lines).combine_chunks(),
            pa.chunked_array(batch.numbers).combine_chunks(),
            pa.chunked_array(batch.parts).combine_chunks(),
        )
        batch.lines, batch.numbers, batch.parts = [], [], []
        self.progress.normalised(result.events.num_rows)
        hour_of_part = pa.array([int(hour.timestamp()) for hour, _ in sources], pa.int64())
        event_hours = pc.take(hour_of_part, result.events.column("part"))
        for hour in {sources[p][0] for p in pc.unique(result.events.column("part")).to_pylist()}:
            selected = result.events.filter(pc.equal(event_hours, int(hour.timestamp())))
            self._add_rows(rows[hour], selected.drop_columns(["part"]), hour, request)
        if result.rejects.num_rows:
            names = pa.array([name for _, name in sources], pa.string())
            reject_hours = pc.take(hour_of_part, result.rejects.column("part"))
            with_member = result.rejects.append_column(
                "member", pc.take(names, result.rejects.column("part"))
            ).drop_columns(["part"])
            for stamp in pc.unique(reject_hours).to_pylist():
                hour = datetime.fromtimestamp(stamp, tz=request.window.first.tzinfo)
                rows[hour].rejects.append(with_member.filter(pc.equal(reject_hours, stamp)))

    def _add_rows(
        self, rows: _HourRows, events: pa.Table, hour: datetime, request: StageRequest
    ) -> None:
        events = add_bookkeeping(
            events, project_id=request.project_id, upload_hour=hour, loaded_at=request.loaded_at
        )
        extras = events.column("extra_fields").drop_null()
        for text in extras.to_pylist():  # rare: only rows with unknown keys or misfits
            rows.unknown_keys.update(k for k in json.loads(text) if k not in KEYS)
        uploaded = pc.floor_temporal(events.column("server_upload_time"), unit="hour")
        outside = pc.not_equal(uploaded, pa.scalar(hour.replace(tzinfo=None), pa.timestamp("us")))
        rows.rows_outside_hour += int(pc.sum(outside).as_py() or 0)
        rows.tables.append(events)
        rows.memory += events.nbytes
        if rows.memory > self.hour_memory_bytes:
            self._spill(rows)

    def _hour_read(
        self,
        hour: datetime | None,
        rows: dict[datetime, _HourRows],
        batch: _Batch,
        finishing: _Finishing,
    ) -> None:
        """Mark an hour's members as read; finish it at once if none of it waits in a batch."""
        if hour is None:
            return
        rows[hour].read = True
        if not batch.lines:
            finishing.ready(rows)

    def _finish_hour(
        self, request: StageRequest, hour: datetime, rows: _HourRows, total_member_bytes: int
    ) -> StagedHour:
        started = time.monotonic()
        data_file, row_count, duplicates = self._write_rows(rows)
        rejects_file, reject_count = self._write_rejects(
            rows.rejects, duplicates, hour, request.project_id
        )
        member_bytes = sum(int(str(m["bytes"])) for m in rows.members)
        share = member_bytes / total_member_bytes if total_member_bytes else 0.0
        fingerprint = _fingerprint([(m["name"], m["crc32"], m["bytes"]) for m in rows.members])
        manifest = HourManifest(
            project=str(request.project_id),
            table="events",
            hour=hour_key(hour),
            rows=row_count,
            lines_read=rows.lines,
            rejects=reject_count,
            bytes_json=rows.bytes_json,
            bytes_parquet=data_file.stat().st_size if data_file else 0,
            bytes_downloaded=round(request.zip_bytes * share),
            request={
                "id": request.request_id,
                "first_hour": hour_key(request.window.first),
                "last_hour": hour_key(request.window.last),
                "zip_sha256": request.zip_sha256,
                "zip_bytes": request.zip_bytes,
            },
            content_sha256=fingerprint,
            schema_version=SCHEMA_VERSION,
            loader_version=__version__,
            seconds={"write": round(time.monotonic() - started, 3)},
            extra={
                "duplicates_in_hour": 0 if duplicates is None else duplicates.num_rows,
                "members": rows.members,
                "unknown_keys": sorted(rows.unknown_keys),
                "rows_outside_hour": rows.rows_outside_hour,
            },
        )
        return StagedHour(hour, manifest, data_file, rejects_file)

    def _spill(self, rows: _HourRows) -> None:
        path = self.scratch / f"spill-{uuid.uuid4().hex}.parquet"
        table = pa.concat_tables(rows.tables).sort_by("event_time")
        pq.write_table(table, path, compression="zstd")
        rows.spilled.append(path)
        rows.tables, rows.memory = [], 0

    def _write_rows(self, rows: _HourRows) -> tuple[Path | None, int, pa.Table | None]:
        """Write the hour's rows, sorted by event_time, keeping the first copy of each uuid."""
        if rows.spilled:
            if rows.tables:
                self._spill(rows)
            return self._merge_spilled(rows.spilled)
        if not rows.tables or sum(t.num_rows for t in rows.tables) == 0:
            return None, 0, None
        table = pa.concat_tables(rows.tables)
        duplicates = None
        if pc.count_distinct(table.column("uuid")).as_py() != table.num_rows:
            table, duplicates = _first_copies(table)
        table = table.sort_by("event_time")
        path = self.scratch / f"hour-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        return path, table.num_rows, duplicates

    def _merge_spilled(self, chunks: list[Path]) -> tuple[Path, int, pa.Table | None]:
        path = self.scratch / f"hour-{uuid.uuid4().hex}.parquet"
        files = "[" + ", ".join(f"'{c}'" for c in chunks) + "]"
        # DuckDB sorts out of core past its memory limit; below ~256 MB it cannot even start.
        limit_mb = max(self.hour_memory_bytes >> 20, 256)
        with duckdb.connect(
            config={"threads": self.threads, "memory_limit": f"{limit_mb}MB"}
        ) as con:
            con.execute(f"SET temp_directory = '{self.scratch}'")
            con.execute(
                f"CREATE VIEW chunks AS SELECT *, row_number() OVER () AS _copy_order"
                f" FROM read_parquet({files})"
            )
            ranked = (
                "SELECT *, row_number() OVER (PARTITION BY uuid ORDER BY _copy_order) AS _nth"
                " FROM chunks"
            )
            con.execute(
                f"COPY (SELECT * EXCLUDE (_copy_order, _nth) FROM ({ranked}) WHERE _nth = 1"
                f" ORDER BY event_time) TO '{path}'"
                f" (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
            )
            duplicates = con.sql(f"SELECT uuid FROM ({ranked}) WHERE _nth > 1").to_arrow_table()
            count = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()
        for chunk in chunks:
            chunk.unlink(missing_ok=True)
        return path, int(count[0]) if count else 0, duplicates if duplicates.num_rows else None

    def _write_rejects(
        self, rejects: list[pa.Table], duplicates: pa.Table | None, hour: datetime, project_id: int
    ) -> tuple[Path | None, int]:
        records: list[dict[str, object]] = []
        for table in rejects:
            records.extend(table.to_pylist())
        if duplicates is not None:
            records.extend(
                {"member": None, "line_no": None, "reason": DUPLICATE_REASON, "line": uuid_value}
                for uuid_value in duplicates.column("uuid").to_pylist()
            )
        if not records:
            return None, 0
        path = self.scratch / f"rejects-{uuid.uuid4().hex}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as out:
            for record in records:
                record["upload_hour"] = f"{hour:%Y-%m-%d %H}:00:00"
                record["project_id"] = project_id
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path, len(records)


class _Finishing:
    """Writes finished hours in a background thread, at most two waiting at a time."""

    def __init__(
        self, writer: ThreadPoolExecutor, stager: Stager, request: StageRequest, total: int
    ) -> None:
        self.writer = writer
        self.stager = stager
        self.request = request
        self.total = total
        self.futures: dict[datetime, Future[StagedHour]] = {}

    def ready(self, rows: dict[datetime, _HourRows]) -> None:
        """Hand every hour whose rows are all through to the writer."""
        for hour, hour_rows in rows.items():
            if hour_rows.read and hour not in self.futures:
                pending = [f for f in self.futures.values() if not f.done()]
                if len(pending) >= 2:  # bound the rows waiting to be written
                    pending[0].result()
                self.futures[hour] = self.writer.submit(
                    self.stager._finish_hour, self.request, hour, hour_rows, self.total
                )
                rows[hour] = _HourRows(read=True)  # the writer holds the rows now

    def results(self) -> dict[datetime, StagedHour]:
        """Wait for every hour to be written."""
        return {hour: future.result() for hour, future in self.futures.items()}


def _fingerprint(members: list[tuple[object, object, object]]) -> str:
    """Digest of an hour's members (name, CRC-32, size); empty for an hour without members."""
    if not members:
        return ""
    return hashlib.sha256(json.dumps(members).encode()).hexdigest()


def _first_copies(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Keep the first row of each uuid (in export order); return the kept rows and the rest."""
    order = pa.array(range(table.num_rows), pa.int64())
    with duckdb.connect() as con:
        con.register("t", table.append_column("_copy_order", order))
        ranked = (
            "SELECT *, row_number() OVER (PARTITION BY uuid ORDER BY _copy_order) AS _nth FROM t"
        )
        kept = con.sql(
            f"SELECT * EXCLUDE (_copy_order, _nth) FROM ({ranked}) WHERE _nth = 1"
            " ORDER BY _copy_order"
        ).to_arrow_table()
        dropped = con.sql(f"SELECT uuid FROM ({ranked}) WHERE _nth > 1").to_arrow_table()
    return kept.cast(table.schema), dropped
