"""The catalog's privacy views: the requests to erase users, their jobs, and the audit."""

from __future__ import annotations

import pyarrow as pa

from loader.amplitude.hour_manifests import SOURCE
from loader.amplitude.privacy.records import (
    DELETIONS,
    DELETIONS_SCHEMA,
    ERASURES,
    ERASURES_SCHEMA,
)
from loader.catalog import View, quote_list
from loader.snapshot.reader import LakeSnapshot

_TYPES = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
    pa.int64(): "BIGINT",
    pa.list_(pa.string()): "VARCHAR[]",
}


def _history(pinned: LakeSnapshot, table: str, schema: pa.Schema) -> str:
    files = pinned.urls(
        path for _, state in pinned.snapshot.tables_named(SOURCE, table) for path in state.files
    )
    if files:
        return (
            f"SELECT * FROM read_parquet({quote_list(files)}, hive_partitioning = false,"
            " union_by_name = true)"
        )
    columns = [("snapshot_at", "TIMESTAMP"), ("project_id", "BIGINT")] + [
        (f.name, "JSON" if f.name == "rows_removed" else _TYPES[f.type]) for f in schema
    ]
    return "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in columns) + " WHERE false"


def privacy_views(pinned: LakeSnapshot, schema: str) -> list[View]:
    """`privacy_deletions`, `privacy_jobs` and `privacy_erasures` over one snapshot.

    Args:
        pinned: The snapshot.
        schema: The catalog schema.

    Returns:
        The views.
    """
    return [
        View(
            schema,
            DELETIONS,
            _history(pinned, DELETIONS, DELETIONS_SCHEMA),
            "Requests to erase users: one row per id of each request (ids as keyed SHA-256"
            " digests, never the id), and one without an id per status change of a job.",
        ),
        View(
            schema,
            "privacy_jobs",
            f"""SELECT project_id, job, max(job_day) AS job_day,
                    arg_max(status, seen_at) AS status,
                    min(seen_at) AS first_seen_at, max(seen_at) AS last_changed_at,
                    count(DISTINCT id_sha256) FILTER (WHERE resolved_from_sha256 IS NULL) AS ids,
                    count(DISTINCT id_sha256) FILTER (WHERE resolved_from_sha256 IS NOT NULL)
                        AS resolved_amplitude_ids,
                    max(erase_before) AS erase_before, max(erased_at) AS last_erased_at
                FROM {schema}.{DELETIONS} GROUP BY project_id, job""",
            "One row per deletion job or local request: its latest status, when it was first"
            " seen, how many ids it names, and the upload time before which their rows go.",
        ),
        View(
            schema,
            ERASURES,
            _history(pinned, ERASURES, ERASURES_SCHEMA),
            "The audit: one row per erasure, with the requests it served, the digests of the"
            " ids, rows removed per table and the snapshot that removed them.",
        ),
    ]
