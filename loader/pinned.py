"""The lake as a reader sees it: one version of each Delta table, and that version's files.

A catalog is built from one `PinnedLake`: every view lists the files of its table's pinned
version, so a session keeps one consistent state of each table however many commits follow (the
vacuum keeps removed files for the retention). Each table is read at its own version, as every
Delta reader reads it: a table's transaction is the unit that readers see whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loader.delta.commit import OPERATION
from loader.delta.tables import DeltaTables, check_file_list_readable
from loader.lake import Lake
from loader.snapshot.layout import STATE, project_of


@dataclass(frozen=True)
class PinnedTable:
    """One version of one table.

    Attributes:
        key: The table's key (`<source>/project_<id>/<table>`).
        version: The version (-1: the table has no commit yet).
        files: Its data files at that version, relative to the lake, in the log's order.
        committed_at: When the version was committed (None for no version).
        operation: What its commit did, in the loader's words.
    """

    key: str
    version: int = -1
    files: tuple[str, ...] = ()
    committed_at: datetime | None = None
    operation: str = ""

    @property
    def project(self) -> str:
        """The project id the key names."""
        return project_of(self.key.split("/")[1]) or ""

    @property
    def name(self) -> str:
        """The table's name."""
        return self.key.rsplit("/", 1)[-1]


def pin(tables: DeltaTables, key: str) -> PinnedTable:
    """Pin the newest version of one table (an empty `PinnedTable` if it has none).

    Raises:
        LoaderError: If another engine gave the table a feature its files cannot be read
            without (see `check_file_list_readable`).
    """
    table = tables.open(key)
    if table is None:
        return PinnedTable(key)
    check_file_list_readable(table, key)
    # A vacuum commits too (its start and end) but changes no file of the version: the version
    # read is the last that did, so a vacuum leaves every catalog up to date.
    history = table.history(_LOOK_BACK)
    changed = [e for e in history if e.get("operation") not in _NO_CHANGE] or history[:1]
    last = changed[0] if changed else {}
    stamp = last.get("timestamp")
    return PinnedTable(
        key=key,
        version=int(last.get("version", table.version())),
        files=tuple(tables.relative(key, uri) for uri in table.file_uris()),
        committed_at=datetime.fromtimestamp(stamp / 1000, UTC) if stamp else None,
        operation=str(last.get(OPERATION) or last.get("operation") or ""),
    )


#: Commits that change no file of the table.
_NO_CHANGE = frozenset({"VACUUM START", "VACUUM END"})
#: How far back to look for the last commit that changed files (a vacuum makes two a table).
_LOOK_BACK = 8


@dataclass(frozen=True)
class PinnedLake:
    """One version of every table of a lake.

    Attributes:
        lake: The lake.
        tables: Table key to its pinned version.
    """

    lake: Lake
    tables: Mapping[str, PinnedTable] = field(default_factory=dict)

    @classmethod
    def newest(cls, lake: Lake, sources: Iterable[str] | None = None) -> PinnedLake:
        """Pin the newest version of every table of the lake (of some sources).

        Args:
            lake: The lake.
            sources: The sources to read (default: every folder at the lake's root).

        Returns:
            The pinned lake.
        """
        tables = DeltaTables(lake)
        pinned = {}
        for key in table_keys(lake, sources):
            found = pin(tables, key)
            if found.version >= 0:
                pinned[key] = found
        return cls(lake, pinned)

    def table(self, key: str) -> PinnedTable:
        """One table's pinned version (empty if the table has none)."""
        return self.tables.get(key) or PinnedTable(key)

    def tables_named(self, source: str, table: str) -> list[PinnedTable]:
        """Every project's pinned version of one table, by project."""
        return [
            pinned
            for key, pinned in sorted(self.tables.items())
            if key.startswith(f"{source}/") and pinned.name == table
        ]

    def files(self, source: str, table: str) -> list[str]:
        """Every project's files of one table, as DuckDB opens them."""
        return self.urls(p for t in self.tables_named(source, table) for p in t.files)

    def url(self, path: str) -> str:
        """A file (relative to the lake) as DuckDB opens it."""
        return self.lake.url(self.lake.join(path))

    def urls(self, paths: Iterable[str]) -> list[str]:
        """Files as DuckDB opens them."""
        return [self.url(p) for p in paths]

    def versions(self) -> dict[str, int]:
        """Table key to the version pinned, for the catalog's record of what it reads."""
        return {key: t.version for key, t in sorted(self.tables.items())}

    @property
    def version(self) -> int:
        """The lake's version: its commits, all tables together (each table's version + 1).

        It grows by one with every commit to any table, so one number tells whether a catalog
        reads the newest state of every table.
        """
        return sum(t.version + 1 for t in self.tables.values())


def table_keys(lake: Lake, sources: Iterable[str] | None = None) -> list[str]:
    """The keys of the folders that may hold a table: `<source>/project_<id>/<table>`."""
    keys = []
    for source in sorted(sources if sources is not None else lake.names(lake.root)):
        if source.startswith((".", "_")):
            continue
        for folder in sorted(lake.names(lake.join(source))):
            if project_of(folder) is None:
                continue
            for table in sorted(lake.names(lake.join(source, folder))):
                if table != STATE and not table.startswith("."):
                    keys.append(f"{source}/{folder}/{table}")
    return keys
