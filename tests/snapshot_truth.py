"""What readers may answer: the totals of each version of the events table, from the ground truth.

Each version of the events table (a Delta table) holds some hours, each loaded from the content
the emulator served during one sync. The version's hours and the load each came from are read
from the version's own rows (`upload_hour`, `loaded_at`: which hours, from which load); what
those hours hold is the emulator's ground truth for the content of that load, never the rows.
"""

from __future__ import annotations

from datetime import datetime

from deltalake import DeltaTable

from loader.delta.tables import DeltaTables
from loader.emulator import SyntheticProject
from loader.lake import Lake

KEY = "amplitude/project_100001/events"


class SnapshotTruth:
    """The totals of every version of the events table committed while it watched."""

    def __init__(self, lake_root: str) -> None:
        self.tables = DeltaTables(Lake(lake_root))
        # version -> the (upload hour, loaded_at) its rows come from
        self.snapshots: dict[int, frozenset[tuple[datetime, datetime]]] = {}
        self.loads: dict[datetime, SyntheticProject] = {}  # loaded_at -> the content served

    def table(self, version: int | None = None) -> DeltaTable:
        """The events table (at a version)."""
        found = self.tables.open(KEY, version)
        assert found is not None, "the events table has no commit"
        return found

    def latest(self) -> int:
        """The newest version."""
        return self.table().version()

    def record(self, loaded_from: SyntheticProject) -> None:
        """Note the versions committed since the last call, loaded from one content."""
        newest = self.tables.open(KEY)
        if newest is None:
            return
        for version in range(newest.version() + 1):
            if version not in self.snapshots:
                for _, loaded_at in self._pairs(version):
                    self.loads.setdefault(loaded_at, loaded_from)

    def _pairs(self, version: int) -> frozenset[tuple[datetime, datetime]]:
        """The (upload hour, loaded_at) of a version's rows (read once)."""
        if version not in self.snapshots:
            rows = self.table(version).to_pyarrow_table(columns=["upload_hour", "loaded_at"])
            pairs = zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True)
            self.snapshots[version] = frozenset(pairs)
        return self.snapshots[version]

    def totals(self, version: int) -> tuple[int, int, int, int]:
        """(events rows, events uuids, events_all rows, events_all uuids) of a version."""
        uuids: set[str] = set()
        rows = 0
        for hour, loaded_at in self._pairs(version):  # a vacuum's versions too
            # A uuid repeated within an hour is rejected, its first copy kept (`events_all`
            # holds one row a uuid an hour).
            hour_uuids = {e["uuid"] for e in self.loads[loaded_at].events(hour)}
            rows += len(hour_uuids)
            uuids |= hour_uuids
        return len(uuids), len(uuids), rows, len(uuids)
