"""The check that the newest snapshot holds no row of an erased user, in any project."""

from __future__ import annotations

from loader.amplitude.hour_manifests import SOURCE
from loader.amplitude.privacy.records import DELETIONS, ERASABLE, erased_ids
from loader.lake import Lake
from loader.privacy.digests import IdDigests
from loader.privacy.tables import erased_rows_left
from loader.snapshot.log import CommitLog


def erased_rows_in_lake(lake: Lake) -> dict[str, int]:
    """Rows and rejected lines of erased users in the newest snapshot (empty when none).

    Reads the id and time columns of every file of every erasable table of each project that
    has erased users: a scan of the lake's ids, not of its data.

    Args:
        lake: The lake.

    Returns:
        `<project>/<table>.<part>` to rows left.
    """
    snapshot = CommitLog(lake).latest()
    left: dict[str, int] = {}
    digests: IdDigests | None = None
    for project, state in snapshot.tables_named(SOURCE, DELETIONS):
        if not state.files:
            continue
        digests = digests or IdDigests.of_lake(lake)
        erased = erased_ids(snapshot, lake, project, digests)
        for table, spec in ERASABLE.items():
            found = erased_rows_left(
                lake, spec, snapshot.table(f"{SOURCE}/project={project}/{table}"), erased
            )
            left.update({f"{project}/{table}.{part}": n for part, n in found.items()})
    return left
