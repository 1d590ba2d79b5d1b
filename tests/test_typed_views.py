"""Typed per-event-type views: naming, absence of a taxonomy, and regeneration when it changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.taxonomy import TABLES
from loader.amplitude.typed_views import sql_name, typed_event_views
from loader.emulator import EmulatorServer
from loader.lake import Lake
from loader.pinned import PinnedLake
from loader.snapshot_tables import SnapshotWriter
from tests.conftest import NOW


def _plan(settings: LoaderSettings, moment: datetime, rows: list[dict[str, object]]) -> None:
    lake = Lake(settings.lake_root)
    writer = SnapshotWriter(lake, "amplitude", "100001", moment, Path(settings.lake_root).parent)
    schema = TABLES["taxonomy_event_properties"]
    full = [{"is_array_type": False, "raw": "{}", **row} for row in rows]
    writer.write("taxonomy_event_properties", pa.Table.from_pylist(full, schema=schema), schema)


def _columns(settings: LoaderSettings, view: str) -> dict[str, str]:
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        return dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'amplitude_events' AND table_name = ?",
                [view],
            ).fetchall()
        )


def test_names_are_sql_safe_and_collision_free(settings: LoaderSettings) -> None:
    assert sql_name("Añadir al carrito 🛒", "event") == "anadir_al_carrito"
    assert sql_name("2FA Enabled", "event") == "event_2fa_enabled"
    assert sql_name("🎉", "property") == "property"
    _plan(
        settings,
        datetime(2024, 3, 4, tzinfo=UTC),
        [
            {"event_type": "Sign Up", "event_property": "plan", "type": "string"},
            {"event_type": "sign-up", "event_property": "Plan", "type": "number"},
            {"event_type": "sign-up", "event_property": "plan", "type": "boolean"},
            {"event_type": "sign-up", "event_property": "uuid", "type": "string"},
            {"event_type": "Order", "event_property": 'it\'s "quoted"/~', "type": "number"},
        ],
    )
    views = {v.name: v for v in typed_event_views(PinnedLake.newest(Lake(settings.lake_root)))}
    assert sorted(views) == ["order", "sign_up", "sign_up_2"]
    assert "'Sign Up'" in views["sign_up"].sql and "'sign-up'" in views["sign_up_2"].sql
    refresh_catalog(settings)  # the views are valid SQL, even for a reserved word and odd keys
    assert _columns(settings, "sign_up_2") == {
        "project_id": "BIGINT",
        "uuid": "VARCHAR",
        "event_time": "TIMESTAMP",
        "amplitude_id": "BIGINT",
        "user_id": "VARCHAR",
        "device_id": "VARCHAR",
        "session_id": "BIGINT",
        "upload_hour": "TIMESTAMP",
        "plan": "DOUBLE",  # "Plan", then "plan" numbered: keys sort upper case first
        "plan_2": "BOOLEAN",
        "uuid_2": "VARCHAR",  # a property never hides a base column
        "event_properties": "JSON",
    }
    assert _columns(settings, "order")["it_s_quoted"] == "DOUBLE"


def test_no_taxonomy_no_typed_views_and_a_new_plan_rebuilds_them(
    emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    sync_projects([project], settings, now=NOW)
    assert typed_event_views(PinnedLake.newest(Lake(settings.lake_root))) == []
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_views()").fetchall()}
    assert "amplitude_events" not in schemas and "amplitude_fivetran" in schemas

    _plan(
        settings,
        datetime(2024, 3, 4, tzinfo=UTC),
        [{"event_type": "Page Viewed", "event_property": "screen", "type": "string"}],
    )
    assert refresh_catalog(settings) is True
    assert "cart_value" not in _columns(settings, "page_viewed")
    _plan(
        settings,
        datetime(2024, 3, 5, tzinfo=UTC),
        [
            {"event_type": "Page Viewed", "event_property": "screen", "type": "string"},
            {"event_type": "Page Viewed", "event_property": "cart_value", "type": "number"},
        ],
    )
    assert refresh_catalog(settings) is True  # the latest snapshot counts
    assert _columns(settings, "page_viewed")["cart_value"] == "DOUBLE"
    assert refresh_catalog(settings) is False
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        matched = con.execute(
            "SELECT count(*) FILTER (WHERE cart_value IS NOT NULL), count(*)"
            " FROM amplitude_events.page_viewed"
        ).fetchone()
    assert matched is not None and 0 < matched[0] < matched[1]
