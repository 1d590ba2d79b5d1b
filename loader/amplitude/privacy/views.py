"""The catalog's privacy views: the requests to erase users, their jobs, and the audit."""

from __future__ import annotations

from loader.amplitude.privacy.records import (
    DELETIONS,
    DELETIONS_SCHEMA,
    ERASURES,
    ERASURES_SCHEMA,
)
from loader.amplitude.view_sql import history
from loader.catalog import View
from loader.pinned import PinnedLake


def privacy_views(pinned: PinnedLake, schema: str) -> list[View]:
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
            history(pinned, DELETIONS, DELETIONS_SCHEMA),
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
            history(pinned, ERASURES, ERASURES_SCHEMA),
            "The audit: one row per erasure, with the requests it served, the digests of the"
            " ids, rows removed per table and the snapshot that removed them.",
        ),
    ]
