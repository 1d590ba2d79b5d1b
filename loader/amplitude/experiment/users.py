"""The users whose current variants a snapshot records: members of named cohorts, or a list.

Cohort members come from the lake (the latest download of each matching cohort), so the
assignment snapshot costs no cohort download. Users with a deletion record are never evaluated:
the loader does not send an erased user's ids to Amplitude, nor write them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from loader.amplitude.cohorts import cohort_matches
from loader.amplitude.hour_manifests import SOURCE
from loader.amplitude.privacy.records import deletions_key, erased_ids
from loader.catalog import lake_session, quote_list
from loader.lake import Lake
from loader.pinned import PinnedLake
from loader.privacy.digests import IdDigests
from loader.snapshot.layout import project_folder


@dataclass(frozen=True, order=True)
class ExperimentUser:
    """One user to evaluate: a user id, a device id, or both.

    Attributes:
        user_id: The user id, or None.
        device_id: The device id, or None.
        amplitude_id: The Amplitude id, when the user came from a cohort.
    """

    user_id: str | None
    device_id: str | None = None
    amplitude_id: int | None = None


@dataclass
class Selection:
    """The users chosen for one snapshot, and what was left out.

    Attributes:
        users: The users to evaluate, in a stable order, at most the cap.
        cohorts: Matching cohorts, id to name.
        unmatched: Cohort patterns that matched no cohort of the latest cohort snapshot.
        over_cap: Users left out by the cap.
        erased: Users left out because they were erased.
        without_ids: Cohort members without a user id (evaluation needs a user or device id).
    """

    users: list[ExperimentUser] = field(default_factory=list)
    cohorts: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    over_cap: int = 0
    erased: int = 0
    without_ids: int = 0


def parse_users(lines: Iterable[str]) -> list[ExperimentUser]:
    """Read a users list: one `user_id` or `user_id,device_id` per line (`,device` alone too).

    Blank lines and lines starting with `#` are skipped, as is a `user_id,device_id` header.

    Args:
        lines: The list's lines.

    Returns:
        The users.
    """
    users = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#") or text.replace(" ", "") == "user_id,device_id":
            continue
        user, _, device = text.partition(",")
        if user.strip() or device.strip():
            users.append(ExperimentUser(user.strip() or None, device.strip() or None))
    return users


def cohort_users(
    lake: Lake, snapshot: PinnedLake, project: str, patterns: Iterable[str], selection: Selection
) -> list[ExperimentUser]:
    """The members of every cohort whose name or id matches a pattern, from their latest download.

    Args:
        lake: The lake.
        snapshot: The snapshot to read.
        project: The project id.
        patterns: Glob patterns of cohort names or ids.
        selection: Where matching cohorts and unmatched patterns are recorded.

    Returns:
        The members with a user id (the others are counted in `selection.without_ids`).
    """
    patterns = list(patterns)
    if not patterns:
        return []
    root = f"{SOURCE}/{project_folder(project)}"
    cohort_files = snapshot.table(f"{root}/cohorts").files
    member_files = snapshot.table(f"{root}/cohort_members").files
    with lake_session(lake.duckdb_filesystem) as con:
        current = (
            con.execute(
                "SELECT cohort_id, name FROM read_parquet("
                f"{quote_list([lake.url(lake.join(p)) for p in cohort_files])})"
                " QUALIFY snapshot_at = max(snapshot_at) OVER ()"
            ).fetchall()
            if cohort_files
            else []
        )
        for cohort_id, name in current:
            if cohort_matches(patterns, cohort_id, str(name)):
                selection.cohorts[cohort_id] = str(name)
        selection.unmatched = [
            p
            for p in patterns
            if not any(cohort_matches([p], c, n) for c, n in selection.cohorts.items())
        ]
        if not selection.cohorts or not member_files:
            return []
        rows = con.execute(
            "SELECT DISTINCT user_id, amplitude_id FROM read_parquet("
            f"{quote_list([lake.url(lake.join(p)) for p in member_files])})"
            " WHERE cohort_id IN (SELECT unnest($ids))"
            " QUALIFY snapshot_at = max(snapshot_at) OVER (PARTITION BY cohort_id)",
            {"ids": sorted(selection.cohorts)},
        ).fetchall()
    users = []
    for user_id, amplitude_id in rows:
        if user_id:
            users.append(ExperimentUser(str(user_id), None, amplitude_id))
        else:
            selection.without_ids += 1
    return users


def select_users(
    lake: Lake,
    snapshot: PinnedLake,
    project: str,
    *,
    cohorts: Iterable[str],
    listed: Iterable[ExperimentUser],
    cap: int,
) -> Selection:
    """Choose the users of one snapshot: cohort members and listed users, erased ones out, capped.

    The same user from two sources counts once (a cohort member keeps its Amplitude id). Over
    the cap, the first users in (user id, device id) order are kept, so that successive
    snapshots follow the same users.

    Args:
        lake: The lake.
        snapshot: The snapshot to read cohorts and deletions from.
        project: The project id.
        cohorts: Cohort name or id patterns.
        listed: Users given by list.
        cap: The most users to evaluate.

    Returns:
        The selection.
    """
    selection = Selection()
    found: dict[tuple[str | None, str | None], ExperimentUser] = {}
    for user in [*cohort_users(lake, snapshot, project, cohorts, selection), *listed]:
        known = found.get((user.user_id, user.device_id))
        if known is None or (known.amplitude_id is None and user.amplitude_id is not None):
            found[(user.user_id, user.device_id)] = user
    users = list(found.values())
    if snapshot.table(deletions_key(project)).files:
        erased = erased_ids(snapshot, lake, project, IdDigests.of_lake(lake))
        kept = [
            u
            for u in users
            if erased.cutoff("user_id", u.user_id) is None
            and (u.amplitude_id is None or erased.cutoff("amplitude_id", u.amplitude_id) is None)
        ]
        selection.erased = len(users) - len(kept)
        users = kept
    users.sort(key=lambda u: (u.user_id or "", u.device_id or ""))
    selection.users = users[:cap]
    selection.over_cap = len(users) - len(selection.users)
    return selection
