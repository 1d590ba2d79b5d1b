"""The check that the newest version of each table holds no row of an erased user."""

from __future__ import annotations

from loader.amplitude.hour_manifests import SOURCE
from loader.amplitude.privacy.records import DELETIONS, ERASABLE, erased_ids
from loader.delta.tables import DeltaTables
from loader.lake import Lake
from loader.pinned import PinnedLake
from loader.privacy.digests import IdDigests
from loader.privacy.tables import erased_rows_left
from loader.snapshot.layout import TableLayout


def erased_rows_in_lake(lake: Lake) -> dict[str, int]:
    """Rows and rejected lines of erased users in the newest version of every table.

    Reads the id, time and text columns of every file of every erasable table of each project
    that has erased users: a scan of the lake's ids, not of its data.

    Args:
        lake: The lake.

    Returns:
        `<project>/<table>.<rows or rejects>` to rows left (only those with some).
    """
    pinned = PinnedLake.newest(lake, [SOURCE])
    tables = DeltaTables(lake)
    left: dict[str, int] = {}
    digests: IdDigests | None = None
    for deletions in pinned.tables_named(SOURCE, DELETIONS):
        if not deletions.files:
            continue
        project = deletions.project
        digests = digests or IdDigests.of_lake(lake)
        erased = erased_ids(pinned, lake, project, digests)
        for name, spec in ERASABLE.items():
            key = TableLayout(lake, SOURCE, project, name).key
            found = erased_rows_left(tables, key, spec, erased)
            if found:  # an hourly table's rejected lines are its `rejects`, as the erasure says
                part = (
                    f"{name[: -len('_rejects')]}.rejects"
                    if name.endswith("_rejects")
                    else f"{name}.rows"
                )
                left[f"{project}/{part}"] = found
    return left
