"""The vacuum: deletes the files that no snapshot a reader may still hold references.

A file leaves the lake in two ways:

- **superseded**: a snapshot listed it and a later commit dropped it (an hour reloaded, a new
  duplicate index, a day compacted again). An analyst's session that opened the older snapshot
  may still read it, so it is kept until every snapshot that lists it was superseded more than
  the retention ago;
- **never committed**: a crash, or a writer that lost a commit race, left it before any record
  listed it. It is deleted once it is older than the retention. On a local lake writers write
  their files and commit them under the commit lock, which the vacuum holds too. Object storage
  has no lock: a writer on another machine may be about to commit files it wrote minutes ago,
  so there they are kept at least `UNCOMMITTED_MIN_AGE`, whatever the retention.

A commit that erased users (`Snapshot.erasure`) supersedes files that hold their data: every
snapshot before it expires once it is older than the erasure retention, if that is shorter
than the retention, so that erased data never outlives it (a reader that kept such an old
snapshot open that long loses it).

Commit records go too, once their snapshot was superseded more than the retention ago; the
newest always stays. Each vacuum that removes anything writes a record of what it removed to
`_vacuum/`. The loader's own notes (`_state/`), scratch space and the commit lock are never
touched.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from loader.lake import FileInfo, Lake
from loader.snapshot.layout import STATE
from loader.snapshot.log import COMMITS, CommitLog, record_name
from loader.snapshot.state import Snapshot
from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)

#: Where each vacuum's record goes, below the lake's root.
VACUUM_LOG = "_vacuum"
#: How long a never-committed file stays on a lake without a commit lock, at the least: far
#: longer than a commit takes (writing a day's files, then its record: seconds to minutes).
UNCOMMITTED_MIN_AGE = timedelta(hours=6)
#: Top-level folders of the lake that hold no table files.
_NOT_TABLES = {COMMITS, VACUUM_LOG, "_scratch"}


@dataclass
class VacuumReport:
    """What a vacuum did.

    Attributes:
        at: When it ran (ISO, UTC).
        retention_hours: The retention it applied.
        kept_snapshots: Versions whose files it kept (the newest, and those superseded within
            the retention).
        superseded: Files that a later snapshot had dropped, deleted.
        uncommitted: Files that no snapshot ever listed, deleted.
        records: Commit records deleted.
        bytes_freed: Bytes of the files deleted.
    """

    at: str
    retention_hours: float
    kept_snapshots: list[int] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    uncommitted: list[str] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    bytes_freed: int = 0

    def kept_summary(self, runs: int = 3) -> str:
        """The kept snapshots in a few words: `64 snapshots (1..64)`, `3 snapshots (5, 9..10)`.

        Args:
            runs: The most runs of consecutive versions named; the rest are counted.

        Returns:
            The summary.
        """
        spans: list[list[int]] = []
        for version in sorted(self.kept_snapshots):
            if spans and version == spans[-1][1] + 1:
                spans[-1][1] = version
            else:
                spans.append([version, version])
        named = [f"{a}" if a == b else f"{a}..{b}" for a, b in spans[:runs]]
        if len(spans) > runs:
            named.append(f"+{len(spans) - runs} more runs")
        count = len(self.kept_snapshots)
        return f"{count:,} snapshot{'' if count == 1 else 's'} ({', '.join(named) or 'none'})"

    @property
    def removed(self) -> int:
        """Files deleted, commit records included."""
        return len(self.superseded) + len(self.uncommitted) + len(self.records)


def vacuum(
    lake: Lake,
    retention: timedelta,
    now: datetime | None = None,
    erasure_retention: timedelta | None = None,
) -> VacuumReport:
    """Delete what no snapshot younger than the retention references.

    Args:
        lake: The lake.
        retention: How long a superseded snapshot stays readable.
        now: The current moment (tests pin it).
        erasure_retention: How long, at most, a snapshot that an erasure superseded stays
            readable (None: the retention).

    Returns:
        What was removed.
    """
    now = now or datetime.now(UTC)
    cutoff = now - retention
    # A file no commit listed may hold what a later erasure removed (a load that dropped an
    # erased user's rows wrote the hour before): it never outlives the erasure retention.
    uncommitted_cutoff = now - min(retention, erasure_retention or retention)
    if not lake.local:
        uncommitted_cutoff = min(uncommitted_cutoff, now - UNCOMMITTED_MIN_AGE)
    commits = CommitLog(lake)
    report = VacuumReport(now.isoformat(), retention.total_seconds() / 3600)
    with commits.locked():
        snapshots = [_read(commits, v) for v in commits.versions()]
        history = [s for s in snapshots if s is not None]
        if not history:
            return report
        kept: list[Snapshot] = [history[-1]]
        expired: list[Snapshot] = []
        erased_before = _last_erasure(history, now - (erasure_retention or retention))
        for older, newer in itertools.pairwise(history):
            superseded_at = newer.committed
            if older.version < erased_before or (
                superseded_at is not None and superseded_at <= cutoff
            ):
                expired.append(older)
            else:
                kept.append(older)
        report.kept_snapshots = sorted(s.version for s in kept)
        live = set().union(*(s.live_files() for s in kept))
        listed = live.union(*(s.live_files() for s in expired))
        for info in _table_files(lake):
            relative = info.path[len(lake.root) + 1 :]
            if relative in live:
                continue
            if relative in listed:
                report.superseded.append(relative)
            elif info.modified is None or info.modified > uncommitted_cutoff:
                continue  # perhaps a commit in progress on another machine
            else:
                report.uncommitted.append(relative)
            crash_point("vacuum.before_delete")
            lake.delete(info.path)
            report.bytes_freed += info.size
        for snapshot in expired:
            lake.delete(f"{commits.folder}/{record_name(snapshot.version)}")
            report.records.append(snapshot.version)
        if report.removed:
            stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
            record = json.dumps(asdict(report), indent=1).encode()
            lake.write_bytes(lake.join(VACUUM_LOG, f"{stamp}.json"), record)
    log.info(
        "vacuum: %d superseded and %d uncommitted file(s), %d commit record(s), %.1f MB",
        len(report.superseded),
        len(report.uncommitted),
        len(report.records),
        report.bytes_freed / 1e6,
    )
    return report


def _last_erasure(history: list[Snapshot], cutoff: datetime) -> int:
    """The version of the newest erasure committed before a moment (0 if none)."""
    erasures = [s for s in history if s.erasure and s.committed is not None]
    return max((s.version for s in erasures if s.committed and s.committed <= cutoff), default=0)


def _read(commits: CommitLog, version: int) -> Snapshot | None:
    try:
        return commits.read(version)
    except FileNotFoundError:
        return None


def _table_files(lake: Lake) -> list[FileInfo]:
    """Every file below the sources' project folders, the loader's own notes aside."""
    out = []
    for source in lake.names(lake.root):
        if source in _NOT_TABLES or source.startswith("."):
            continue
        for info in lake.files(lake.join(source)):
            relative = info.path[len(lake.root) + 1 :]
            parts = relative.split("/")
            if len(parts) > 2 and parts[1].startswith("project=") and parts[2] != STATE:
                out.append(info)
    return out
