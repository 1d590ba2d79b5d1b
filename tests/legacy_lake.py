"""A lake as the version before Delta wrote it: its own commit log over plain Parquet files.

Made from a lake this version loaded (the same rows, cohorts and taxonomy), laid out as that
version laid it out: hour files and compacted days with naive UTC times and no later-copy flag,
a duplicate index of the later copies, a JSON manifest per hour, gzipped JSON lines of rejects,
snapshot tables a file per snapshot, the snapshot log as JSON records, and one commit record
(`loader.legacy.records`) listing all of it.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loader.delta.tables import DeltaTables
from loader.lake import Lake
from loader.legacy.records import COMMITS, HourEntry, Snapshot, TableState
from loader.manifest import ManifestStore
from loader.pinned import PinnedLake
from loader.rejected_lines import REJECTS_SPEC
from tests.lake_tables import delta_table, layout

OLD = "amplitude/project=100001"


def _naive(table: pa.Table) -> pa.Table:
    """Times as the old version typed them: naive UTC."""
    fields = [
        pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _part() -> str:
    return uuid.uuid4().hex[:20]


def write_legacy_lake(new_root: Path, old_root: Path, compacted_days: set[str]) -> Snapshot:
    """Lay the lake at `new_root` out at `old_root` as the previous version did; its record."""
    old = Lake(old_root)
    events = delta_table(new_root).to_pyarrow_table()
    later = events.filter(events["later_copy"])
    events = _naive(events.drop_columns(["later_copy", "upload_date"]))
    manifests = ManifestStore(layout(new_root)).manifests()
    held = DeltaTables(Lake(new_root)).open(layout(new_root, "events_rejects").key)
    rejects = held.to_pyarrow_table() if held is not None else REJECTS_SPEC.schema.empty_table()
    hours: dict[str, HourEntry] = {}
    by_day: dict[str, list[str]] = defaultdict(list)
    for key, manifest in sorted(manifests.items()):
        moment = datetime.strptime(key, "%Y-%m-%dT%H")
        entry = HourEntry(manifest=f"{OLD}/_manifests/events/{key}-{_part()}.json")
        Path(old.join(entry.manifest)).parent.mkdir(parents=True, exist_ok=True)
        Path(old.join(entry.manifest)).write_bytes(manifest.to_json())
        rows = events.filter(pc.equal(events["upload_hour"], pa.scalar(moment, pa.timestamp("us"))))
        data = None
        if rows.num_rows:
            data = f"{OLD}/events/upload_date={key[:10]}/hour={key[11:]}/part-{_part()}.parquet"
            Path(old.join(data)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows.sort_by("event_time"), old.join(data))
            by_day[key[:10]].append(data)
        lines = rejects.filter(
            pc.equal(
                rejects["upload_hour"],
                pa.scalar(moment.replace(tzinfo=UTC), rejects["upload_hour"].type),
            )
        )
        rejected = None
        if lines.num_rows:
            rejected = f"{OLD}/_rejects/events/{key}-{_part()}.jsonl.gz"
            records = [
                {**r, "upload_hour": f"{moment:%Y-%m-%d %H}:00:00"}
                for r in lines.drop_columns(["loaded"]).to_pylist()
            ]
            Path(old.join(rejected)).parent.mkdir(parents=True, exist_ok=True)
            Path(old.join(rejected)).write_bytes(
                gzip.compress("\n".join(json.dumps(r) for r in records).encode())
            )
        hours[key] = HourEntry(
            manifest=entry.manifest,
            data=data,
            rejects=rejected,
            rows=manifest.rows,
            schema_version=1,
            content_sha256=manifest.content_sha256,
            rejected=manifest.rejects,
        )
    days = {}
    for day in sorted(compacted_days):
        path = f"{OLD}/events_by_day/upload_date={day}/part-{_part()}.parquet"
        Path(old.join(path)).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.concat_tables([pq.read_table(old.join(p)) for p in by_day[day]]), old.join(path)
        )
        days[day] = path
    index = f"{OLD}/_index/events/duplicates-{_part()}.parquet"
    Path(old.join(index)).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_naive(later.select(["uuid", "upload_hour", "project_id"])), old.join(index))
    tables = {
        f"{OLD}/events": TableState(hours=hours, days=days, index=index, index_rows=later.num_rows)
    }
    pinned = PinnedLake.newest(Lake(new_root))
    for table in pinned.tables.values():
        if table.name in ("events", "events_rejects", "load_log"):
            continue
        rows = delta_table(new_root, table.name).to_pyarrow_table()
        files = []
        if table.name == "snapshot_log":
            for record in rows.to_pylist():
                stamp = record["snapshot_at"]
                path = f"{OLD}/_snapshots/{record['kind']}/{stamp:%Y%m%dT%H%M%SZ}-{_part()}.json"
                entry = {
                    **record,
                    "snapshot_at": stamp.isoformat(),
                    "report": json.loads(record["report"] or "null"),
                }
                Path(old.join(path)).parent.mkdir(parents=True, exist_ok=True)
                Path(old.join(path)).write_text(json.dumps(entry, default=str))
                files.append(path)
            tables[f"{OLD}/_snapshots"] = TableState(files=tuple(files))
            continue
        for stamp in sorted(set(rows["snapshot_at"].to_pylist())):
            one = rows.filter(
                pc.equal(rows["snapshot_at"], pa.scalar(stamp, rows["snapshot_at"].type))
            )
            path = f"{OLD}/{table.name}/snapshot_at={stamp:%Y%m%dT%H%M%SZ}/part-{_part()}.parquet"
            Path(old.join(path)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_naive(one), old.join(path))
            files.append(path)
        tables[f"{OLD}/{table.name}"] = TableState(files=tuple(files))
    record = Snapshot(
        version=7,
        committed_at=datetime.now(UTC).isoformat(),
        operation="the previous version's last commit",
        tables=tables,
        id=uuid.uuid4().hex,
    )
    Path(old.join(COMMITS)).mkdir(parents=True, exist_ok=True)
    Path(old.join(COMMITS, f"{record.version:020d}.json")).write_bytes(record.to_json())
    return record
