"""The lake's Delta tables as the tests look into them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from loader.delta.tables import DeltaTables
from loader.lake import Lake
from loader.manifest import ManifestStore
from loader.snapshot.layout import TableLayout


def layout(
    lake_root: str | Path | Lake, table: str = "events", project: str = "100001"
) -> TableLayout:
    """Where a table of a project lives."""
    lake = lake_root if isinstance(lake_root, Lake) else Lake(lake_root)
    return TableLayout(lake, "amplitude", project, table)


def delta_table(
    lake_root: str | Path | Lake,
    table: str = "events",
    project: str = "100001",
    version: int | None = None,
) -> DeltaTable:
    """A table of a project at its newest version (or at one version)."""
    where = layout(lake_root, table, project)
    found = DeltaTables(where.lake).open(where.key, version)
    assert found is not None, f"{where.key} has no commit"
    return found


def loaded_hours(lake_root: str | Path | Lake, project: str = "100001") -> dict[str, Any]:
    """Hour key to its newest manifest."""
    return ManifestStore(layout(lake_root, "events", project)).manifests()


def each_commit_on_the_one_before(table: DeltaTable) -> bool:
    """Whether every commit was made from the version before it (none moved past another's)."""
    return all(
        entry.get("readVersion", entry["version"] - 1) == entry["version"] - 1
        for entry in table.history()
        if entry["version"] > 0
    )
