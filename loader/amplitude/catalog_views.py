"""The Amplitude views of the DuckDB catalog, over one snapshot of the lake.

Every view lists the files of its snapshot explicitly (never a glob), so a session that opened
the catalog keeps one consistent state of the lake however many commits follow. A kind of file
that the snapshot does not have yet gives an empty SELECT with the right columns.
"""

from __future__ import annotations

import pyarrow as pa

from loader.amplitude.analyst_views import analyst_views
from loader.amplitude.cohorts import COHORTS_SCHEMA, MEMBERS_SCHEMA
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.experiment.snapshot import ASSIGNMENTS_SCHEMA, FLAGS_SCHEMA
from loader.amplitude.privacy.views import privacy_views
from loader.amplitude.schema import column_types
from loader.amplitude.taxonomy import TABLES
from loader.amplitude.view_sql import empty, history, snapshot_files
from loader.catalog import View, quote_list, quote_literal
from loader.snapshot.layout import SNAPSHOT_LOG
from loader.snapshot.reader import LakeSnapshot
from loader.sqlfiles import read_sql

SCHEMA = "amplitude"


def _template(name: str, **values: str) -> str:
    """An SQL template of `sql/amplitude/` with its `{placeholders}` filled (SQL, not quoted)."""
    text = read_sql(f"amplitude/{name}.sql")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


SNAPSHOT_TABLES: dict[str, tuple[pa.Schema, str]] = {
    "cohorts": (COHORTS_SCHEMA, "Cohort definitions, one row per cohort per snapshot."),
    "cohort_members": (
        MEMBERS_SCHEMA,
        "Cohort membership, per cohort per download (only changed cohorts are downloaded again).",
    ),
    **{
        name: (schema, f"Snapshots of {name.replace('_', ' ')}.") for name, schema in TABLES.items()
    },
    "experiment_flags": (
        FLAGS_SCHEMA,
        "Experiment flag configurations, one row per flag per deployment per snapshot.",
    ),
    "experiment_assignments": (
        ASSIGNMENTS_SCHEMA,
        "The variant Experiment assigned each chosen user at the snapshot (evaluated without"
        " tracking), one row per user, deployment and flag; flags not targeting the user have"
        " no row.",
    ),
}


def snapshot_views(pinned: LakeSnapshot) -> list[View]:
    """Views of the snapshot tables: every snapshot, and the current state.

    `<table>` holds every snapshot (history); `<table>_current` the latest snapshot of each
    project. `cohort_members_current` holds, for every cohort of the current cohort list, the
    membership of its latest download.

    Args:
        pinned: The snapshot of the lake.

    Returns:
        The views.
    """
    views = []
    for table, (schema, description) in SNAPSHOT_TABLES.items():
        views.append(View(SCHEMA, table, history(pinned, table, schema), description))
    for table in SNAPSHOT_TABLES:
        if table == "cohort_members":
            current = (
                "SELECT m.* FROM amplitude.cohort_members AS m"
                " JOIN amplitude.cohorts_current AS c"
                " ON c.project_id = m.project_id AND c.cohort_id = m.cohort_id"
                " QUALIFY m.snapshot_at = max(m.snapshot_at)"
                " OVER (PARTITION BY m.project_id, m.cohort_id)"
            )
            described = "Members of every current cohort, from its latest download."
        else:
            current = (
                f"SELECT * FROM amplitude.{table}"
                " QUALIFY snapshot_at = max(snapshot_at) OVER (PARTITION BY project_id)"
            )
            described = f"The latest snapshot of {table.replace('_', ' ')}."
        views.append(View(SCHEMA, f"{table}_current", current, described))
    records = snapshot_files(pinned, SNAPSHOT_LOG)
    snapshot_log = (
        "SELECT project_id, kind, replace(snapshot_at, '+00:00', '')::TIMESTAMP AS snapshot_at,"
        " report, rows, api_version"
        f" FROM read_json({quote_list(records)}, format = 'auto',"
        " columns = {project_id: 'BIGINT', kind: 'VARCHAR', snapshot_at: 'VARCHAR',"
        " report: 'JSON', rows: 'BIGINT', api_version: 'INTEGER'})"
        if records
        else empty(
            [
                ("project_id", "BIGINT"),
                ("kind", "VARCHAR"),
                ("snapshot_at", "TIMESTAMP"),
                ("report", "JSON"),
                ("rows", "BIGINT"),
                ("api_version", "INTEGER"),
            ]
        )
    )
    views.append(
        View(
            SCHEMA,
            "snapshot_log",
            snapshot_log,
            "What each snapshot fetched, skipped or could not fetch, and why.",
        )
    )
    return views


