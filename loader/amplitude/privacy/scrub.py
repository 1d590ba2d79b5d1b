"""Loads never bring an erased user back: each commit of new hours drops their rows first.

The export still holds an erased user's events until Amplitude's job has run (and for ever,
for a user erased with `forget` alone): a reload, a re-check or a first load of an old hour
would bring them back. The publisher applies `EraseOnLoad` to the files it is about to commit,
at every attempt, with the erased ids as they are then: an erasure records its ids before it
erases (`erase`), so one recorded while a load was downloading still applies to what that load
publishes.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from deltalake.transaction import AddAction

from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.amplitude.privacy.records import ERASABLE, deletions_key, erased_ids
from loader.delta.tables import DeltaTables, TableSpec
from loader.lake import Lake
from loader.pinned import PinnedLake, pin
from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds
from loader.privacy.tables import scrub_new_files
from loader.snapshot.layout import TableLayout

log = logging.getLogger(__name__)


class EraseOnLoad:
    """The publisher's scrub for one project's events and their rejected lines.

    Args:
        lake: The lake.
        project: The project id.
        scratch: A local folder for rewritten files.
    """

    def __init__(self, lake: Lake, project: str, scratch: Path) -> None:
        self.layout = TableLayout(lake, SOURCE, project, TABLE)
        self.scratch = scratch
        self.tables = DeltaTables(lake)
        self._erased: dict[int, ErasedIds] = {}

    def erased(self) -> ErasedIds | None:
        """The erased ids as the deletions table's newest version has them (None if none)."""
        key = deletions_key(self.layout.project)
        deletions = pin(self.tables, key)
        if not deletions.files:  # nobody was ever erased: nothing to read
            return None
        if deletions.version not in self._erased:
            lake = self.layout.lake
            pinned = PinnedLake(lake, {key: deletions})
            self._erased[deletions.version] = erased_ids(
                pinned, lake, self.layout.project, IdDigests.of_lake(lake)
            )
        return self._erased[deletions.version]

    def __call__(
        self, key: str, spec: TableSpec, adds: list[AddAction]
    ) -> tuple[list[AddAction], Counter[Any]]:
        """Drop the erased users' rows from new files of the events or the rejects table."""
        erased = self.erased()
        table = ERASABLE.get(key.rsplit("/", 1)[-1])
        if not erased or table is None:
            return adds, Counter()
        kept, removed = scrub_new_files(self.tables, key, spec, table, erased, adds, self.scratch)
        if removed:
            log.info(
                "project %s: dropped %d row(s) of erased users from what is being published",
                self.layout.project,
                sum(removed.values()),
            )
        return kept, removed
