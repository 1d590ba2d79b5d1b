"""The records of the lake's own commit log (`_commits/`), which versions before Delta wrote.

Read only, to convert such a lake (`loader.legacy.convert`): a record is the whole lake at one
commit, the live files of every table, named by their path below the lake's root. `to_json`
stays as the format's definition (the tests write such lakes with it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from loader.lake import Lake


@dataclass(frozen=True)
class HourEntry:
    """One loaded hour of an hourly table.

    Attributes:
        manifest: The hour's manifest (JSON).
        data: Its Parquet file, or None for an hour without rows.
        rejects: Its rejected lines (gzipped JSON lines), or None.
        rows: Rows in `data`.
        schema_version: Version of the column set `data` was written with.
        content_sha256: Digest of the hour's content, to tell whether a re-export changed it.
        rejected: Lines rejected (the manifest's `rejects`), so that the status of every hour
            needs no manifest read (on object storage, one request each). 0 in records written
            before it was kept: read the manifest of an hour that has a rejects file.
    """

    manifest: str
    data: str | None = None
    rejects: str | None = None
    rows: int = 0
    schema_version: int = 0
    content_sha256: str = ""
    rejected: int = 0

    def files(self) -> Iterator[str]:
        """The files this hour holds."""
        yield self.manifest
        if self.data:
            yield self.data
        if self.rejects:
            yield self.rejects


@dataclass(frozen=True)
class TableState:
    """The live files of one table of one project.

    Hourly tables (events) use `hours`, `days` and `index`; snapshot tables (cohorts, the
    tracking plan) use `files`, which keeps every snapshot ever taken (their history).

    Attributes:
        hours: Upload hour (`YYYY-MM-DDTHH`) to what was loaded for it.
        days: Upload day (`YYYY-MM-DD`) to its compacted file ("" for a day without rows).
            Readers read a compacted day from this file, and every other day from its hours.
        index: The duplicate index (later copies of keys exported in two hours), if any.
        index_rows: How many later copies `index` lists.
        files: The files of a snapshot table, oldest first.
        quarantine: Upload hour to the rejected lines of its last failed load (too many
            rejects): kept where readers look for rejects, until the hour loads.
    """

    hours: Mapping[str, HourEntry] = field(default_factory=dict)
    days: Mapping[str, str] = field(default_factory=dict)
    index: str | None = None
    index_rows: int = 0
    files: tuple[str, ...] = ()
    quarantine: Mapping[str, str] = field(default_factory=dict)

    def live_files(self) -> Iterator[str]:
        """Every file this state references."""
        for entry in self.hours.values():
            yield from entry.files()
        yield from self.quarantine.values()
        yield from (path for path in self.days.values() if path)
        if self.index:
            yield self.index
        yield from self.files

    def hour_files(self, day: date | None = None) -> list[str]:
        """The data files of every hour (of one upload day), in hour order."""
        prefix = f"{day:%Y-%m-%d}T" if day else ""
        return [
            entry.data
            for key, entry in sorted(self.hours.items())
            if entry.data and key.startswith(prefix)
        ]

    def read_files(self, hours_of: Collection[str] = ()) -> list[str]:
        """The data files a reader reads: compacted days' files, the other days' hour files.

        Args:
            hours_of: Days (`YYYY-MM-DD`) to read from their hour files even if compacted.
        """
        out: list[str] = []
        days = sorted({key[:10] for key in self.hours} | set(self.days))
        for day in days:
            if day in self.days and day not in hours_of:
                if self.days[day]:
                    out.append(self.days[day])
            else:
                out += self.hour_files(date.fromisoformat(day))
        return out

    def schema_versions(self) -> set[int]:
        """The schema versions of the hours that hold rows."""
        return {e.schema_version for e in self.hours.values() if e.data}


@dataclass(frozen=True)
class Snapshot:
    """The lake at one commit.

    Attributes:
        version: The commit's number (0: nothing committed yet).
        committed_at: When it was committed (ISO, UTC).
        operation: What the commit did, for people.
        tables: Table key (`<source>/project=<id>/<table>`) to its state.
        id: A name no other commit has ("" before the first commit, and in older records).
        parent: The `id` of the snapshot this one was made from, to tell a record that
            landed in the history from one that landed beside it (see `CommitLog`).
        erasure: Whether the commit erased users: the files it superseded hold their data,
            and the vacuum keeps them no longer than the erasure retention.
    """

    version: int = 0
    committed_at: str = ""
    operation: str = ""
    tables: Mapping[str, TableState] = field(default_factory=dict)
    id: str = ""
    parent: str = ""
    erasure: bool = False

    def table(self, key: str) -> TableState:
        """The state of one table (empty if the snapshot has none)."""
        return self.tables.get(key, TableState())

    def tables_named(self, source: str, table: str) -> list[tuple[str, TableState]]:
        """Every project's state of one table: (project id, state), by project."""
        out = []
        for key, state in sorted(self.tables.items()):
            src, project, name = key.split("/")
            if src == source and name == table:
                out.append((project.split("=", 1)[1], state))
        return out

    def live_files(self) -> set[str]:
        """Every file this snapshot references."""
        return {path for state in self.tables.values() for path in state.live_files()}

    def changed(
        self,
        version: int,
        operation: str,
        tables: Mapping[str, TableState],
        *,
        erasure: bool = False,
    ) -> Snapshot:
        """Return the snapshot after a commit that replaced some tables' states."""
        return Snapshot(
            version=version,
            committed_at=datetime.now(UTC).isoformat(),
            operation=operation,
            tables={**self.tables, **tables},
            id=uuid.uuid4().hex,
            parent=self.id,
            erasure=erasure,
        )

    @property
    def committed(self) -> datetime | None:
        """`committed_at` as a datetime."""
        return datetime.fromisoformat(self.committed_at) if self.committed_at else None

    def to_json(self) -> bytes:
        """Serialise for the commit log (hours compactly: one short object each)."""
        tables: dict[str, Any] = {}
        for key, state in sorted(self.tables.items()):
            raw = asdict(state)
            raw["hours"] = {
                hour: {k: v for k, v in asdict(entry).items() if v not in (None, "", 0)}
                for hour, entry in sorted(state.hours.items())
            }
            raw["days"] = dict(sorted(state.days.items()))
            raw["quarantine"] = dict(sorted(state.quarantine.items()))
            raw["files"] = list(state.files)
            tables[key] = {k: v for k, v in raw.items() if v not in (None, 0, {}, [])}
        record: dict[str, Any] = {
            "version": self.version,
            "committed_at": self.committed_at,
            "operation": self.operation,
            "id": self.id,
            "parent": self.parent,
            "tables": tables,
        }
        if self.erasure:
            record["erasure"] = True
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        """Read a record written by `to_json`."""
        raw = json.loads(data)
        tables = {
            key: TableState(
                hours={h: HourEntry(**e) for h, e in t.get("hours", {}).items()},
                days=t.get("days", {}),
                index=t.get("index"),
                index_rows=t.get("index_rows", 0),
                files=tuple(t.get("files", ())),
                quarantine=t.get("quarantine", {}),
            )
            for key, t in raw["tables"].items()
        }
        return cls(
            raw["version"],
            raw["committed_at"],
            raw["operation"],
            tables,
            id=raw.get("id", ""),
            parent=raw.get("parent", ""),
            erasure=bool(raw.get("erasure", False)),
        )


#: The folder of the commit records, below the lake's root.
COMMITS = "_commits"


def newest_record(lake: Lake) -> Snapshot | None:
    """The newest commit record of a lake written before Delta (None if it has none)."""
    folder = lake.join(COMMITS)
    versions = sorted(
        int(n[:-5]) for n in lake.names(folder) if n.endswith(".json") and n[:-5].isdigit()
    )
    if not versions:
        return None
    return Snapshot.from_json(lake.read_bytes(f"{folder}/{versions[-1]:020d}.json"))
