"""The Amplitude views of the DuckDB catalog, over one pinned version of each table.

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
from loader.amplitude.view_sql import as_viewed, empty, history, snapshot_files
from loader.catalog import View, lake_session, quote_list, quote_literal
from loader.manifest import LOAD_LOG
from loader.pinned import PinnedLake
from loader.snapshot.layout import SNAPSHOT_LOG
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


def snapshot_views(pinned: PinnedLake) -> list[View]:
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
    log_columns = [
        ("project_id", "BIGINT"),
        ("kind", "VARCHAR"),
        ("snapshot_at", "TIMESTAMP"),
        ("report", "JSON"),
        ("rows", "BIGINT"),
        ("api_version", "INTEGER"),
    ]
    snapshot_log = (
        f"SELECT project_id, kind, make_timestamp(epoch_us(snapshot_at)) AS snapshot_at,"
        " report::JSON AS report, rows, api_version"
        f" FROM read_parquet({quote_list(records)}, hive_partitioning = false)"
        if records
        else empty(log_columns)
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


def _over_files(template: str, files: list[str], columns: list[tuple[str, str]]) -> str:
    """A view's SQL over some files of a table (an empty SELECT of its columns before any)."""
    if not files:
        return empty(columns)
    return _template(template, columns=as_viewed(columns), files=quote_list(files))


def _schema_versions(pinned: PinnedLake, load_files: list[str]) -> set[int]:
    """The schema versions of the events hours with rows, as the load logs record them."""
    if not load_files:
        return set()
    with lake_session(pinned.lake.duckdb_filesystem) as con:
        found = con.execute(
            "SELECT DISTINCT schema_version FROM ("
            f" SELECT schema_version, rows FROM read_parquet({quote_list(load_files)},"
            " hive_partitioning = false, union_by_name = true)"
            f" WHERE table_name = '{TABLE}'"
            " QUALIFY row_number() OVER (PARTITION BY project_id, upload_hour"
            " ORDER BY loaded_at DESC) = 1"
            ") WHERE rows > 0"
        ).fetchall()
    return {int(v) for (v,) in found}


def amplitude_views(pinned: PinnedLake) -> list[View]:
    """Return the catalog views over one pinned version of each table of an Amplitude lake.

    Args:
        pinned: The pinned lake.

    Returns:
        `events_all`, `events`, `load_log`, `rejects`, `lake_snapshot` and the snapshot tables
        in schema `amplitude`, then the analyst and compatibility views built on them.
    """
    events_files = pinned.files(SOURCE, TABLE)
    columns = list(column_types().items())
    load_files = pinned.files(SOURCE, LOAD_LOG)
    # union_by_name makes every query read every footer first: only while two schema versions
    # are live, so that a column added by a newer loader never breaks older files.
    versions = _schema_versions(pinned, load_files)
    events_all = (
        _template(
            "events_all",
            columns=as_viewed(columns),
            events_files=quote_list(events_files),
            union_by_name="true" if len(versions) > 1 else "false",
        )
        if events_files
        else empty(columns)
    )
    load_columns = [
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
    load_log = _over_files("load_log", load_files, load_columns)
    rejects_files = pinned.files(SOURCE, f"{TABLE}_rejects")
    reject_columns = [
        ("project_id", "BIGINT"),
        ("upload_hour", "TIMESTAMP"),
        ("member", "VARCHAR"),
        ("line_no", "BIGINT"),
        ("reason", "VARCHAR"),
        ("line", "VARCHAR"),
        ("loaded", "BOOLEAN"),
    ]
    rejects = _over_files("rejects", rejects_files, reject_columns)
    pinned_versions = [
        f"({quote_literal(t.name)}, {t.project}::BIGINT, {t.version}::BIGINT,"
        f" TIMESTAMP '{t.committed_at:%Y-%m-%d %H:%M:%S.%f}', {quote_literal(t.operation)})"
        for t in pinned.tables.values()
        if t.committed_at is not None
    ]
    snapshot_columns = [
        ("table_name", "VARCHAR"),
        ("project_id", "BIGINT"),
        ("version", "BIGINT"),
        ("committed_at", "TIMESTAMP"),
        ("operation", "VARCHAR"),
    ]
    lake_snapshot = (
        "SELECT * FROM (VALUES "
        + ", ".join(pinned_versions)
        + ") AS v("
        + ", ".join(name for name, _ in snapshot_columns)
        + ")"
        if pinned_versions
        else empty(snapshot_columns)
    )
    return [
        *snapshot_views(pinned),
        *privacy_views(pinned, SCHEMA),
        View(
            SCHEMA,
            "events_all",
            events_all,
            "Every exported row, later copies of re-exported uuids included (`later_copy`).",
        ),
        View(
            SCHEMA,
            "events",
            "SELECT * EXCLUDE (later_copy) FROM amplitude.events_all WHERE NOT later_copy",
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
            "The Delta version of each table this catalog reads: when it was committed (UTC)"
            " and what the commit did. A session keeps them until it reconnects.",
        ),
        *analyst_views(pinned),
    ]
