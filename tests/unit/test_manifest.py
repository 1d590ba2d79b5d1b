"""Manifests: what a newer loader wrote is kept, and an hour's time reads back exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from loader.manifest import HourManifest


def _manifest() -> HourManifest:
    return HourManifest(
        "7", "things", "2024-05-01T13", 3, 4, 1, 900, 300, 120, {"id": "r1"}, "abc", 2, "1.0"
    )


def test_a_manifest_reads_back_equal_and_its_hour_is_the_utc_hour() -> None:
    manifest = _manifest()
    again = HourManifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.hour_start == datetime(2024, 5, 1, 13, tzinfo=UTC)


def test_keys_a_newer_loader_wrote_are_kept_in_extra() -> None:
    raw = json.loads(_manifest().to_json())
    raw["written_by_a_later_version"] = {"x": 1}
    manifest = HourManifest.from_json(json.dumps(raw).encode())
    assert manifest.extra["written_by_a_later_version"] == {"x": 1}
    assert json.loads(manifest.to_json())["extra"]["written_by_a_later_version"] == {"x": 1}
