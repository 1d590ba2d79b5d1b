"""Converting a lake written before Delta (its own commit log) into Delta tables, once.

Nothing is downloaded again: every file the newest commit record lists is read and written
again as a Delta table's file (times typed UTC; an hourly table's later copies, which the old
duplicate index listed, flagged in their rows), manifests become rows of the load log, rejected
lines rows of the rejects table, snapshot log records rows of the snapshot log.

Each table is written in one commit that replaces whatever the table held, so a conversion
killed at any point is simply run again by the next open: the tables it wrote are replaced.
Once every table is written, a note of the conversion is written and the old commit records
are removed; that is the step after which the lake is a Delta lake. The old files stay where
they were (`<source>/project=<id>/`, which no Delta table reads) for readers of catalogs built
before, until the vacuum removes them after the retention.
"""

from __future__ import annotations

import gzip
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from loader.delta.commit import Change, commit
from loader.delta.files import add_file, removal
from loader.delta.rewrite import live_files
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake
from loader.later_copies import UniqueKey
from loader.legacy.records import COMMITS, TableState, newest_record
from loader.manifest import LOAD_LOG_SPEC, HourManifest, ManifestStore
from loader.publish import DAY
from loader.rejected_lines import REJECTS_SPEC
from loader.snapshot.layout import SNAPSHOT_LOG, TableLayout
from loader.snapshot_tables import SNAPSHOT_LOG_SCHEMA, lake_schema
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: The note a finished conversion leaves at the lake's root.
CONVERTED = "_converted.json"
_OLD_SNAPSHOT_LOG = "_snapshots"


@dataclass(frozen=True)
class HourlyTable:
    """What a source's hourly table becomes.

    Attributes:
        spec: The Delta table (partitioned by upload day).
        unique: Its key, its order and its later-copy flag.
    """

    spec: TableSpec
    unique: UniqueKey


def needs_conversion(lake: Lake) -> bool:
    """Whether the lake still has the old commit log's records."""
    return any(name.endswith(".json") for name in lake.names(lake.join(COMMITS)))


def convert_legacy(
    lake: Lake,
    scratch: Path,
    hourly: Mapping[str, HourlyTable],
    *,
    log_retention: timedelta,
) -> int:
    """Convert a lake written before Delta, table by table; then drop its commit records.

    Args:
        lake: The lake.
        scratch: A local folder for the files being written.
        hourly: Table name to what an hourly table of that name becomes.
        log_retention: The Delta log's retention (the new tables' property).

    Returns:
        The tables written (0 if there was nothing to convert).
    """
    record = newest_record(lake)
    if record is None:
        return 0
    tables = DeltaTables(lake)
    written = 0
    for key, state in sorted(record.tables.items()):
        source, folder, name = key.split("/")
        layout = TableLayout(lake, source, folder.split("=", 1)[1], name)
        converter = _Converter(tables, layout, scratch, log_retention, record.version)
        if name == _OLD_SNAPSHOT_LOG:
            written += converter.snapshot_log(state)
        elif state.hours or state.quarantine:
            if name not in hourly:
                log.warning("left %s as it was: no Delta table is known for it", key)
                continue
            written += converter.hourly(state, hourly[name])
        elif state.files:
            written += converter.snapshot_table(state)
    note = {"converted_at": datetime.now(UTC).isoformat(), "from_version": record.version}
    lake.write_bytes(lake.join(CONVERTED), json.dumps(note).encode())
    crash_point("convert.before_dropping_records")
    for name in lake.names(lake.join(COMMITS)):
        lake.delete(lake.join(COMMITS, name))
    log.warning(
        "converted the lake written by an earlier version (commit %d) into %d Delta table(s)",
        record.version,
        written,
    )
    return written


