"""From a downloaded export zip to staged hours: sorted Parquet, rejects and manifests.

Members are grouped by the upload hour in their names and read in natural order, decompressed
on a reader thread, and normalised in batches that span members and hours; each hour goes to
`HourWriter` as soon as all of its rows are through.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from loader.amplitude.hour_writer import (
    BackgroundFinisher,
    HourRows,
    HourWriter,
    StageRequest,
    fingerprint,
)
from loader.amplitude.members import SUFFIX, MemberName, parse_member_name
from loader.amplitude.normalise import Normaliser, add_bookkeeping
from loader.amplitude.schema import KEYS
from loader.archive import Guards, LineBlock, MemberReader, safe_members
from loader.errors import ArchiveError
from loader.hours import describe_hours
from loader.pipeline import background
from loader.progress import NoProgress, Progress
from loader.publish import StagedHour

log = logging.getLogger(__name__)


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
        self.guards = guards
        self.threads = threads
        self.batch_bytes = batch_bytes
        self.scratch = scratch
        self.hours = HourWriter(scratch, threads=threads, hour_memory_bytes=hour_memory_bytes)
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
            hour: fingerprint(
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
            rows = {hour: HourRows() for hour in hours}
            finishing = BackgroundFinisher(writer, self.hours, request, total_member_bytes)
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
        rows: dict[datetime, HourRows],
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
        self, rows: HourRows, events: pa.Table, hour: datetime, request: StageRequest
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
        self.hours.keep(rows, events)

    def _hour_read(
        self,
        hour: datetime | None,
        rows: dict[datetime, HourRows],
        batch: _Batch,
        finishing: BackgroundFinisher,
    ) -> None:
        """Mark an hour's members as read; finish it at once if none of it waits in a batch."""
        if hour is None:
            return
        rows[hour].read = True
        if not batch.lines:
            finishing.ready(rows)
