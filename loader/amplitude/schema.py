"""The canonical schema of an exported Amplitude event.

Amplitude documents 40 keys, removed 9 from the docs in 2023 that real exports still carry,
and emits 6 more that were never documented: 55 in all. Each field is mapped to an SQL-friendly
column name and a DuckDB type. Fields whose JSON type varies between projects (`paying`,
`$schema`, `amplitude_attribution_ids`) are kept as text or JSON so that no value is ever lost;
values that do not fit their typed column go to `extra_fields` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

#: `string` holds JSON strings only; `text` holds any scalar as its JSON text (for the two
#: fields whose JSON type differs between projects).
Kind = Literal["string", "text", "bigint", "double", "boolean", "timestamp", "json"]

#: Parquet/DuckDB type of each kind.
SQL_TYPES: dict[Kind, str] = {
    "string": "VARCHAR",
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
}


@dataclass(frozen=True)
class Field:
    """One top-level key of the export and the column it lands in."""

    key: str
    column: str
    kind: Kind
    description: str


def _f(key: str, kind: Kind, description: str, column: str | None = None) -> Field:
    return Field(key=key, column=column or key.lstrip("$"), kind=kind, description=description)


#: The 55 known keys, in the column order of the `events` table: identity and time first.
FIELDS: tuple[Field, ...] = (
    _f("uuid", "string", "Unique id of the event row; the table's key."),
    _f("event_time", "timestamp", "Amplitude's corrected event time (UTC)."),
    _f("event_type", "string", "Event name."),
    _f("user_id", "string", "The customer's own user id."),
    _f("device_id", "string", "Device identifier."),
    _f("amplitude_id", "bigint", "Amplitude's internal user id (the original id of merged users)."),
    _f("session_id", "bigint", "Session start in ms since epoch; -1 means no session."),
    _f("event_id", "bigint", "Per-device counter; not unique."),
    _f("$insert_id", "string", "Sender's idempotency id."),
    _f("$insert_key", "string", "Undocumented; usually null."),
    _f("$schema", "text", "Legacy; integer or string, kept as text."),
    _f("app", "bigint", "Project id."),
    _f("event_properties", "json", "Event properties as sent."),
    _f("user_properties", "json", "User properties as they stood at event time."),
    _f("group_properties", "json", "Properties of the event's groups."),
    _f("groups", "json", "Group type to group value(s)."),
    _f("global_user_properties", "json", "Undocumented for export."),
    _f("data", "json", "Amplitude internal metadata."),
    _f("plan", "json", "Tracking-plan branch, source and version."),
    _f("client_event_time", "timestamp", "When the device logged the event (UTC)."),
    _f("client_upload_time", "timestamp", "When the device uploaded the event (UTC)."),
    _f("server_received_time", "timestamp", "When Amplitude received the event (UTC)."),
    _f(
        "server_upload_time",
        "timestamp",
        "When Amplitude stored the event; the export filters on it.",
    ),
    _f("processed_time", "timestamp", "When Amplitude's pipeline processed the event (UTC)."),
    _f("user_creation_time", "timestamp", "When the user was first seen (UTC)."),
    _f("adid", "string", "Android advertising id."),
    _f("idfa", "string", "iOS advertising id."),
    _f("amplitude_attribution_ids", "json", "Hashed attribution ids (string or array)."),
    _f("amplitude_event_type", "string", "Legacy internal event type."),
    _f("city", "string", "GeoIP city."),
    _f("country", "string", "GeoIP country."),
    _f("region", "string", "GeoIP region or state."),
    _f("dma", "string", "Designated market area."),
    _f("location_lat", "double", "Latitude."),
    _f("location_lng", "double", "Longitude."),
    _f("ip_address", "string", "IP address."),
    _f("language", "string", "Device language."),
    _f("platform", "string", "Platform."),
    _f("os_name", "string", "Operating system name."),
    _f("os_version", "string", "Operating system version."),
    _f("device_brand", "string", "Device brand."),
    _f("device_carrier", "string", "Mobile carrier."),
    _f("device_family", "string", "Device family."),
    _f("device_manufacturer", "string", "Device manufacturer."),
    _f("device_model", "string", "Device model."),
    _f("device_type", "string", "Device type."),
    _f("library", "string", "SDK or library that sent the event."),
    _f("version_name", "string", "App version."),
    _f("start_version", "string", "App version the user was first seen on."),
    _f("paying", "text", "Whether the user ever logged revenue (boolean or string, as text)."),
    _f("is_attribution_event", "boolean", "Whether this is an attribution event."),
    _f("sample_rate", "double", "Sampling rate (Scale add-on)."),
    _f("data_type", "string", "Observed value: event."),
    _f("partner_id", "string", "Partner that built the ingestion integration."),
    _f("source_id", "string", "Undocumented for export."),
)

#: Columns the loader adds to every row.
LOADER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("extra_fields", "JSON", "Unknown top-level keys, and values that did not fit their column."),
    ("project_id", "BIGINT", "The Amplitude project the row was exported from."),
    ("upload_hour", "TIMESTAMP", "The server_upload_time hour (UTC) whose export held the row."),
    ("loaded_at", "TIMESTAMP", "When the loader wrote the row (UTC)."),
    (
        "later_copy",
        "BOOLEAN",
        "True for a copy of a uuid that an earlier upload hour of the project also holds:"
        " `WHERE NOT later_copy` gives each event once (the `events` view does).",
    ),
)
#: The flag of later copies (see `loader.later_copies`), set by the publish.
LATER_COPY = "later_copy"

KEYS: frozenset[str] = frozenset(f.key for f in FIELDS)
assert len(FIELDS) == 55 and len(KEYS) == 55, "the export has 55 known keys"

#: Bumped whenever the column set or a type changes; recorded in every manifest. 2: times
#: typed UTC in the files, and `later_copy`.
SCHEMA_VERSION = 2


def column_types() -> dict[str, str]:
    """Return every column of the events table and its DuckDB type, in table order.

    Returns:
        Column name to DuckDB type, the 55 export fields followed by the loader's own columns.
    """
    types = {f.column: SQL_TYPES[f.kind] for f in FIELDS}
    types.update({name: sql_type for name, sql_type, _ in LOADER_COLUMNS})
    return types


#: The columns typed TIMESTAMP (UTC): the files type them UTC, the catalog's views naive.
TIMESTAMP_COLUMNS = frozenset(c for c, t in column_types().items() if t == "TIMESTAMP")
#: The columns typed JSON: text in the files, JSON in the catalog's views.
JSON_COLUMNS = frozenset(c for c, t in column_types().items() if t == "JSON")

_ARROW = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),  # Delta has no JSON type: text, which the views read as JSON
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}


def arrow_schema() -> pa.Schema:
    """The events table's columns as the Delta table declares them."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in column_types().items()])


#: Columns written without a Parquet dictionary: nearly every value is new (ids, times), so a
#: dictionary only adds a page to build and to skip. Measured on 47,765 synthetic events (one
#: column at a time, zstd): a dictionary made `event_time` 304 KB instead of 162 KB and `uuid`
#: 721 KB instead of 672 KB, while it made `event_type` 28 KB instead of 81 KB and
#: `user_properties` 39 KB instead of 206 KB. `amplitude_id` keeps its dictionary (a user's
#: events repeat it; daily active users ran 9 % faster with it), and so does `event_properties`:
#: it cost nothing where every bag differed (1.66 MB either way) and made an hour of the
#: benchmark's events, whose bags repeat, 435 KB instead of 151 KB without it.
PLAIN_COLUMNS = frozenset(
    {
        "uuid",
        "insert_id",
        "event_id",
        "event_time",
        "client_event_time",
        "client_upload_time",
        "server_received_time",
        "server_upload_time",
        "processed_time",
    }
)


def dictionary_columns(names: list[str]) -> list[str]:
    """The columns of an events file that get a Parquet dictionary (all but `PLAIN_COLUMNS`)."""
    return [n for n in names if n not in PLAIN_COLUMNS]
