"""The Amplitude views of the DuckDB catalog, from the SQL templates in `sql/amplitude/`.

A view over files that do not exist yet cannot be created, so until the lake holds a kind of
file its view is an empty SELECT with the right columns; the definitions then change when the
first file arrives, which is what makes the catalog rebuild.
"""

from __future__ import annotations

from loader.amplitude.schema import FIELDS, LOADER_COLUMNS, SQL_TYPES
from loader.catalog import View
from loader.lake import Lake
from loader.sqlfiles import read_sql

SCHEMA = "amplitude"


def _empty(columns: list[tuple[str, str]]) -> str:
    return "SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in columns) + " WHERE false"


def _events_columns() -> list[tuple[str, str]]:
    return [(f.column, SQL_TYPES[f.kind]) for f in FIELDS] + [
        (name, sql_type) for name, sql_type, _ in LOADER_COLUMNS
    ]


def _template(name: str, **paths: str) -> str:
    text = read_sql(f"amplitude/{name}.sql")
    for key, value in paths.items():
        text = text.replace("{" + key + "}", value.replace("'", "''"))
    return text


def amplitude_views(lake: Lake) -> list[View]:
    """Return the catalog views over an Amplitude lake.

    Args:
        lake: The lake.

    Returns:
        `events_all`, `events`, `load_log` and `rejects` in schema `amplitude`.
    """
    base = lake.join("amplitude", "project=*")
    events_glob = f"{base}/events/upload_date=*/hour=*/*.parquet"
    duplicates_glob = f"{base}/_state/events/duplicates.parquet"
    manifests_glob = f"{base}/_manifests/*/*.json"
    rejects_glob = f"{base}/_rejects/*/*.jsonl.gz"
    has = {
        glob: bool(lake.glob(glob))
        for glob in (events_glob, duplicates_glob, manifests_glob, rejects_glob)
    }
    events_all = (
        _template("events_all", events_glob=lake.url(events_glob))
        if has[events_glob]
        else _empty(_events_columns())
    )
    events = (
        _template("events", duplicates_glob=lake.url(duplicates_glob))
        if has[duplicates_glob]
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
    ]
