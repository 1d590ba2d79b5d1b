"""Typed views per event type, generated from the latest taxonomy (tracking plan) snapshot.

`amplitude_events.<event type>` holds that event type's events with each of its planned event
properties as a typed column, so an analyst writes `WHERE cart_value > 100` instead of digging
in the JSON bag. The taxonomy lists properties per event type plus shared ones (listed under an
empty event type), which every event type gets. The views change whenever the taxonomy does, and
a project without a taxonomy snapshot (or whose plan lacks the Taxonomy API) simply has none.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from loader.amplitude.events import SOURCE
from loader.catalog import View, lake_session, quote_identifier, quote_list, quote_literal
from loader.pinned import PinnedLake

SCHEMA = "amplitude_events"

#: Columns every typed view starts with; property columns never take these names.
BASE_COLUMNS = (
    "project_id",
    "uuid",
    "event_time",
    "amplitude_id",
    "user_id",
    "device_id",
    "session_id",
    "upload_hour",
)

#: Taxonomy property type -> DuckDB type. Anything else (`any`, unknown types) stays JSON.
_TYPES = {"string": "VARCHAR", "enum": "VARCHAR", "number": "DOUBLE", "boolean": "BOOLEAN"}


@dataclass(frozen=True)
class PlannedProperty:
    """One event property of the tracking plan and the column it gets.

    Attributes:
        key: The property key, exactly as sent.
        sql_type: DuckDB type of its column (JSON for arrays and untyped properties).
    """

    key: str
    sql_type: str


def sql_name(text: str, fallback: str) -> str:
    """Turn any event type or property name into a lower-case SQL identifier.

    Accents are dropped, anything else that is not a letter or digit becomes `_`.

    Args:
        text: The name.
        fallback: What to use when nothing is left (and the prefix for a leading digit).

    Returns:
        A name of `[a-z0-9_]`, not starting with a digit.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not name:
        return fallback
    return f"{fallback}_{name}" if name[0].isdigit() else name


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _pointer(key: str) -> str:
    """A JSON pointer to a top-level key: keys may hold dots, quotes or slashes."""
    escaped = key.replace("~", "~0").replace("/", "~1")
    return quote_literal("/" + escaped)


def _column(prop: PlannedProperty, name: str) -> str:
    path = _pointer(prop.key)
    if prop.sql_type == "JSON":
        value = f"event_properties -> {path}"
    elif prop.sql_type == "VARCHAR":
        value = f"event_properties ->> {path}"
    else:  # a value that does not fit the planned type is null here, and stays in the JSON
        value = f"TRY_CAST(event_properties ->> {path} AS {prop.sql_type})"
    return f"{value} AS {quote_identifier(name)}"


def planned_properties(pinned: PinnedLake) -> dict[str, list[PlannedProperty]]:
    """Read the latest taxonomy snapshot of every project: event type -> its typed properties.

    Where projects disagree on a property's type, it is JSON.

    Args:
        pinned: The snapshot of the lake.

    Returns:
        Event type to its properties (shared ones included), sorted; empty without a taxonomy.
    """
    files = pinned.files(SOURCE, "taxonomy_event_properties")
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if files:
        with lake_session(pinned.lake.duckdb_filesystem) as con:
            # Each project's latest snapshot of its tracking plan.
            rows = con.execute(
                "SELECT event_type, event_property, type, is_array_type"
                f" FROM read_parquet({quote_list(files)}, hive_partitioning = false,"
                " union_by_name = true)"
                " QUALIFY snapshot_at = max(snapshot_at) OVER (PARTITION BY project_id)"
            ).fetchall()
        for event_type, prop, kind, is_array in rows:
            sql_type = "JSON" if is_array else _TYPES.get(kind or "", "JSON")
            types[event_type or ""][prop].add(sql_type)
    shared = types.pop("", {})
    plan: dict[str, list[PlannedProperty]] = {}
    for event_type in sorted(types):
        merged = {**shared, **types[event_type]}
        plan[event_type] = [
            PlannedProperty(key, next(iter(kinds)) if len(kinds) == 1 else "JSON")
            for key, kinds in sorted(merged.items())
        ]
    return plan


def typed_event_views(pinned: PinnedLake) -> list[View]:
    """One view per event type of the tracking plan, its properties as typed columns.

    Args:
        pinned: The snapshot of the lake.

    Returns:
        Views in schema `amplitude_events`, named after the event types (SQL-safe, collisions
        numbered in event type order); none without a taxonomy snapshot.
    """
    views: list[View] = []
    view_names: set[str] = set()
    for event_type, props in planned_properties(pinned).items():
        name = _unique(sql_name(event_type, "event"), view_names)
        columns = {*BASE_COLUMNS, "event_properties"}
        selected = [quote_identifier(c) for c in BASE_COLUMNS]
        selected += [_column(p, _unique(sql_name(p.key, "property"), columns)) for p in props]
        sql = (
            "SELECT " + ", ".join(selected) + ", event_properties"
            f" FROM amplitude.events WHERE event_type = {quote_literal(event_type)}"
        )
        described = f"Events of type {event_type!r} with their planned properties as columns."
        views.append(View(SCHEMA, name, sql, described))
    return views
