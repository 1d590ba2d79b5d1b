"""The analyst views, checked against values computed in Python from the emulator's raw events."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import duckdb
import pytest

from loader.amplitude.config import LoaderSettings
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START, config_for, settings_in
from tests.truth import truth

ACTIVE_EXCLUDED = {"$identify", "$groupidentify"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoaderSettings, Any]]:
    """Three days of events, the events list and the taxonomy, loaded once for the module."""
    synthetic = SyntheticProject(events_per_hour=40, part_events=40)
    settings = settings_in(tmp_path_factory.mktemp("analyst"))
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        config = config_for(synthetic, server)
        sync_projects([config], settings, now=NOW)
        snapshot_project(config, settings, ("events-list", "taxonomy"), now=NOW)
    refresh_catalog(settings)
    yield settings, list(truth(synthetic, START, LAST).values())


def _rows(settings: LoaderSettings, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        result = con.execute(sql)
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _columns(settings: LoaderSettings, schema: str, view: str) -> dict[str, str]:
    return {
        r["column_name"]: r["data_type"]
        for r in _rows(
            settings,
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = '{schema}' AND table_name = '{view}'",
        )
    }


def _in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # DuckDB sorts nulls last; the views break event_time ties by uuid.
    return sorted(events, key=lambda e: (e["event_time"] is None, e["event_time"], e["uuid"]))


def test_sessions_match_an_independent_computation(warehouse: tuple[LoaderSettings, Any]) -> None:
    settings, events = warehouse
    grouped: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["session_id"] not in (None, -1) and e["amplitude_id"] is not None:
            grouped[(e["project_id"], e["amplitude_id"], e["session_id"])].append(e)
    expected = {}
    for key, members in grouped.items():
        ordered = _in_order(members)
        times = [e["event_time"] for e in ordered if e["event_time"] is not None]
        named = [e["user_id"] for e in ordered if e["user_id"]]
        expected[key] = {
            "user_id": named[-1] if named else None,
            "started_at": min(times),
            "ended_at": max(times),
            "duration_seconds": (max(times) - min(times)).total_seconds(),
            "events": len(members),
            "first_event_type": ordered[0]["event_type"],
            "last_event_type": ordered[-1]["event_type"],
        }
    got = {
        (r.pop("project_id"), r.pop("amplitude_id"), r.pop("session_id")): r
        for r in _rows(settings, "SELECT * FROM amplitude.sessions")
    }
    assert len(expected) > 100
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert math.isclose(got[key].pop("duration_seconds"), row.pop("duration_seconds"))
        assert got[key] == row, key
    # -1 is not a session, and a one-event session lasts zero seconds.
    assert not any(key[2] == -1 for key in got)


def _expected_active_users(events: list[dict[str, Any]]) -> dict[tuple[int, date], dict[str, int]]:
    by_day: dict[tuple[int, date], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event_time"] is not None and e["event_type"] not in ACTIVE_EXCLUDED:
            by_day[(e["project_id"], e["event_time"].date())].append(e)
    expected = {}
    for project in {p for p, _ in by_day}:
        days = sorted(d for p, d in by_day if p == project)
        day = days[0]
        while day <= days[-1]:
            windows = {"dau": 1, "wau": 7, "mau": 30}
            row = {}
            for name, width in windows.items():
                seen = [
                    e
                    for back in range(width)
                    for e in by_day.get((project, day - timedelta(days=back)), [])
                ]
                row[name] = len({e["amplitude_id"] for e in seen if e["amplitude_id"] is not None})
                row[f"{name}_user_id"] = len({e["user_id"] for e in seen if e["user_id"]})
            expected[(project, day)] = row
            day += timedelta(days=1)
    return expected


def test_daily_weekly_and_monthly_active_users_match(
    warehouse: tuple[LoaderSettings, Any],
) -> None:
    settings, events = warehouse
    expected = _expected_active_users(events)
    got = {
        (r.pop("project_id"), r.pop("day")): r
        for r in _rows(settings, "SELECT * FROM amplitude.daily_active_users")
    }
    assert len(expected) >= 3
    assert got == expected
    # Late arrivals make days before the first upload hour: some day has fewer DAU than WAU.
    assert any(row["dau"] < row["wau"] < row["mau"] for row in got.values())


def test_experiment_exposures_match(warehouse: tuple[LoaderSettings, Any]) -> None:
    settings, events = warehouse
    expected = []
    for e in events:
        props = e["event_properties"] or {}
        if e["event_type"] == "[Experiment] Exposure":
            expected.append((e["uuid"], "exposure", props.get("flag_key"), props.get("variant")))
        elif e["event_type"] == "[Experiment] Assignment":
            expected += [
                (e["uuid"], "assignment", key.removesuffix(".variant"), value)
                for key, value in props.items()
                if key.endswith(".variant")
            ]
    got = [
        (r["uuid"], r["kind"], r["flag_key"], r["variant"])
        for r in _rows(settings, "SELECT * FROM amplitude.experiment_exposures")
    ]
    assert {kind for _, kind, _, _ in expected} == {"exposure", "assignment"}
    assert sorted(got) == sorted(expected)


def _same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    # DuckDB reads integers beyond 64 bits as doubles; compare numbers as numbers.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b and type(a) is type(b))


def test_event_properties_in_long_form_match(warehouse: tuple[LoaderSettings, Any]) -> None:
    settings, events = warehouse
    expected = {
        (e["uuid"], key): value
        for e in events
        for key, value in (e["event_properties"] or {}).items()
    }
    rows = _rows(settings, "SELECT * FROM amplitude.event_properties_long")
    got = {(r["uuid"], r["property"]): r for r in rows}
    assert len(rows) == len(got) == len(expected) > 1000
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        row = got[key]
        assert _same_json(json.loads(row["value_json"]), value), key
        if isinstance(value, str):
            assert row["value_text"] == value and row["value_type"] == "VARCHAR"
        elif value is None:
            assert row["value_text"] is None and row["value_type"] == "NULL"


def test_typed_views_follow_the_taxonomy(warehouse: tuple[LoaderSettings, Any]) -> None:
    settings, events = warehouse
    types = _columns(settings, "amplitude_events", "page_viewed")
    assert types["cart_value"] == "DOUBLE" and types["is_first"] == "BOOLEAN"
    assert types["screen"] == "VARCHAR" and types["item_skus"] == "JSON"
    assert types["price_usd"] == "DOUBLE"  # "price.usd", made SQL-safe
    assert types["app_build"] == "VARCHAR"  # a shared property: every event type has it
    rows = {r["uuid"]: r for r in _rows(settings, "SELECT * FROM amplitude_events.page_viewed")}
    page_views = [e for e in events if e["event_type"] == "Page Viewed"]
    assert rows.keys() == {e["uuid"] for e in page_views}
    for e in page_views:
        props, row = e["event_properties"] or {}, rows[e["uuid"]]
        assert row["cart_value"] == props.get("cart_value")
        assert row["is_first"] == props.get("is_first")
        assert row["screen"] == props.get("screen")
        assert row["price_usd"] == props.get("price.usd")
        skus = props.get("item_skus")
        assert (json.loads(row["item_skus"]) if row["item_skus"] else None) == skus
    names = {
        r["table_name"]
        for r in _rows(
            settings,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'amplitude_events'",
        )
    }
    assert {"anadir_al_carrito", "quote_it_back", "experiment_exposure", "sign_up"} <= names


def _fivetran_key(e: dict[str, Any]) -> tuple[Any, ...]:
    user = e["user_id"] or (None if e["amplitude_id"] is None else str(e["amplitude_id"]))
    return (e["event_id"], e["device_id"], e["client_event_time"], user)


def test_the_fivetran_event_table_has_one_row_per_package_key(
    warehouse: tuple[LoaderSettings, Any],
) -> None:
    settings, events = warehouse
    rows = _rows(settings, "SELECT * FROM amplitude_fivetran.event")
    keys = [
        (r["id"], r["device_id"], r["client_event_time"], r["user_id"] or str(r["amplitude_id"]))
        for r in rows
    ]
    assert len(keys) == len(set(keys)) == len({_fivetran_key(e) for e in events})
    assert len(rows) < len(events)  # the SDK sent some events twice, under two uuids
    ids = {
        r["name"]: r["id"]
        for r in _rows(settings, "SELECT name, id FROM amplitude.event_types_current")
    }
    by_uuid = {e["uuid"]: e for e in events}
    for r in rows:
        source = by_uuid[r["uuid"]]
        assert r["event_type_id"] == ids[source["event_type"]]
        assert r["_insert_id"] == source["insert_id"] and r["ad_id"] == source["adid"]
        assert r["id"] == source["event_id"] and r["project_name"] == str(source["project_id"])
        assert json.loads(r["event_properties"]) == source["event_properties"]
        assert r["groups"] is not None and json.loads(r["groups"]) == source["groups"]
        assert r["user_id"] == (source["user_id"] or None)


#: The columns fivetran/dbt_amplitude reads, with the DuckDB types of Fivetran's schema.
FIVETRAN_EVENT = {
    "id": "BIGINT",
    "device_id": "VARCHAR",
    "server_upload_time": "TIMESTAMP",
    "event_type_id": "BIGINT",
    "_insert_id": "VARCHAR",
    "ad_id": "VARCHAR",
    "amplitude_id": "BIGINT",
    "app": "VARCHAR",
    **dict.fromkeys(["city", "country", "region", "dma"], "VARCHAR"),
    **dict.fromkeys(
        [
            "client_event_time",
            "client_upload_time",
            "event_time",
            "processed_time",
            "server_received_time",
            "user_creation_time",
        ],
        "TIMESTAMP",
    ),
    **dict.fromkeys(
        ["data", "event_properties", "group_properties", "user_properties", "groups"], "VARCHAR"
    ),
    **{
        f"device_{part}": "VARCHAR"
        for part in ("brand", "carrier", "family", "manufacturer", "model", "type")
    },
    **dict.fromkeys(
        [
            "event_type",
            "idfa",
            "ip_address",
            "language",
            "library",
            "os_name",
            "os_version",
            "platform",
            "start_version",
            "version_name",
            "user_id",
            "uuid",
        ],
        "VARCHAR",
    ),
    "is_attribution_event": "BOOLEAN",
    "paying": "BOOLEAN",
    "location_lat": "VARCHAR",
    "location_lng": "VARCHAR",
    "project_name": "VARCHAR",
    "schema": "INTEGER",
    "session_id": "BIGINT",
    "_fivetran_synced": "TIMESTAMP",
}
FIVETRAN_EVENT_TYPE = {
    "id": "BIGINT",
    "project_name": "VARCHAR",
    "_fivetran_deleted": "BOOLEAN",
    "_fivetran_synced": "TIMESTAMP",
    **dict.fromkeys(
        [
            "autohidden",
            "deleted",
            "flow_hidden",
            "hidden",
            "in_waitroom",
            "non_active",
            "timeline_hidden",
        ],
        "BOOLEAN",
    ),
    **dict.fromkeys(["display", "name", "value", "waitroom_approved"], "VARCHAR"),
    **dict.fromkeys(["totals", "totals_delta"], "BIGINT"),
}


@pytest.mark.parametrize(
    ("table", "contract"), [("event", FIVETRAN_EVENT), ("event_type", FIVETRAN_EVENT_TYPE)]
)
def test_the_fivetran_schema_has_the_contracts_columns_and_types(
    warehouse: tuple[LoaderSettings, Any], table: str, contract: dict[str, str]
) -> None:
    settings, _ = warehouse
    columns = _columns(settings, "amplitude_fivetran", table)
    assert {name: columns.get(name) for name in contract} == contract
    # Fivetran's two extra event columns, which the package does not read, and nothing else.
    assert set(columns) - set(contract) == (
        {"amplitude_event_type", "sample_rate"} if table == "event" else set()
    )


def test_event_types_fill_the_fivetran_event_type_table(
    warehouse: tuple[LoaderSettings, Any],
) -> None:
    settings, _ = warehouse
    rows = _rows(settings, "SELECT * FROM amplitude_fivetran.event_type ORDER BY id")
    from loader.emulator.metadata import events_list

    listed = events_list()
    assert [(r["id"], r["value"], r["totals"]) for r in rows] == [
        (e["id"], e["value"], e["totals"]) for e in listed
    ]
    assert all(r["flow_hidden"] is False and r["_fivetran_deleted"] is False for r in rows)
