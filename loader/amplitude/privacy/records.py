"""The privacy tables of an Amplitude project, and the ids erased from it.

`privacy_deletions` holds one row per id of each deletion request the loader learnt of (from
Amplitude's deletion jobs, or `forget`), seen and erased in the same commit, and one row
without an id each time a job's status changed. `privacy_erasures` is the audit: one row per
erasure. Both keep ids only as digests under the lake's key (`loader.privacy.digests`):
neither holds an erased value.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.lake import Lake
from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds
from loader.privacy.tables import ErasableTable
from loader.snapshot.state import Snapshot

DELETIONS = "privacy_deletions"
ERASURES = "privacy_erasures"
#: The kinds of id a deletion names, as the API and the tables name them.
KINDS = ("amplitude_id", "user_id")
_IDS = {kind: kind for kind in KINDS}

#: Every table whose rows belong to one user, and how they name the user and when they came.
ERASABLE: dict[str, ErasableTable] = {
    TABLE: ErasableTable(_IDS, time="upload_hour", key=("uuid", "upload_hour")),
    "cohort_members": ErasableTable(_IDS, time="snapshot_at"),
    "experiment_assignments": ErasableTable(_IDS, time="snapshot_at"),
}

DELETIONS_SCHEMA = pa.schema(
    [
        ("job", pa.string()),
        ("job_day", pa.date32()),
        ("status", pa.string()),
        ("requester", pa.string()),
        ("requested_on_day", pa.date32()),
        ("id_kind", pa.string()),
        ("id_sha256", pa.string()),
        ("resolved_from_sha256", pa.string()),
        ("erase_before", pa.timestamp("us")),
        ("seen_at", pa.timestamp("us")),
        ("erased_at", pa.timestamp("us")),
    ]
)
ERASURES_SCHEMA = pa.schema(
    [
        ("erasure_id", pa.string()),
        ("trigger", pa.string()),
        ("jobs", pa.list_(pa.string())),
        ("ids", pa.int64()),
        ("id_sha256", pa.list_(pa.string())),
        ("rows_removed", pa.json_(pa.string())),
        ("files_rewritten", pa.int64()),
        ("snapshot_version", pa.int64()),
        ("erased_at", pa.timestamp("us")),
    ]
)


def deletions_key(project: str) -> str:
    """The snapshot key of a project's deletions table."""
    return f"{SOURCE}/project={project}/{DELETIONS}"


def erasures_key(project: str) -> str:
    """The snapshot key of a project's erasures table."""
    return f"{SOURCE}/project={project}/{ERASURES}"


def deletion_rows(snapshot: Snapshot, lake: Lake, project: str) -> pa.Table:
    """Every row of a project's deletions table as of a snapshot (empty if none)."""
    files = snapshot.table(deletions_key(project)).files
    tables = [_read(lake, path) for path in files]
    return pa.concat_tables(tables) if tables else DELETIONS_SCHEMA.empty_table()


def _read(lake: Lake, path: str) -> pa.Table:
    with lake.table_files.open(lake.join(path), "rb") as handle:
        return pq.read_table(handle, use_threads=False).select(DELETIONS_SCHEMA.names)


def erased_ids(snapshot: Snapshot, lake: Lake, project: str, digests: IdDigests) -> ErasedIds:
    """The ids erased from a project as of a snapshot, with their cutoffs.

    Args:
        snapshot: The snapshot.
        lake: The lake.
        project: The project id.
        digests: The lake's digests.

    Returns:
        The erased ids (empty if the project has none).
    """
    erased = ErasedIds(digests)
    rows = deletion_rows(snapshot, lake, project)
    for kind, digest, cutoff in zip(
        rows.column("id_kind").to_pylist(),
        rows.column("id_sha256").to_pylist(),
        rows.column("erase_before").to_pylist(),
        strict=True,
    ):
        if kind and digest and cutoff:
            erased.add(kind, digest, cutoff)
    return erased


def job_statuses(rows: pa.Table) -> dict[str, str]:
    """Each job's latest recorded status."""
    out: dict[str, str] = {}
    order = sorted(
        zip(
            rows.column("seen_at").to_pylist(),
            rows.column("job").to_pylist(),
            rows.column("status").to_pylist(),
            strict=True,
        ),
        key=lambda r: r[0],
    )
    for _, job, status in order:
        out[job] = status
    return out


def end_of(day: date) -> datetime:
    """The first moment after a day (naive UTC): Amplitude's job runs during its day."""
    return datetime.combine(day, time()) + timedelta(days=1)