class _Converter:
    """Writes the Delta tables of one old table."""

    def __init__(
        self,
        tables: DeltaTables,
        layout: TableLayout,
        scratch: Path,
        log_retention: timedelta,
        version: int,
    ) -> None:
        self.tables = tables
        self.layout = layout
        self.lake = layout.lake
        self.scratch = scratch
        self.log_retention = log_retention
        self.version = version

    def _replace(self, key: str, spec: TableSpec, adds: list[AddAction]) -> int:
        """One commit that makes a table hold exactly these files (a rerun replaces its own)."""

        def change(current: DeltaTable | None) -> Change:
            held = live_files(current) if current is not None else []
            return Change(
                adds=list(adds), removes=[removal(f.path, f.size, f.partition) for f in held]
            )

        crash_point("convert.before_table")
        commit(
            self.tables,
            key,
            spec,
            f"convert the lake written by an earlier version (commit {self.version})",
            change,
            log_retention=self.log_retention,
        )
        return 1

    def _local(self) -> Path:
        return self.scratch / f"convert-{uuid.uuid4().hex}.parquet"

    def hourly(self, state: TableState, target: HourlyTable) -> int:
        """An hourly table: its rows, its load log and its rejected lines."""
        unique = target.unique
        later = self._later_copies(state, unique)
        adds = []
        for path in state.read_files():
            day = path.split(f"{DAY}=", 1)[1].split("/", 1)[0]
            local = self._local()
            with pq.ParquetWriter(
                local, _without(target.spec.schema, DAY), compression="zstd"
            ) as out:
                for rows in _row_groups(self.lake, path):
                    out.write_table(_flagged(rows, target.spec, unique, later))
            adds.append(add_file(self.tables, self.layout.key, target.spec, local, {DAY: day}))
        written = self._replace(self.layout.key, target.spec, adds)
        manifests = [
            HourManifest.from_json(self.lake.read_bytes(self.lake.join(e.manifest)))
            for _, e in sorted(state.hours.items())
        ]
        log_key = ManifestStore(self.layout).log_layout.key
        local = self._local()
        pq.write_table(
            pa.Table.from_pylist([m.to_row() for m in manifests], LOAD_LOG_SPEC.schema), local
        )
        written += self._replace(
            log_key, LOAD_LOG_SPEC, [add_file(self.tables, log_key, LOAD_LOG_SPEC, local)]
        )
        rejects = self.layout.sibling(f"{self.layout.table}_rejects").key
        files = [(e.rejects, True) for _, e in sorted(state.hours.items()) if e.rejects]
        files += [(p, False) for _, p in sorted(state.quarantine.items())]
        reject_adds = []
        for path, loaded in files:
            assert path is not None
            local = self._local()
            pq.write_table(_rejects(self.lake, path, loaded), local, compression="zstd")
            reject_adds.append(add_file(self.tables, rejects, REJECTS_SPEC, local))
        if reject_adds:
            written += self._replace(rejects, REJECTS_SPEC, reject_adds)
        return written

    def _later_copies(self, state: TableState, unique: UniqueKey) -> set[tuple[str, datetime]]:
        """The (key, hour) of every later copy the old duplicate index listed."""
        if not state.index:
            return set()
        with self.lake.table_files.open(self.lake.join(state.index), "rb") as handle:
            index = pq.read_table(handle, columns=[unique.column, unique.order])
        hours = index.column(unique.order).to_pylist()
        keys = index.column(unique.column).to_pylist()
        return {(k, _utc(h)) for k, h in zip(keys, hours, strict=True)}

    def snapshot_table(self, state: TableState) -> int:
        """A snapshot table: each old file again, times typed UTC."""
        adds, spec = [], None
        for path in state.files:
            with self.lake.table_files.open(self.lake.join(path), "rb") as handle:
                table = pq.read_table(handle, use_threads=False)
            schema = lake_schema(table.schema)
            stats = tuple(c for c in ("snapshot_at", "cohort_id") if c in schema.names)
            spec = TableSpec(schema, stats=stats)
            local = self._local()
            pq.write_table(table.cast(schema), local, compression="zstd")
            adds.append(add_file(self.tables, self.layout.key, spec, local))
        if spec is None:
            return 0
        return self._replace(self.layout.key, spec, adds)

    def snapshot_log(self, state: TableState) -> int:
        """The snapshot log's JSON records, as rows of its table."""
        rows = []
        for path in state.files:
            record = json.loads(self.lake.read_bytes(self.lake.join(path)))
            report = record.get("report")
            rest = {
                k: v
                for k, v in record.items()
                if k not in ("project_id", "kind", "snapshot_at", "report", "rows", "api_version")
            }
            rows.append(
                {
                    "project_id": int(record["project_id"]),
                    "kind": record["kind"],
                    "snapshot_at": datetime.fromisoformat(record["snapshot_at"]),
                    "report": json.dumps(report if report is not None else rest or None),
                    "rows": record.get("rows"),
                    "api_version": record.get("api_version"),
                }
            )
        if not rows:
            return 0
        spec = TableSpec(SNAPSHOT_LOG_SCHEMA, stats=("snapshot_at", "kind"))
        key = self.layout.sibling(SNAPSHOT_LOG).key
        local = self._local()
        pq.write_table(pa.Table.from_pylist(rows, SNAPSHOT_LOG_SCHEMA), local)
        return self._replace(key, spec, [add_file(self.tables, key, spec, local)])


def _row_groups(lake: Lake, path: str) -> Iterator[pa.Table]:
    with lake.table_files.open(lake.join(path), "rb") as handle:
        parquet = pq.ParquetFile(handle)
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, use_threads=False)


def _without(schema: pa.Schema, name: str) -> pa.Schema:
    return pa.schema([f for f in schema if f.name != name])


def _flagged(
    rows: pa.Table, spec: TableSpec, unique: UniqueKey, later: set[tuple[str, datetime]]
) -> pa.Table:
    """An old row group as the Delta table has it: every column, times UTC, later copies flagged."""
    schema = _without(spec.schema, DAY)
    columns = []
    for field in schema:
        if field.name == unique.flag:
            keys = rows.column(unique.column).to_pylist()
            hours = rows.column(unique.order).to_pylist()
            flags = [(k, _utc(h)) in later for k, h in zip(keys, hours, strict=True)]
            columns.append(pa.array(flags, pa.bool_()))
        elif field.name in rows.column_names:
            column = rows.column(field.name)
            columns.append(
                column.cast(field.type) if not column.type.equals(field.type) else column
            )
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rejects(lake: Lake, path: str, loaded: bool) -> pa.Table:
    """An old hour's rejected lines (gzipped JSON lines) as rows of the rejects table."""
    with lake.table_files.open(lake.join(path), "rb") as handle:
        lines = gzip.decompress(handle.read()).splitlines()
    rows = []
    for line in lines:
        record = json.loads(line)
        rows.append(
            {
                "project_id": record.get("project_id"),
                "upload_hour": _utc(datetime.fromisoformat(str(record["upload_hour"]))),
                "member": record.get("member"),
                "line_no": record.get("line_no"),
                "reason": record.get("reason"),
                "line": record.get("line"),
                "loaded": loaded,
            }
        )
    return pa.Table.from_pylist(rows, REJECTS_SPEC.schema)
