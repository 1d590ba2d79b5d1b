"""Ground truth for tests, computed independently of the loader's own normaliser.

The loader types events with SQL in DuckDB; this module types them again with plain Python from
the emulator's raw events, so that a test comparing the two can catch a mistake in either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loader.amplitude.schema import FIELDS
from loader.emulator.generator import SyntheticProject
from loader.hours import hours_between


def _timestamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise AssertionError(f"the emulator produced an unparseable timestamp {value!r}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def expected_row(event: dict[str, Any], upload_hour: datetime, project_id: int) -> dict[str, Any]:
    """Return the row the loader should produce for one raw event.

    JSON columns are given as parsed values (compare them parsed).
    """
    row: dict[str, Any] = {}
    for field in FIELDS:
        value = event.get(field.key)
        if field.kind == "timestamp":
            row[field.column] = _timestamp(value)
        elif field.kind == "bigint":
            row[field.column] = (
                value if isinstance(value, int) and not isinstance(value, bool) else None
            )
        elif field.kind == "double":
            row[field.column] = float(value) if isinstance(value, (int, float)) else None
        elif field.kind == "boolean":
            row[field.column] = value if isinstance(value, bool) else None
        elif field.kind == "json":
            row[field.column] = value
        else:
            row[field.column] = _text(value)
    known = {f.key for f in FIELDS}
    unknown = {k: v for k, v in event.items() if k not in known}
    row["extra_fields"] = unknown or None
    row["project_id"] = project_id
    row["upload_hour"] = upload_hour.replace(tzinfo=None)
    return row


def truth(
    project: SyntheticProject,
    first: datetime,
    last: datetime,
    reloaded: Mapping[datetime, SyntheticProject] | None = None,
) -> dict[str, dict[str, Any]]:
    """Return the expected `amplitude.events` rows of loaded hours, by uuid.

    Where a uuid was exported in several upload hours, the earliest hour's copy is expected.

    Args:
        project: The content the hours were loaded from.
        first: The first loaded hour.
        last: The last loaded hour.
        reloaded: Hours reloaded from another content (the export changed), and that content.
    """
    rows: dict[str, dict[str, Any]] = {}
    for hour in hours_between(first, last):
        source = (reloaded or {}).get(hour, project)
        for event in source.events(hour):
            rows.setdefault(event["uuid"], expected_row(event, hour, source.project_id))
    return rows


def raw_rows(project: SyntheticProject, first: datetime, last: datetime) -> int:
    """Return how many rows all upload hours hold, later copies included."""
    return sum(len(project.events(h)) for h in hours_between(first, last))


JSON_COLUMNS = {f.column for f in FIELDS if f.kind == "json"} | {"extra_fields"}


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """Parse a loaded row's JSON columns, and drop `loaded_at`, for comparison."""
    out = {}
    for key, value in row.items():
        if key == "loaded_at":
            continue
        out[key] = json.loads(value) if key in JSON_COLUMNS and value is not None else value
    return out
