"""From a downloaded export zip to staged hours: sorted Parquet, rejects and manifests.

Members are grouped by the upload hour in their names and read in natural order, decompressed
on a reader thread, and streamed through one normalising query across members and hours; each
hour goes to `HourWriter` as soon as all of its rows are back.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loader.amplitude.day_writer import DayFileWriter
from loader.amplitude.hour_manifests import ExportRequest, fingerprint
from loader.amplitude.hour_writer import BackgroundFinisher, HourRows, HourWriter
from loader.amplitude.members import SUFFIX, MemberName, parse_member_name
from loader.amplitude.normalise import (
    LINES_SCHEMA,
    OUTPUT_ROWS,
    NormalisedBatch,
    Normaliser,
    add_bookkeeping,
)
from loader.amplitude.schema import KEYS
from loader.archive import Guards, LineBlock, MemberReader, safe_members
from loader.errors import ArchiveError
from loader.hours import describe_hours
from loader.pipeline import background
from loader.progress import NoProgress, Progress
from loader.publish import StagedHour

log = logging.getLogger(__name__)


_Member = tuple[MemberName, zipfile.ZipInfo]


class Stager:
    """Turns export zips into staged hours.

    All the lines of a zip go through one normalising query; each hour is written out as soon as
    all of its rows are through.

    Args:
        scratch: A local folder for staged files.
        guards: Archive size limits.
        threads: Parsing threads.
        output_rows: Rows per batch coming back from the normaliser.
        hour_memory_bytes: Rows an hour may hold in memory before spilling to disk.
        progress: Progress sink.
    """

    def __init__(
        self,
        scratch: Path,
        guards: Guards,
        *,
        threads: int = 2,
        output_rows: int = OUTPUT_ROWS,
        hour_memory_bytes: int = 512 << 20,
        progress: Progress | None = None,
    ) -> None:
        self.guards = guards
        self.threads = threads
        self.output_rows = output_rows
        self.scratch = scratch
        self.hours = HourWriter(scratch, threads=threads, hour_memory_bytes=hour_memory_bytes)
        self.progress = progress or NoProgress()
        self.normaliser = Normaliser(threads=threads, max_line_bytes=guards.max_line_bytes)

    def close(self) -> None:
        """Release the parser."""
        self.normaliser.close()

    def fingerprints(self, request: ExportRequest) -> dict[datetime, str]:
        """Return each hour's content fingerprint from the zip's directory, reading no member.

        The fingerprint is a digest of the names, CRC-32s and sizes of an hour's members, as in
        its manifest's `content_sha256`; an hour without members has an empty fingerprint.

        Args:
            request: The downloaded window.

        Returns:
            Fingerprint of every hour of the window.
        """
        with zipfile.ZipFile(request.archive) as archive:
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

    def stage(
        self,
        request: ExportRequest,
        only: set[datetime] | None = None,
        whole_days: Collection[date] = (),
    ) -> list[StagedHour]:
        """Stage every hour of a window from its zip.

        Hours of the window with no member are staged as empty. Members of hours outside the
        window are ignored (and logged): their hours get requests of their own.

        Args:
            request: The downloaded window.
            only: Stage only these hours of the window (default: all).
            whole_days: Days whose hours go into one file each (every hour of the day in the
                window, the day finished): each row is encoded once (`day_writer`).

        Returns:
            One staged hour per hour staged, in order.

        Raises:
            ArchiveError: If the archive is unsafe, corrupt, or from another project.
        """
        started = time.monotonic()
        hours = [h for h in request.window.hour_list() if only is None or h in only]
        per_day = Counter(h.date() for h in hours)
        days = DayFileWriter(self.scratch, [d for d in whole_days if per_day[d] == 24])
        self.hours.days = days
        try:
            return self._stage(request, hours, started)
        finally:
            days.close()  # each hour's manifest gets its share of its day file's bytes
            self.hours.days = None

    def _stage(
        self, request: ExportRequest, hours: list[datetime], started: float
    ) -> list[StagedHour]:
        with zipfile.ZipFile(request.archive) as archive, ThreadPoolExecutor(1) as writer:
            by_hour = self._members_by_hour(archive, request)
            total_member_bytes = sum(i.file_size for ms in by_hour.values() for _, i in ms)
            reader = MemberReader(archive, self.guards)
            rows = {hour: HourRows() for hour in hours}
            finishing = BackgroundFinisher(writer, self.hours, request, total_member_bytes)
            sources: list[tuple[int, str]] = []  # part tag -> (hour's index, member name)

            def read() -> Iterator[tuple[int, _Member | None, LineBlock | None]]:
                # Runs in a background thread: decompression overlaps parsing.
                for index, hour in enumerate(hours):
                    for member in sorted(by_hour.get(hour, []), key=lambda m: m[0]):
                        yield index, member, None
                        for block in reader.blocks(member[1]):
                            yield index, None, block
                    yield index, None, None  # every line of the hour has been read

            def lines() -> Iterator[pa.RecordBatch]:
                # Pulled by the normaliser's threads: bookkeeping only. An hour's line count is
                # final before it is marked read, so `HourRows.complete` never holds too early.
                for index, member, block in background(read()):
                    hour_rows = rows[hours[index]]
                    if member is not None:
                        name, info = member
                        hour_rows.members.append(
                            {"name": name.name, "crc32": info.CRC, "bytes": info.file_size}
                        )
                        sources.append((index, name.name))
                    elif block is not None:
                        hour_rows.lines += len(block.lines)
                        hour_rows.bytes_json += block.nbytes
                        part = pa.array(np.full(len(block.lines), len(sources) - 1, np.int32))
                        yield pa.record_batch(
                            [block.line_numbers, part, block.lines], schema=LINES_SCHEMA
                        )
                    else:
                        hour_rows.read = True

            for result in self.normaliser.stream(lines(), self.output_rows):
                self._dispatch(result, sources, hours, rows, request)
                finishing.ready(rows)
            finishing.ready(rows)
            staged = finishing.results()
        log.debug("staged %s in %.2f s", request.window, time.monotonic() - started)
        return [staged[hour] for hour in hours]

    def _members_by_hour(
        self, archive: zipfile.ZipFile, request: ExportRequest
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

    def _dispatch(
        self,
        result: NormalisedBatch,
        sources: list[tuple[int, str]],
        hours: list[datetime],
        rows: dict[datetime, HourRows],
        request: ExportRequest,
    ) -> None:
        """Hand each hour its rows and rejects from a stretch of normalised lines.

        A row's `part` is its member's position in `sources`, which gives its hour's position
        in `hours`: an hour is that one datetime from the zip's name to its manifest.
        """
        self.progress.normalised(result.events.num_rows)
        hour_of_part = pa.array([index for index, _ in sources], pa.int32())
        event_hours = pc.take(hour_of_part, result.events.column("part"))
        for index, selected in _by_hour(result.events.drop_columns(["part"]), event_hours):
            hour = hours[index]
            self._add_rows(rows[hour], selected, hour, request)
            rows[hour].done += selected.num_rows
        if result.rejects.num_rows:
            names = pa.array([name for _, name in sources], pa.string())
            reject_hours = pc.take(hour_of_part, result.rejects.column("part"))
            with_member = result.rejects.append_column(
                "member", pc.take(names, result.rejects.column("part"))
            ).drop_columns(["part"])
            for index in pc.unique(reject_hours).to_pylist():
                selected = with_member.filter(pc.equal(reject_hours, index))
                rows[hours[index]].rejects.append(selected)
                rows[hours[index]].done += selected.num_rows

    def _add_rows(
        self, rows: HourRows, events: pa.Table, hour: datetime, request: ExportRequest
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


def _by_hour(events: pa.Table, hours: pa.ChunkedArray) -> Iterator[tuple[int, pa.Table]]:
    """Split rows by their hour, given as one hour index per row.

    Rows come in the order of their lines, so each hour's rows are usually contiguous and are
    sliced, without a copy; otherwise each hour's are filtered out.
    """
    runs = pc.run_end_encode(hours.combine_chunks())
    indexes = runs.values.to_pylist()
    if len(set(indexes)) < len(indexes):
        for index in set(indexes):
            yield index, events.filter(pc.equal(hours, index))
        return
    start = 0
    for index, end in zip(indexes, runs.run_ends.to_pylist(), strict=True):
        yield index, events.slice(start, end - start)
        start = end
