"""The DuckDB catalog: a file of views over one snapshot of the lake, swapped in atomically.

DuckDB lets one process write a database file and then locks every other process out, readers
included. So the loader never writes the file analysts open: it builds a new file beside it and
renames it into place. Its views list the files of one snapshot of the lake explicitly, so each
commit gets a new catalog; a session that has the old file open keeps reading the old snapshot
(whose files the vacuum keeps for the retention), and a new session reads the newest.

DuckDB caches a database it opened by path within a process: while any connection to the file
is open, `duckdb.connect(path)` in the same process returns that same database, old snapshot
included. `open_catalog` attaches the file to a fresh in-memory database instead, which always
reads the file now at the path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from loader.testing_hooks import crash_point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class View:
    """One view of the catalog.

    Attributes:
        schema: Its schema.
        name: Its name.
        sql: The SELECT that defines it.
        description: What it holds, shown by `COMMENT ON VIEW`.
    """

    schema: str
    name: str
    sql: str
    description: str

    @property
    def qualified(self) -> str:
        """The quoted `schema.name`, safe whatever the name (a view may be named `order`)."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(self.name)}"


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier for DuckDB.

    Args:
        name: Any name.

    Returns:
        The name in double quotes, inner double quotes doubled.
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string as an SQL literal for DuckDB.

    Args:
        text: Any text.

    Returns:
        The text in single quotes, inner single quotes doubled.
    """
    return "'" + text.replace("'", "''") + "'"


def quote_list(texts: list[str]) -> str:
    """Quote strings as a DuckDB list literal, for example of file paths.

    Args:
        texts: Any texts.

    Returns:
        `['a', 'b']`, each element quoted with `quote_literal`.
    """
    return "[" + ", ".join(quote_literal(t) for t in texts) + "]"


def definitions_digest(views: list[View]) -> str:
    """Return a digest of view definitions, to tell whether a rebuild is needed.

    Args:
        views: The views.

    Returns:
        A hex digest.
    """
    payload = json.dumps([(v.schema, v.name, v.sql, v.description) for v in views])
    return hashlib.sha256(payload.encode()).hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".definitions.json")


@contextlib.contextmanager
def _catalog_lock(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    with lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: DuckDB never downloads an extension on its own here: a view over `s3://` files would make it
#: fetch `httpfs` from the internet. A remote lake's files are read through the lake's own
#: fsspec filesystem, registered in the session (see `lake_session`).
NO_DOWNLOADS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def lake_session(
    filesystem: Any | None = None, database: str = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB session that reads the lake's files and downloads no extension.

    Args:
        filesystem: A remote lake's fsspec filesystem (`Lake.duckdb_filesystem`); None if local.
        database: The database file (default: in memory).

    Returns:
        A connection; close it when done.
    """
    con = duckdb.connect(database, config=NO_DOWNLOADS)
    if filesystem is not None:
        con.register_filesystem(filesystem)
    return con


#: Settings for a session that queries the views: the views re-read the same Parquet footers on
#: every query, and DuckDB caches them only when asked (a third to half of a short query).
QUERY_SETTINGS = ("SET parquet_metadata_cache = true",)


def tune_for_views(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Apply `QUERY_SETTINGS` to a connection that will query the views.

    Args:
        con: The connection.

    Returns:
        The same connection.
    """
    for setting in QUERY_SETTINGS:
        con.execute(setting)
    return con


def open_catalog(path: str | Path, filesystem: Any | None = None) -> duckdb.DuckDBPyConnection:
    """Open the newest snapshot's catalog read-only, tuned for querying its views.

    The file is attached to a new in-memory database, so that a process that still holds a
    connection to an older catalog file (a notebook, a code server) gets the newest one.

    Args:
        path: The catalog file.
        filesystem: A remote lake's fsspec filesystem (None for a local lake).

    Returns:
        A connection; close it when done.
    """
    con = lake_session(filesystem)
    con.execute(f"ATTACH {quote_literal(str(path))} AS catalog (READ_ONLY)")
    con.execute("USE catalog")
    return tune_for_views(con)


def connect_views(views: list[View], filesystem: Any | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB holding the views, to query the lake without the catalog file.

    Args:
        views: The views.
        filesystem: A remote lake's fsspec filesystem (None for a local lake).

    Returns:
        A connection; close it when done.
    """
    con = tune_for_views(lake_session(filesystem))
    for schema in sorted({v.schema for v in views}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    for view in views:
        con.execute(f"CREATE VIEW {view.qualified} AS {view.sql}")
    return con


def _built(path: Path) -> dict[str, Any]:
    """What the catalog at `path` was built from (empty if unknown)."""
    try:
        built = json.loads(_sidecar(path.resolve()).read_text())
    except (OSError, ValueError):
        return {}
    return built if isinstance(built, dict) else {}


def catalog_version(path: Path) -> int:
    """The snapshot version the catalog at `path` reads (-1 if unknown)."""
    return int(_built(path).get("version", -1))


def catalog_lake(path: Path) -> str | None:
    """The lake the catalog at `path` reads (None if unknown: no catalog, or an older one)."""
    lake = _built(path).get("lake")
    return str(lake) if lake else None


def publish_catalog(
    path: Path,
    views: list[View],
    *,
    version: int = 0,
    lake: str = "",
    force: bool = False,
    filesystem: Any | None = None,
) -> bool:
    """Make the catalog at `path` hold exactly `views` of one snapshot, if it is not newer.

    Snapshot versions only compare within one lake: a catalog built from another lake (a
    folder reused with a new `--lake`) is rebuilt whatever its version, and says so.

    Args:
        path: The catalog file.
        views: The views it must hold.
        version: The snapshot they read: a catalog of a newer one of the same lake is left as
            it is (unless forced).
        lake: The lake's URL, recorded beside the catalog.
        force: Rebuild whatever the catalog holds.
        filesystem: A remote lake's fsspec filesystem, to bind the views (None if local).

    Returns:
        True if a new file was swapped in.
    """
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = definitions_digest(views)
    with _catalog_lock(path):
        sidecar = _sidecar(path)
        built = _built(path) if path.exists() else {}
        same_lake = built.get("lake", "") == lake
        newer = int(built.get("version", -1)) > version
        if built and same_lake and not force and (newer or built.get("sha256") == digest):
            return False
        if built.get("lake") and not same_lake:
            log.warning("catalog %s read the lake %s; it now reads %s", path, built["lake"], lake)
        for stale in path.parent.glob(f".{path.name}.building-*"):  # left by a killed build
            stale.unlink(missing_ok=True)
        building = path.with_name(f".{path.name}.building-{os.getpid()}")
        try:
            with lake_session(filesystem, str(building)) as con:
                for schema in sorted({v.schema for v in views}):
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
                for view in views:
                    con.execute(f"CREATE VIEW {view.qualified} AS {view.sql}")
                    comment = quote_literal(view.description)
                    con.execute(f"COMMENT ON VIEW {view.qualified} IS {comment}")
                con.execute("CHECKPOINT")
            crash_point("catalog.before_swap")
            building.replace(path)
        finally:
            building.unlink(missing_ok=True)
            building.with_name(building.name + ".wal").unlink(missing_ok=True)
        sidecar.write_text(
            json.dumps(
                {
                    "sha256": digest,
                    "version": version,
                    "lake": lake,
                    "built_at": datetime.now(UTC).isoformat(),
                },
                indent=1,
            )
        )
    log.info("catalog %s: snapshot %d, %d views", path, version, len(views))
    return True
