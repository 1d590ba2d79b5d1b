"""Synthetic cohorts, taxonomy, events list and annotations of a synthetic project.

Everything derives from the project's own users and event types, so that tests can compare a
snapshot with the ground truth (`cohort_members`, `taxonomy`), including the documented quirks:
every CSV field quoted, headers with stray whitespace or a leading tab, empty user ids for
anonymous users, `group_value` for group cohorts, property columns with `props=1`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loader.emulator.generator import (
    _PROPERTY_KEYS,
    EVENT_TYPES,
    SyntheticProject,
    amplitude_id_of,
)

USERS = 5000
MAX_COHORT_SIZE = 2_000_000


@dataclass(frozen=True)
class CohortSpec:
    """One synthetic cohort.

    Attributes:
        id: Its id.
        name: Its name.
        rule: Which user numbers belong (user n is a member when `n % mod == rest`).
        group: Whether it is a group cohort (members are accounts, not users).
        archived: Whether it is archived.
        size_override: A size to report instead of the members' count (for an oversize cohort).
    """

    id: str
    name: str
    mod: int
    rest: int
    group: bool = False
    archived: bool = False
    size_override: int | None = None


COHORTS = (
    CohortSpec("c0power", "Power users", 7, 0),
    CohortSpec("c1churn", "Churn risk ⚠️", 11, 3),
    CohortSpec("c2anon", "Anonymous, mostly", 13, 0),
    CohortSpec("c3accts", "Enterprise accounts", 17, 5, group=True),
    CohortSpec("c4old", "Old campaign", 19, 1, archived=True),
    CohortSpec("c5huge", "Everyone ever", 1, 0, size_override=3_000_000),
)


def amplitude_id(user: int) -> int:
    """Amplitude id of a synthetic user (as the event generator assigns it)."""
    return amplitude_id_of(user, 0)


def user_id(user: int) -> str:
    """User id of a synthetic user; some users are anonymous (empty id)."""
    return "" if user % 13 == 0 else f"user_{user}"


def members(spec: CohortSpec) -> list[int]:
    """Return the user numbers of a cohort."""
    return [n for n in range(USERS) if n % spec.mod == spec.rest]


def cohort_objects(project: SyntheticProject, revision: dict[str, int]) -> list[dict[str, Any]]:
    """Return `GET /api/3/cohorts` objects.

    Args:
        project: The project.
        revision: How often each cohort was recomputed (bumps `lastComputed`).

    Returns:
        The cohort objects.
    """
    base = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp())
    return [
        {
            "appId": project.project_id,
            "archived": spec.archived,
            "definition": {
                "version": 3,
                "countGroup": {"name": "org id" if spec.group else "User"},
                "cohortType": "UNIQUES",
                "andClauses": [{"mod": spec.mod}],
            },
            "description": f"users n % {spec.mod} == {spec.rest}",
            "finished": True,
            "id": spec.id,
            "name": spec.name,
            "owners": ["owner@example.com"],
            "viewers": [],
            "published": True,
            "size": spec.size_override or len(members(spec)),
            "type": "redshift",
            "lastMod": base + index * 60,
            "createdAt": base - 86400,
            "lastComputed": base + 3600 * (1 + revision.get(spec.id, 0)) + index,
            "hidden": False,
            "metadata": None,
            "view_count": index,
            "popularity": None,
            "last_viewed": None,
            "chart_id": None,
            "edit_id": None,
            "location_id": None,
            "is_predictive": False,
            "is_official_content": index == 0,
            "shortcut_ids": [],
        }
        for index, spec in enumerate(COHORTS)
    ]


def cohort_csv(spec: CohortSpec, props: bool) -> bytes:
    """Return a cohort's membership file, with the quirks of the real one.

    Args:
        spec: The cohort.
        props: Whether user properties were asked for.

    Returns:
        CSV bytes.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    if spec.group:
        out.write('"\tgroup_value"\n')  # a leading tab, as one SDK saw
        for n in members(spec):
            writer.writerow([f"acct-{n}"])
        return out.getvalue().encode()
    header = [" amplitude_id", "user_id "] + (["plan", "cohort"] if props else [])
    writer.writerow(header)
    for n in members(spec):
        row = [str(amplitude_id(n)), user_id(n)]
        if props:
            row += [["free", "pro", "enterprise"][n % 3], f"c{n % 5}"]
        writer.writerow(row)
    return out.getvalue().encode()


def cohort_by_id(cohort: str) -> CohortSpec | None:
    """Find a cohort by id."""
    return next((c for c in COHORTS if c.id == cohort), None)


