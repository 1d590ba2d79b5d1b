"""The view joining experiment events to flag definitions equals a plain Python join."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment.snapshot import ExperimentOptions
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import snapshot_project
from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW, START
from tests.experiment.conftest import change_flags, flags_now
from tests.truth import truth

#: Two flag snapshots inside the loaded days: events before the first use the first.
EARLY = datetime(2024, 3, 2, 0, tzinfo=UTC)
LATER = datetime(2024, 3, 3, 0, tzinfo=UTC)


def _definitions(served: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Each flag's definition in a snapshot: the first deployment's by name."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(served):
        for flag in served[name]:
            out.setdefault(flag["key"], flag)
    return out


def _expected(events: list[dict[str, Any]], snapshots: list[tuple[datetime, Any]]) -> set[Any]:
    rows = set()
    for e in events:
        props = e["event_properties"] or {}
        if e["event_type"] == "[Experiment] Exposure":
            reported = [("exposure", props.get("flag_key"), props.get("variant"))]
        elif e["event_type"] == "[Experiment] Assignment":
            reported = [
                ("assignment", k.removesuffix(".variant"), v)
                for k, v in props.items()
                if k.endswith(".variant")
            ]
        else:
            continue
        # The latest snapshot at or before the event; the first one for older events.
        at, flags = snapshots[0]
        for moment, defined in snapshots:
            if moment.replace(tzinfo=None) <= e["event_time"]:
                at, flags = moment, defined
        for kind, flag_key, variant in reported:
            flag = flags.get(flag_key)
            chosen = (flag or {}).get("variants", {}).get(variant)
            payload = (chosen or {}).get("payload")
            rows.add(
                (
                    e["uuid"],
                    kind,
                    flag_key,
                    variant,
                    at.replace(tzinfo=None) if flag else None,
                    flag["metadata"].get("flagVersion") if flag else None,
                    chosen is not None,
                    (chosen or {}).get("value"),
                    None if payload is None else json.dumps(payload, sort_keys=True),
                )
            )
    return rows


def test_exposures_carry_the_variant_of_the_definition_in_force(
    server: EmulatorServer,
    synthetic: SyntheticProject,
    config: ProjectConfig,
    settings: LoaderSettings,
) -> None:
    sync_projects([config], settings, now=NOW)
    flags_only = ExperimentOptions()
    early = _definitions(flags_now(server, synthetic))
    snapshot_project(config, settings, ("experiment",), experiment_options=flags_only, now=EARLY)
    change_flags(server, synthetic)  # dark-mode gains `legacy`, which events report
    later = _definitions(flags_now(server, synthetic))
    snapshot_project(config, settings, ("experiment",), experiment_options=flags_only, now=LATER)
    refresh_catalog(settings)

    expected = _expected(
        list(truth(synthetic, START, LAST).values()), [(EARLY, early), (LATER, later)]
    )
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        got = con.execute(
            "SELECT uuid::VARCHAR, kind, flag_key, variant, definition_at, flag_version,"
            " variant_known, variant_value, variant_payload"
            " FROM amplitude.experiment_exposure_variants"
        ).fetchall()
    normalised = {
        (*row[:8], None if row[8] is None else json.dumps(json.loads(row[8]), sort_keys=True))
        for row in got
    }
    assert len(got) == len(normalised) == len(expected) > 100
    assert normalised == expected
    # Both definitions are in use, and so are known and unknown variants.
    assert {r[4] for r in got} == {EARLY.replace(tzinfo=None), LATER.replace(tzinfo=None)}
    legacy = {r[6] for r in got if r[2] == "dark-mode" and r[3] == "legacy"}
    assert legacy == {False, True}  # unknown before the change, known after it
    assert server.experiment.tracked == 0
