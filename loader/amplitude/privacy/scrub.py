"""Loads never bring an erased user back: each commit of new hours drops their rows first.

The export still holds an erased user's events until Amplitude's job has run (and for ever,
for a user erased with `forget` alone): a reload, a re-check or a first load of an old hour
would bring them back. The publisher applies `EraseOnLoad` to the files of the hours it
commits, as of the snapshot it commits onto, so an erasure committed while a load was
downloading still applies to what that load publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from loader.amplitude.hour_manifests import SOURCE, TABLE
from loader.amplitude.privacy.records import ERASABLE, deletions_key, erased_ids
from loader.lake import Lake
from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds
from loader.privacy.tables import StateEraser
from loader.snapshot.layout import TableLayout
from loader.snapshot.state import Snapshot, TableState

log = logging.getLogger(__name__)


class EraseOnLoad:
    """The publisher's scrub for one project's events.

    Args:
        lake: The lake.
        project: The project id.
        scratch: A local folder for rewritten files.
    """

    def __init__(self, lake: Lake, project: str, scratch: Path) -> None:
        self.layout = TableLayout(lake, SOURCE, project, TABLE)
        self.scratch = scratch
        self._erased: dict[tuple[str, ...], ErasedIds] = {}
        self._erasers: dict[tuple[str, ...], StateEraser] = {}

    def __call__(self, base: Snapshot, state: TableState, new: Collection[str]) -> TableState:
        """Drop the erased users' rows from the new files of a table's state."""
        files = base.table(deletions_key(self.layout.project)).files
        if not files:  # nobody was ever erased: no key to create, nothing to read
            return state
        if files not in self._erased:
            lake = self.layout.lake
            self._erased[files] = erased_ids(
                base, lake, self.layout.project, IdDigests.of_lake(lake)
            )
            self._erasers[files] = StateEraser(
                self.layout, ERASABLE[TABLE], self._erased[files], self.scratch
            )
        scrubbed, done = self._erasers[files].erase(state, only=new)
        if done.files:
            log.info(
                "project %s: dropped %d row(s) and %d rejected line(s) of erased users from"
                " the hours being published",
                self.layout.project,
                done.rows["rows"],
                done.rows["rejects"],
            )
        return scrubbed