CATEGORIES = [
    {"id": 1, "name": "Engagement"},
    {"id": 2, "name": "Commerce"},
    {"id": 3, "name": "Amplitude"},
]
DELETED_EVENT = "Legacy Tap"
SHARED_EVENT_PROPERTIES = ["app_build"]
USER_PROPERTIES = ["gp:plan", "gp:initial_utm_source", "gp:cohort", "gp:[Experiment] new-checkout"]
GROUP_PROPERTIES = [("org id", "grp:plan")]
_TYPES = {
    "cart_value": "number",
    "count": "number",
    "ratio": "number",
    "price.usd": "number",
    "is_first": "boolean",
    "item_skus": "string",
    "nested": "any",
    "empty": "any",
}


def _category(event_type: str) -> str:
    if event_type.startswith(("[Amplitude]", "session_")):
        return "Amplitude"
    if any(w in event_type for w in ("Checkout", "Purchase", "carrito")):
        return "Commerce"
    return "Engagement"


def taxonomy_events(show_deleted: bool) -> list[dict[str, Any]]:
    """Return `GET /api/2/taxonomy/event` data (a deleted event only with showDeleted)."""
    names = list(EVENT_TYPES) + ([DELETED_EVENT] if show_deleted else [])
    return [
        {
            "event_type": name,
            "category": {"name": _category(name)},
            "description": f"When {name} happens",
            "display_name": None,
            "is_active": name != DELETED_EVENT,
            "is_hidden_from_dropdowns": False,
            "is_hidden_from_persona_results": False,
            "is_hidden_from_pathfinder": False,
            "is_hidden_from_timeline": False,
            "tags": ["core"] if index < 3 else [],
            "owner": "owner@example.com",
            **({"deleted": True} if name == DELETED_EVENT else {}),
        }
        for index, name in enumerate(names)
    ]


def event_property_names(event_type: str | None) -> list[str]:
    """Properties the taxonomy lists for an event type (None: the shared ones)."""
    if event_type is None:
        return list(SHARED_EVENT_PROPERTIES)
    if event_type == "[Experiment] Exposure":
        return ["flag_key", "variant"]
    if event_type.startswith("[Experiment]") or event_type == DELETED_EVENT:
        return []
    return list(_PROPERTY_KEYS)


def taxonomy_event_properties(event_type: str | None) -> list[dict[str, Any]]:
    """Return `GET /api/2/taxonomy/event-property` data."""
    return [
        {
            "event_property": name,
            "event_type": event_type or "",
            "description": "",
            "type": _TYPES.get(name, "string"),
            "regex": None,
            "enum_values": None,
            "is_array_type": name == "item_skus",
            "is_required": False,
            "is_hidden": False,
            "classifications": ["REVENUE"] if name == "cart_value" else [],
        }
        for name in event_property_names(event_type)
    ]


def taxonomy_user_properties() -> list[dict[str, Any]]:
    """Return `GET /api/2/taxonomy/user-property` data."""
    return [
        {
            "user_property": name,
            "description": "",
            "type": "string",
            "enum_values": None,
            "regex": None,
            "is_array_type": False,
            "is_hidden": False,
            "classifications": [],
            "deleted": False,
        }
        for name in USER_PROPERTIES
    ]


def taxonomy_group_properties() -> list[dict[str, Any]]:
    """Return `GET /api/2/taxonomy/group-property` data."""
    return [
        {
            "group_type": group,
            "group_property": name,
            "description": "",
            "type": "string",
            "enum_values": None,
            "regex": None,
            "is_array_type": False,
            "is_hidden": False,
            "classifications": [],
        }
        for group, name in GROUP_PROPERTIES
    ]


def events_list() -> list[dict[str, Any]]:
    """Return `GET /api/2/events/list` data (with the `id` the Fivetran schema needs)."""
    return [
        {
            "id": index + 1,
            "value": name,
            "display": name,
            "name": name,
            "totals": 1000 // (index + 1),
            "totals_delta": 0,
            "non_active": False,
            "deleted": False,
            "hidden": False,
            "flow_hidden": False,
        }
        for index, name in enumerate(EVENT_TYPES)
    ]


ANNOTATIONS = [
    (1, "2024-03-01T09:00:00+00:00", "2024-03-01T10:00:00+00:00", "Release 5.13 🚀", "iOS"),
    (2, "2024-03-02T00:00:00+00:00", None, "Pricing test starts", "Experiments"),
]


def annotations_v3() -> list[dict[str, Any]]:
    """Return `GET /api/3/annotations` data."""
    return [
        {
            "id": i,
            "start": start,
            "end": end,
            "label": label,
            "details": f"details of {label}",
            "category": {"id": 10 + i, "name": category},
            "chart_id": None,
        }
        for i, start, end, label, category in ANNOTATIONS
    ]


def annotations_v2() -> list[dict[str, Any]]:
    """Return `GET /api/2/annotations` data (the legacy shape: a date, no category)."""
    return [
        {"id": i, "date": start[:10], "label": label, "details": f"details of {label}"}
        for i, start, _, label, _ in ANNOTATIONS
    ]
