"""The Amplitude views of the DuckDB catalog, from the SQL templates in `sql/amplitude/`.

A view over files that do not exist yet cannot be created, so until the lake holds a kind of
file its view is an empty SELECT with the right columns; the definitions then change when the
first file arrives, which is what makes the catalog rebuild.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from loader.amplitude.analyst_views import analyst_views
from loader.amplitude.cohorts import COHORTS_SCHEMA, MEMBERS_SCHEMA
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.schema import FIELDS, LOADER_COLUMNS, SQL_TYPES
from loader.amplitude.taxonomy import TABLES
from loader.catalog import View
from loader.lake import Lake, TableLayout, project_of
from loader.publish import SCHEMA_MARKER
from loader.sqlfiles import read_sql

SCHEMA = "amplitude"


def _empty(columns: list[tuple[str, str]]) -> str:
    return "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in columns) + " WHERE false"


def _events_columns() -> list[tuple[str, str]]:
    return [(f.column, SQL_TYPES[f.kind]) for f in FIELDS] + [
        (name, sql_type) for name, sql_type, _ in LOADER_COLUMNS
    ]


def _one_schema(lake: Lake, base: str) -> bool:
    """Whether every project's event files share one schema version.

    The publisher writes a marker per schema version before the first file of that version; a
    project with files but no marker (a lake older than the markers) counts as unknown.
    """
    markers = lake.glob(f"{base}/_state/events/{SCHEMA_MARKER}*")
    versions = {m.rsplit("=", 1)[1] for m in markers}
    marked = {project_of(m) for m in markers}
    with_data = {project_of(d) for d in lake.glob(f"{base}/events")}
    return len(versions) == 1 and with_data <= marked


def _any_duplicates(lake: Lake, glob: str) -> bool:
    """Whether any project's duplicate index lists a later copy (its footer says, no data read)."""
    return any(
        pq.read_metadata(io.BytesIO(lake.read_bytes(path))).num_rows for path in lake.glob(glob)
    )


def _template(name: str, **paths: str) -> str:
    text = read_sql(f"amplitude/{name}.sql")
    for key, value in paths.items():
        text = text.replace("{" + key + "}", value.replace("'", "''"))
    return text


def _sql_type(kind: pa.DataType) -> str:
    if getattr(kind, "extension_name", None) == "arrow.json":
        return "JSON"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    return {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.bool_(): "BOOLEAN",
        pa.string(): "VARCHAR",
    }[kind]


def _snapshot_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    return [("snapshot_at", "TIMESTAMP"), ("project_id", "BIGINT")] + [
        (f.name, _sql_type(f.type)) for f in schema
    ]


SNAPSHOT_TABLES: dict[str, tuple[pa.Schema, str, str]] = {
    "cohorts": (COHORTS_SCHEMA, "*", "Cohort definitions, one row per cohort per snapshot."),
    "cohort_members": (
        MEMBERS_SCHEMA,
        "*/*",
        "Cohort membership, per cohort per download (only changed cohorts are downloaded again).",
    ),
    **{
        name: (schema, "*", f"Snapshots of {name.replace('_', ' ')}.")
        for name, schema in TABLES.items()
    },
}


def snapshot_views(lake: Lake) -> list[View]:
    """Views of the snapshot tables: every snapshot, and the current state.

    `<table>` holds every snapshot (history); `<table>_current` the latest snapshot of each
    project. `cohort_members_current` holds, for every cohort of the current cohort list, the
    membership of its latest download.

    Args:
        lake: The lake.

    Returns:
        The views.
    """
    base = lake.join("amplitude", "project=*")
    views = []
    for table, (schema, depth, description) in SNAPSHOT_TABLES.items():
        glob = f"{base}/{table}/{depth}/data.parquet"
        history = (
            f"SELECT * FROM read_parquet('{lake.url(glob)}', hive_partitioning = false,"
            " union_by_name = true)"
            if lake.glob(glob)
            else _empty(_snapshot_columns(schema))
        )
        views.append(View(SCHEMA, table, history, description))
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
    log_glob = f"{base}/_snapshots/*/*.json"
    snapshot_log = (
        "SELECT project_id, kind, replace(snapshot_at, '+00:00', '')::TIMESTAMP AS snapshot_at,"
        " report, rows, api_version"
        f" FROM read_json('{lake.url(log_glob)}', format = 'auto',"
        " columns = {project_id: 'BIGINT', kind: 'VARCHAR', snapshot_at: 'VARCHAR',"
        " report: 'JSON', rows: 'BIGINT', api_version: 'INTEGER'})"
        if lake.glob(log_glob)
        else _empty(
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


def amplitude_views(lake: Lake) -> list[View]:
    """Return the catalog views over an Amplitude lake.

    Args:
        lake: The lake.

    Returns:
        `events_all`, `events`, `load_log`, `rejects` and the snapshot tables in schema
        `amplitude`, then the analyst and compatibility views built on them.
    """
    base = lake.join("amplitude", "project=*")
    # The read copies, one file per upload day, not the hour files (see loader.day_files).
    events_glob = TableLayout(lake, SOURCE, "*", TABLE).day_glob()
    duplicates_glob = f"{base}/_state/events/duplicates.parquet"
    manifests_glob = f"{base}/_manifests/*/*.json"
    rejects_glob = f"{base}/_rejects/*/*.jsonl.gz"
    has = {glob: bool(lake.glob(glob)) for glob in (events_glob, manifests_glob, rejects_glob)}
    events_all = (
        _template(
            "events_all",
            events_glob=lake.url(events_glob),
            union_by_name="false" if _one_schema(lake, base) else "true",
        )
        if has[events_glob]
        else _empty(_events_columns())
    )
    # Without a later copy anywhere, the anti-join would read every uuid for nothing; the
    # definitions change (and the catalog is rebuilt) when the first later copy is indexed.
    events = (
        _template("events", duplicates_glob=lake.url(duplicates_glob))
        if _any_duplicates(lake, duplicates_glob)
        else "SELECT * FROM amplitude.events_all"
    )
    load_log = (
        _template("load_log", manifests_glob=lake.url(manifests_glob))
        if has[manifests_glob]
        else _empty(
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
    rejects = (
        _template("rejects", rejects_glob=lake.url(rejects_glob))
        if has[rejects_glob]
        else _empty(
            [
                ("project_id", "BIGINT"),
                ("upload_hour", "TIMESTAMP"),
                ("member", "VARCHAR"),
                ("line_no", "BIGINT"),
                ("reason", "VARCHAR"),
                ("line", "VARCHAR"),
            ]
        )
    )
    return [
        *snapshot_views(lake),
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
        View(SCHEMA, "rejects", rejects, "Lines that could not be loaded, with the reason."),
        *analyst_views(lake),
    ]
