"""What readers may answer: the totals of each committed snapshot, from the ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

from loader.emulator import SyntheticProject
from loader.lake import Lake
from loader.snapshot.log import CommitLog
from loader.snapshot.state import Snapshot

KEY = "amplitude/project=100001/events"


class SnapshotTruth:
    """The totals of every snapshot committed, from the content each hour was loaded from."""

    def __init__(self, lake_root: str) -> None:
        self.log = CommitLog(Lake(lake_root))
        self.snapshots: dict[int, Snapshot] = {}
        self.content: dict[str, SyntheticProject] = {}  # manifest -> the content it was loaded from

    def record(self, loaded_from: SyntheticProject) -> None:
        """Note the snapshots committed since the last call, loaded from one content."""
        for version in self.log.versions():
            if version not in self.snapshots:
                snapshot = self.log.read(version)
                self.snapshots[version] = snapshot
                for entry in snapshot.table(KEY).hours.values():
                    self.content.setdefault(entry.manifest, loaded_from)

    def totals(self, snapshot: Snapshot) -> tuple[int, int, int, int]:
        """(events rows, events uuids, events_all rows, events_all uuids) of a snapshot."""
        uuids: set[str] = set()
        rows = 0
        for key, entry in snapshot.table(KEY).hours.items():
            hour = datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            # A uuid repeated within an hour is rejected, its first copy kept (`events_all`
            # holds one row a uuid an hour).
            hour_uuids = {e["uuid"] for e in self.content[entry.manifest].events(hour)}
            rows += len(hour_uuids)
            uuids |= hour_uuids
        return len(uuids), len(uuids), rows, len(uuids)
