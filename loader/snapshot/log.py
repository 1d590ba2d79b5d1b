"""The commit log: one record per snapshot of the lake, created once, never changed.

A commit is the one atomic step that makes new files part of the lake: the record of snapshot
N+1 is created under `_commits/` only if no record of that number exists yet. Everything a
commit adds (data, index, day files) is written before, under new names, so a crash before the
record leaves snapshot N whole (the files written for nothing are removed by the vacuum), and a
crash after it leaves N+1 whole. This is how Delta Lake and Iceberg's file catalogs commit.

On a local lake the create is a hard link of a finished file, which fails if the target exists,
and commits also hold a file lock so that two writers do not each do the work of a commit only
for one to lose the race. On object storage the same step is a conditional create
(`If-None-Match: *`); a writer that loses re-reads the newest snapshot and applies its change
again, which is why a change is a function of the snapshot it applies to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping

import tenacity

from loader.errors import LoaderError
from loader.lake import Lake
from loader.snapshot.state import Snapshot, TableState
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: The folder of the commit records, below the lake's root.
COMMITS = "_commits"
_LOCK = "commit.lock"
#: How often a writer applies its change before it gives up losing the race for a record.
ATTEMPTS = 20

#: A change maps the snapshot it applies to to the new states of the tables it changes.
Change = Callable[[Snapshot], Mapping[str, TableState]]


def record_name(version: int) -> str:
    """The file name of a snapshot's record."""
    return f"{version:020d}.json"


class CommitLog:
    """The snapshots of one lake.

    Args:
        lake: The lake.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.folder = lake.join(COMMITS)

    def versions(self) -> list[int]:
        """The versions whose records exist, oldest first."""
        names = self.lake.names(self.folder)
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def read(self, version: int) -> Snapshot:
        """Read one snapshot.

        Args:
            version: Its number.

        Returns:
            The snapshot.
        """
        return Snapshot.from_json(self.lake.read_bytes(f"{self.folder}/{record_name(version)}"))

    def latest(self) -> Snapshot:
        """The newest committed snapshot (an empty one, version 0, before the first commit)."""
        for _ in range(3):
            versions = self.versions()
            if not versions:
                return Snapshot()
            try:
                return self.read(versions[-1])
            except FileNotFoundError:  # a vacuum removed it between the listing and the read
                continue
        return self.read(self.versions()[-1])

    def _try_commit(self, operation: str, change: Change, erasure: bool) -> Snapshot | None:
        """Apply the change to the newest snapshot and create its record; None if beaten."""
        base = self.latest()
        new = base.changed(base.version + 1, operation, change(base), erasure=erasure)
        crash_point("commit.before_record")
        path = f"{self.folder}/{record_name(new.version)}"
        if not self.lake.create_exclusive(path, new.to_json()):
            log.info("snapshot %d was committed by another writer; retrying", new.version)
            return None
        crash_point("commit.after_record")
        if self._beside_the_history(new):
            self.lake.delete(path)
            log.warning(
                "snapshot %d was made from a snapshot older than the vacuum's retention and"
                " landed beside the history; applying the change again",
                new.version,
            )
            return None
        log.debug("committed snapshot %d: %s", new.version, operation)
        return new

    def _beside_the_history(self, new: Snapshot) -> bool:
        """Tell whether a record just created filled a gap the vacuum left, not the next number.

        The vacuum deletes the records of snapshots superseded more than the retention ago, so a
        writer that read the newest snapshot before then (a commit slower than the retention)
        finds the next number free, though later snapshots exist: its record would be ignored
        by every reader, and its change lost. A later record made from it is fine.
        """
        for version in (v for v in self.versions() if v > new.version):
            try:
                parent = self.read(version).parent
            except FileNotFoundError:
                continue
            return parent not in ("", new.id)  # "": a record of a version that kept no parent
        return False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lake's commit lock (re-entrant within a process).

        Yields:
            While it is held.
        """
        with self.lake.lock(f"{self.folder}/{_LOCK}"):
            yield

    def commit(self, operation: str, change: Change, *, erasure: bool = False) -> Snapshot:
        """Apply a change to the newest snapshot and record the result as the next one.

        Args:
            operation: What the commit does, for people (kept in the record).
            change: Computes the new states of the tables it changes from the newest snapshot;
                it may be called again on a newer snapshot if another writer committed first.
            erasure: The change erases users (the vacuum's erasure retention applies).

        Returns:
            The snapshot committed.

        Raises:
            LoaderError: If other writers kept committing first.
        """
        # A writer that lost waits a random, growing while before it tries again: without a
        # lock (object storage), writers that retried at once kept colliding, and one of four
        # gave up after 8 losses in a row.
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            wait=tenacity.wait_random_exponential(multiplier=0.05, max=2),
            retry=tenacity.retry_if_result(lambda committed: committed is None),
            retry_error_callback=lambda _: None,
        )
        with self.locked():
            committed: Snapshot | None = retrying(self._try_commit, operation, change, erasure)
        if committed is not None:
            return committed
        raise LoaderError(
            f"could not commit {operation!r}: other writers committed first {ATTEMPTS} times",
            remedy="run again; if it persists, fewer loads at once on this lake",
        )
