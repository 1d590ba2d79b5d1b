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
from loader.pinned import PinnedLake
from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds
from loader.privacy.tables import ErasableTable
from loader.snapshot.layout import project_folder

DELETIONS = "privacy_deletions"
ERASURES = "privacy_erasures"
#: The kinds of id a deletion names, as the API and the tables name them.
KINDS = ("amplitude_id", "user_id")
_IDS = {kind: kind for kind in KINDS}

#: Every table whose rows belong to one user, and how they name the user and when they came.
ERASABLE: dict[str, ErasableTable] = {
    TABLE: ErasableTable(_IDS, time="upload_hour"),
    # A rejected line is text: an erased id anywhere in it erases it.
    f"{TABLE}_rejects": ErasableTable({}, time="upload_hour", text="line", kinds=KINDS),
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
    """The key of a project's deletions table."""
    return f"{SOURCE}/{project_folder(project)}/{DELETIONS}"


def erasures_key(project: str) -> str:
    """The key of a project's erasures table."""
    return f"{SOURCE}/{project_folder(project)}/{ERASURES}"


def deletion_rows(pinned: PinnedLake, lake: Lake, project: str) -> pa.Table:
    """Every row of a project's deletions table as of a pinned lake (empty if none)."""
    files = pinned.table(deletions_key(project)).files
    tables = [_read(lake, path) for path in files]
    if not tables:
        return DELETIONS_SCHEMA.empty_table()
    return pa.concat_tables(tables).cast(DELETIONS_SCHEMA)


def _read(lake: Lake, path: str) -> pa.Table:
    with lake.table_files.open(lake.join(path), "rb") as handle:
        table = pq.read_table(handle, use_threads=False).select(DELETIONS_SCHEMA.names)
    # Times are UTC in the lake; the cutoffs are naive UTC.
    return table.cast(DELETIONS_SCHEMA)


def erased_ids(pinned: PinnedLake, lake: Lake, project: str, digests: IdDigests) -> ErasedIds:
    """The ids erased from a project as of a pinned lake, with their cutoffs.

    Args:
        pinned: The pinned lake.
        lake: The lake.
        project: The project id.
        digests: The lake's digests.

    Returns:
        The erased ids (empty if the project has none).
    """
    erased = ErasedIds(digests)
    rows = deletion_rows(pinned, lake, project)
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


def unaudited_ids(pinned: PinnedLake, lake: Lake, project: str, digests: IdDigests) -> ErasedIds:
    """Recorded ids no audit row covers: an erasure interrupted between its commits.

    The requests are recorded first and the audit row written last (`erase`), so an id
    recorded but in no audit may still have rows in some table: the next erasure finishes it.
    """
    erased = erased_ids(pinned, lake, project, digests)
    files = pinned.table(erasures_key(project)).files
    audited: set[str] = set()
    for path in files:
        with lake.table_files.open(lake.join(path), "rb") as handle:
            column = pq.read_table(handle, columns=["id_sha256"], use_threads=False)["id_sha256"]
        audited.update(d for ids in column.to_pylist() for d in ids or ())
    pending = ErasedIds(digests)
    for (kind, digest), cutoff in erased.cutoffs.items():
        if digest not in audited:
            pending.add(kind, digest, cutoff)
    return pending
