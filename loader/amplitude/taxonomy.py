"""The tracking plan (Taxonomy API), the events list and annotations, as snapshot tables.

The Taxonomy API answers in a `{"success": ..., "data": ...}` envelope, costs 1 per GET against a
budget of 7,200 per hour and 4 in flight, lists event properties per event type (one call each,
plus one for the shared ones), and is not part of every plan: a project without it is recorded
as unavailable with the reason, not failed (unless `strict`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from loader.errors import AuthError, LoaderError
from loader.http import HttpClient
from loader.ratelimit import SlidingWindow
from loader.snapshot_tables import SnapshotWriter

log = logging.getLogger(__name__)

_J = pa.json_(pa.string())
TABLES: dict[str, pa.Schema] = {
    "taxonomy_categories": pa.schema(
        [("category_id", pa.int64()), ("name", pa.string()), ("raw", _J)]
    ),
    "taxonomy_event_types": pa.schema(
        [
            ("event_type", pa.string()),
            ("category", pa.string()),
            ("description", pa.string()),
            ("is_active", pa.bool_()),
            ("deleted", pa.bool_()),
            ("raw", _J),
        ]
    ),
    "taxonomy_event_properties": pa.schema(
        [
            ("event_type", pa.string()),
            ("event_property", pa.string()),
            ("type", pa.string()),
            ("is_array_type", pa.bool_()),
            ("raw", _J),
        ]
    ),
    "taxonomy_user_properties": pa.schema(
        [
            ("user_property", pa.string()),
            ("type", pa.string()),
            ("deleted", pa.bool_()),
            ("raw", _J),
        ]
    ),
    "taxonomy_group_properties": pa.schema(
        [
            ("group_type", pa.string()),
            ("group_property", pa.string()),
            ("type", pa.string()),
            ("raw", _J),
        ]
    ),
    "event_types": pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("display", pa.string()),
            ("totals", pa.int64()),
            ("deleted", pa.bool_()),
            ("hidden", pa.bool_()),
            ("non_active", pa.bool_()),
            ("raw", _J),
        ]
    ),
    "annotations": pa.schema(
        [
            ("annotation_id", pa.int64()),
            ("label", pa.string()),
            ("details", pa.string()),
            ("start_time", pa.string()),
            ("end_time", pa.string()),
            ("category", pa.string()),
            ("chart_id", pa.string()),
            ("api_version", pa.int32()),
            ("raw", _J),
        ]
    ),
}
#: Taxonomy API cost budget: 7,200 per hour (requests are made one at a time, under the 4 limit).
TAXONOMY_COST_PER_HOUR = 7200


@dataclass
class TaxonomyReport:
    """What a taxonomy snapshot did.

    Attributes:
        available: Whether the project's plan includes the Taxonomy API.
        reason: Why not, if not.
        rows: Rows written per table.
        cost: Taxonomy cost spent.
    """

    available: bool = True
    reason: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    cost: int = 0


def _raw(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False)


class TaxonomySnapshot:
    """Snapshots the tracking plan of one project.

    Args:
        client: HTTP client for the project's host and keys.
        writer: Where the snapshot goes.
        strict: Fail instead of recording the API as unavailable.
    """

    def __init__(self, client: HttpClient, writer: SnapshotWriter, strict: bool = False) -> None:
        self.client = client
        self.writer = writer
        self.strict = strict
        self.budget = SlidingWindow(TAXONOMY_COST_PER_HOUR, 3600)
        self.report = TaxonomyReport()

    def _get(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        self.budget.acquire(1)
        self.report.cost += 1
        body = self.client.get(f"/api/2/taxonomy/{path}", params).json_body or {}
        if not body.get("success", False):
            raise LoaderError(
                f"the Taxonomy API answered {path} without success: {body.get('errors')}",
                project=self.writer.project,
            )
        data: list[dict[str, Any]] = body.get("data") or []
        return data

    def run(self) -> TaxonomyReport:
        """Fetch every taxonomy table and write it.

        Returns:
            What was done.

        Raises:
            AuthError: If the API is refused and `strict` is set.
        """
        try:
            self._run()
        except AuthError as exc:
            if self.strict:
                raise
            self.report.available = False
            self.report.reason = (
                f"the Taxonomy API refused this project's keys (HTTP {exc.status}) although the"
                " other APIs accepted them: the plan probably lacks it (Enterprise, or Growth with"
                " the Govern add-on)"
            )
            log.warning("project %s: %s", self.writer.project, self.report.reason)
        self.writer.log("taxonomy", {"report": self.report.__dict__})
        return self.report

    def _run(self) -> None:
        categories = self._get("category")
        events = self._get("event", {"showDeleted": "true"})
        properties = [*self._get("event-property")]  # the shared ones
        for event in events:
            name = str(event.get("event_type"))
            properties += self._get("event-property", {"event_type": name})
        users = self._get("user-property", {"showDeleted": "true"})
        groups = self._get("group-property")
        tables = {
            "taxonomy_categories": [
                {"category_id": c.get("id"), "name": c.get("name"), "raw": _raw(c)}
                for c in categories
            ],
            "taxonomy_event_types": [
                {
                    "event_type": e.get("event_type"),
                    "category": (e.get("category") or {}).get("name"),
                    "description": e.get("description"),
                    "is_active": e.get("is_active"),
                    "deleted": bool(e.get("deleted", False)),
                    "raw": _raw(e),
                }
                for e in events
            ],
            "taxonomy_event_properties": [
                {
                    "event_type": p.get("event_type") or None,
                    "event_property": p.get("event_property"),
                    "type": p.get("type"),
                    "is_array_type": p.get("is_array_type"),
                    "raw": _raw(p),
                }
                for p in properties
            ],
            "taxonomy_user_properties": [
                {
                    "user_property": u.get("user_property"),
                    "type": u.get("type"),
                    "deleted": bool(u.get("deleted", False)),
                    "raw": _raw(u),
                }
                for u in users
            ],
            "taxonomy_group_properties": [
                {
                    "group_type": g.get("group_type"),
                    "group_property": g.get("group_property"),
                    "type": g.get("type"),
                    "raw": _raw(g),
                }
                for g in groups
            ],
        }
        for table, rows in tables.items():
            schema = TABLES[table]
            self.report.rows[table] = self.writer.write(
                table, pa.Table.from_pylist(rows, schema=schema), schema
            )


def snapshot_events_list(client: HttpClient, writer: SnapshotWriter) -> int:
    """Snapshot `GET /api/2/events/list` (which carries the event types' `id`).

    Args:
        client: HTTP client.
        writer: Where the snapshot goes.

    Returns:
        Rows written.
    """
    data = client.get("/api/2/events/list").json_body.get("data") or []
    rows = [
        {
            "id": e.get("id"),
            "name": e.get("value") or e.get("name"),
            "display": e.get("display"),
            "totals": e.get("totals"),
            "deleted": e.get("deleted"),
            "hidden": e.get("hidden"),
            "non_active": e.get("non_active"),
            "raw": _raw(e),
        }
        for e in data
    ]
    schema = TABLES["event_types"]
    count = writer.write("event_types", pa.Table.from_pylist(rows, schema=schema), schema)
    writer.log("event_types", {"rows": count})
    return count


def snapshot_annotations(client: HttpClient, writer: SnapshotWriter) -> int:
    """Snapshot chart annotations: `/api/3/annotations`, else the legacy `/api/2/annotations`.

    Args:
        client: HTTP client.
        writer: Where the snapshot goes.

    Returns:
        Rows written.
    """
    version = 3
    fetched = client.get("/api/3/annotations", accept=frozenset({404}))
    if fetched.status == 404:
        version = 2
        fetched = client.get("/api/2/annotations")
    data = (fetched.json_body or {}).get("data") or []
    rows = [
        {
            "annotation_id": a.get("id"),
            "label": a.get("label"),
            "details": a.get("details"),
            "start_time": a.get("start") or a.get("date"),
            "end_time": a.get("end"),
            "category": (a.get("category") or {}).get("name"),
            "chart_id": None if a.get("chart_id") is None else str(a.get("chart_id")),
            "api_version": version,
            "raw": _raw(a),
        }
        for a in data
    ]
    schema = TABLES["annotations"]
    count = writer.write("annotations", pa.Table.from_pylist(rows, schema=schema), schema)
    writer.log("annotations", {"rows": count, "api_version": version})
    return count
