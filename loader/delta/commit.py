"""Committing to a Delta table: one transaction per change, made from the version it applies to.

A change is a function of the table's newest version (`Change`): it returns the files to add
and remove. delta-rs writes the commit with a conditional create of the next log record (a
hard link on a local disk, `If-None-Match` on S3), so two writers never both take one version.
The loader asks it never to move a commit past another writer's (`max_commit_retries=0`): a
change computed from version N is valid on N only (the earliest copy of a key, the files an
erasure rewrote), so a writer that lost reads the newest version and computes its change again.
That is serializable isolation, as the loader's own commit log had it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import tenacity
from deltalake import DeltaTable, Schema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, CommitProperties, RemoveAction

from loader.delta.tables import DeltaTables, TableSpec
from loader.errors import LoaderError
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: How often a writer computes its change again before it gives up losing to other writers.
ATTEMPTS = 20
#: The commit's own words, kept in the log's `commitInfo` (never a user's id: the log outlives
#: an erasure's vacuum).
OPERATION = "loaderOperation"
#: Marks a commit that erased users: the files it removed hold their rows, and the vacuum keeps
#: them no longer than the erasure retention.
ERASURE = "loaderErasure"


@dataclass
class Change:
    """What one commit does to a table.

    Attributes:
        adds: Files to add (written already, under new names).
        removes: Files of the version the change was made from, to remove.
    """

    adds: list[AddAction] = field(default_factory=list)
    removes: list[RemoveAction] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.adds or self.removes)


#: Computes a change from the table's newest version (None before the table's first commit).
MakeChange = Callable[[DeltaTable | None], Change]


def commit(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    operation: str,
    make: MakeChange,
    *,
    log_retention: timedelta,
    erasure: bool = False,
) -> int | None:
    """Apply a change to a table's newest version as one transaction.

    Args:
        tables: The lake's tables.
        key: The table's key.
        spec: What the table is.
        operation: What the commit does, for people.
        make: Computes the change; called again on a newer version if another writer was first.
        log_retention: How long the log keeps records (a new table's property).
        erasure: The change erases users.

    Returns:
        The version committed, or None if the change was empty.

    Raises:
        LoaderError: If other writers kept committing first.
    """
    metadata: dict[str, object] = {OPERATION: operation}
    if erasure:
        metadata[ERASURE] = True
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        # A writer that lost waits a random, growing while: writers that retried at once kept
        # colliding on object storage.
        wait=tenacity.wait_random_exponential(multiplier=0.05, max=2),
        retry=tenacity.retry_if_exception_type(_Lost),
        reraise=True,
    )
    try:
        return retrying(_attempt, tables, key, spec, make, metadata, log_retention)
    except _Lost:
        raise LoaderError(
            f"could not commit {operation!r} to {key}: other writers committed first"
            f" {ATTEMPTS} times",
            remedy="run again; if it persists, fewer loads at once on this lake",
        ) from None


class _Lost(Exception):
    """Another writer committed the version this attempt was made for."""


def _attempt(
    tables: DeltaTables,
    key: str,
    spec: TableSpec,
    make: MakeChange,
    metadata: dict[str, object],
    log_retention: timedelta,
) -> int | None:
    table = tables.open(key)
    if table is None:
        if not make(None):  # nothing to commit: no empty table is made for it
            return None
        create_table(tables, key, spec, log_retention)
        table = tables.open(key)
        assert table is not None
    change = make(table)
    if not change:
        return None
    read = table.version()
    properties = CommitProperties(custom_metadata=metadata, max_commit_retries=0)
    crash_point("delta.before_commit")
    try:
        actions: Sequence[AddAction | RemoveAction] = [*change.removes, *change.adds]
        table.create_write_transaction(
            list(actions),
            "append",
            spec.schema,
            partition_by=list(spec.partition_by),
            commit_properties=properties,
        )
    except CommitFailedError as exc:
        log.info("%s: another writer committed first (%s); computing the change again", key, exc)
        raise _Lost from exc
    crash_point("delta.after_commit")
    # No retry past another writer's commit: this one took the version after the one read.
    return read + 1


def create_table(tables: DeltaTables, key: str, spec: TableSpec, log_retention: timedelta) -> bool:
    """Create an empty table, once however many writers try at the same moment.

    delta-rs's create (and its create with files) writes version 0 without asking the store to
    refuse it if it exists: two writers creating one table both succeed, and the second's record
    replaces the first's, files and all (30 of 30 races did so here). So delta-rs writes the
    record in a folder of this writer's own, and the record is put in place with the store's
    conditional create (`Lake.create_exclusive`); the writer that lost finds the table made.

    Returns:
        False if another writer created the table first.
    """
    with tempfile.TemporaryDirectory() as folder:
        DeltaTable.create(
            folder,
            Schema.from_arrow(spec.schema),
            mode="error",
            partition_by=list(spec.partition_by) or None,
            configuration=spec.configuration(log_retention),
        )
        record = (Path(folder) / "_delta_log" / _FIRST).read_bytes()
    lake = tables.lake
    return lake.create_exclusive(lake.join(key, "_delta_log", _FIRST), record)


#: The record of a table's first version.
_FIRST = f"{0:020d}.json"