def amplitude_views(pinned: LakeSnapshot) -> list[View]:
    """Return the catalog views over one snapshot of an Amplitude lake.

    Args:
        pinned: The snapshot.

    Returns:
        `events_all`, `events`, `load_log`, `rejects`, `lake_snapshot` and the snapshot tables
        in schema `amplitude`, then the analyst and compatibility views built on them.
    """
    tables = [state for _, state in pinned.snapshot.tables_named(SOURCE, TABLE)]
    # Compacted days' files, and the hour files of the days not compacted yet.
    events_files = pinned.urls(p for state in tables for p in state.read_files())
    indexes = pinned.urls(s.index for s in tables if s.index and s.index_rows)
    manifests = pinned.urls(e.manifest for s in tables for _, e in sorted(s.hours.items()))
    rejects_files = pinned.urls(
        e.rejects for s in tables for _, e in sorted(s.hours.items()) if e.rejects
    )
    quarantined = pinned.urls(f for s in tables for _, f in sorted(s.quarantine.items()))
    # union_by_name makes every query read every footer first: only while two schema
    # versions are live, so that a column added by a newer loader never breaks older files.
    versions = set().union(*(s.schema_versions() for s in tables))
    events_all = (
        _template(
            "events_all",
            events_files=quote_list(events_files),
            union_by_name="true" if len(versions) > 1 else "false",
        )
        if events_files
        else empty(list(column_types().items()))
    )
    # The snapshot's own index: without a later copy in it, the anti-join would read every
    # uuid for nothing, and this catalog never reads any other snapshot's files.
    events = (
        _template("events", duplicates_files=quote_list(indexes))
        if indexes
        else "SELECT * FROM amplitude.events_all"
    )
    load_log = (
        _template("load_log", manifest_files=quote_list(manifests))
        if manifests
        else empty(
            [
                ("project_id", "BIGINT"),
                ("table_name", "VARCHAR"),
                ("upload_hour", "TIMESTAMP"),
                ("rows", "BIGINT"),
                ("lines_read", "BIGINT"),
                ("rejects", "BIGINT"),
                ("bytes_downloaded", "BIGINT"),
                ("bytes_json", "BIGINT"),
                ("bytes_parquet", "BIGINT"),
                ("request_id", "VARCHAR"),
                ("request_first_hour", "TIMESTAMP"),
                ("request_last_hour", "TIMESTAMP"),
                ("zip_sha256", "VARCHAR"),
                ("content_sha256", "VARCHAR"),
                ("schema_version", "INTEGER"),
                ("loader_version", "VARCHAR"),
                ("loaded_at", "TIMESTAMP"),
                ("seconds", "JSON"),
                ("extra", "JSON"),
            ]
        )
    )
    # Rejects of loaded hours, and of hours that failed (too many rejects) and stay unloaded.
    rejects = " UNION ALL ".join(
        f"SELECT *, {loaded} AS loaded FROM ("
        + _template("rejects", rejects_files=quote_list(files))
        + ")"
        for files, loaded in ((rejects_files, "true"), (quarantined, "false"))
        if files
    ) or empty(
        [
            ("project_id", "BIGINT"),
            ("upload_hour", "TIMESTAMP"),
            ("member", "VARCHAR"),
            ("line_no", "BIGINT"),
            ("reason", "VARCHAR"),
            ("line", "VARCHAR"),
            ("loaded", "BOOLEAN"),
        ]
    )
    snapshot = pinned.snapshot
    committed = snapshot.committed
    lake_snapshot = (
        f"SELECT {snapshot.version}::BIGINT AS version,"
        f" TIMESTAMP '{committed:%Y-%m-%d %H:%M:%S.%f}' AS committed_at,"
        f" {quote_literal(snapshot.operation)} AS operation"
        if committed
        else empty([("version", "BIGINT"), ("committed_at", "TIMESTAMP"), ("operation", "VARCHAR")])
    )
    return [
        *snapshot_views(pinned),
        *privacy_views(pinned, SCHEMA),
        View(
            SCHEMA,
            "events_all",
            events_all,
            "Every exported row, later copies of re-exported uuids included.",
        ),
        View(
            SCHEMA,
            "events",
            events,
            "One row per uuid and project: the earliest upload hour's copy. Timestamps are UTC.",
        ),
        View(SCHEMA, "load_log", load_log, "One row per loaded hour: the loader's manifests."),
        View(
            SCHEMA,
            "rejects",
            rejects,
            "Lines that could not be loaded, with the reason; `loaded` is false for the lines of"
            " hours that failed (too many rejects) and are not loaded.",
        ),
        View(
            SCHEMA,
            "lake_snapshot",
            lake_snapshot,
            "The snapshot of the lake this catalog reads: its version, when it was committed"
            " (UTC) and what the commit did. A session keeps it until it reconnects.",
        ),
        *analyst_views(pinned),
    ]
