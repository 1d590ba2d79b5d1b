"""The lake: a folder (or any fsspec URL) of Parquet files and JSON manifests.

Writes are atomic per file: a local file is written beside its destination and renamed into
place; an object store makes an object visible only when its upload completes. Readers therefore
see either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import fsspec
import psutil
from fsspec.implementations.local import LocalFileSystem

from loader.hours import hour_key

log = logging.getLogger(__name__)

#: Suffix of the folder beside a table that holds its read copies, one file per upload day.
DAY_SUFFIX = "_by_day"


class Lake:
    """A root folder or URL and the file operations the loader needs on it.

    Args:
        root: A local path, a `file://` URL or any fsspec URL (`s3://bucket/lake`, ...).
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        self.fs, path = fsspec.core.url_to_fs(text)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = str(Path(path).resolve()) if self.local else path.rstrip("/")
        self.protocol = "" if self.local else _protocol(self.fs)

    def __repr__(self) -> str:
        return f"Lake({self.url(self.root)!r})"

    def join(self, *parts: str) -> str:
        """Return the path of `parts` below the root.

        Args:
            *parts: Path segments.

        Returns:
            A path in the lake's filesystem.
        """
        return "/".join([self.root, *parts])

    def url(self, path: str) -> str:
        """Return a path as DuckDB and other engines address it.

        Args:
            path: A path in the lake's filesystem.

        Returns:
            The local path, or `protocol://path` for remote lakes.
        """
        return path if self.local else f"{self.protocol}://{path}"

    def exists(self, path: str) -> bool:
        """Tell whether a file or folder exists.

        Args:
            path: A path in the lake.

        Returns:
            True if it exists.
        """
        return bool(self.fs.exists(path))

    def names(self, folder: str) -> list[str]:
        """List the names directly inside a folder (empty if it does not exist).

        Args:
            folder: A folder in the lake.

        Returns:
            Base names, unsorted.
        """
        if self.local:
            try:
                return [entry.name for entry in Path(folder).iterdir()]
            except FileNotFoundError:
                return []
        try:
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)]
        except FileNotFoundError:
            return []

    def glob(self, pattern: str) -> list[str]:
        """Return the paths matching a glob pattern.

        Args:
            pattern: A glob in the lake's filesystem.

        Returns:
            Matching paths, sorted.
        """
        return sorted(self.fs.glob(pattern))

    def read_bytes(self, path: str) -> bytes:
        """Read a whole (small) file.

        Args:
            path: A file in the lake.

        Returns:
            Its bytes.
        """
        data: bytes = self.fs.cat_file(path)
        return data

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file atomically.

        Args:
            path: Destination in the lake.
            data: The content.
        """
        with tempfile.NamedTemporaryFile(delete=False, dir=self._scratch_for(path)) as tmp:
            tmp.write(data)
        self.put(Path(tmp.name), path)

    def put(self, local_file: Path, path: str) -> None:
        """Move a finished local file into the lake atomically.

        Args:
            local_file: A file on local disk; it is moved, not copied, when the lake is local.
            path: Destination in the lake.
        """
        if self.local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                local_file.replace(path)
            except OSError:  # another device: copy beside the target, then rename
                side = f"{path}.{uuid.uuid4().hex}.tmp"
                shutil.copyfile(local_file, side)
                Path(side).replace(path)
                local_file.unlink(missing_ok=True)
            return
        self.fs.put_file(str(local_file), path)
        local_file.unlink(missing_ok=True)

    def delete(self, path: str) -> None:
        """Delete a file if it exists.

        Args:
            path: A file in the lake.
        """
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def scratch(self, name: str) -> Path:
        """Return a local folder for work in progress that can be renamed into the lake.

        For a local lake it lies inside the lake (same filesystem, so renames are atomic) under
        `_scratch/`, which no reader's glob matches; for a remote lake it is a temporary folder.

        Args:
            name: A name unique to the caller (a load id).

        Returns:
            An empty, existing folder.
        """
        base = Path(self.root) / "_scratch" if self.local else Path(tempfile.gettempdir())
        _sweep_scratch(base)
        folder = base / f"amplitude-loader-{os.getpid()}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _scratch_for(self, path: str) -> str:
        if self.local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return str(Path(path).parent)
        return tempfile.gettempdir()

    @contextlib.contextmanager
    def lock(self, path: str) -> Iterator[None]:
        """Hold an exclusive lock for publishing, across processes on this machine.

        On a remote lake there is no portable lock; publishing must then be serialised by the
        orchestrator (a Dagster pool of one, say), and a warning says so once.

        Args:
            path: The lock file's path in the lake.

        Yields:
            While the lock is held.
        """
        if not self.local:
            log.debug("no file lock on %s; publishing relies on the orchestrator", self.protocol)
            yield
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with Path(path).open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep_scratch(base: Path) -> None:
    """Remove scratch folders of processes that no longer run (a killed load leaves its zip)."""
    if not base.is_dir():
        return
    for folder in base.glob("amplitude-loader-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _protocol(fs: Any) -> str:
    protocol = fs.protocol
    return str(protocol[0] if isinstance(protocol, (tuple, list)) else protocol)


def project_of(path: str) -> str:
    """Return the project a lake path belongs to, from its `project=<id>` folder.

    Args:
        path: A path below `<source>/project=<id>/`.

    Returns:
        The project id.
    """
    return path.split("project=", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class TableLayout:
    """Where one table of one project of one source lives in the lake.

    Attributes:
        lake: The lake.
        source: The source's name, for example `amplitude`.
        project: The project id.
        table: The table's name, for example `events`.
    """

    lake: Lake
    source: str
    project: str
    table: str

    @property
    def project_root(self) -> str:
        """The folder of this project."""
        return self.lake.join(self.source, f"project={self.project}")

    def data_file(self, hour: datetime) -> str:
        """The single Parquet file that holds one hour (replaced whole on reload)."""
        return (
            f"{self.project_root}/{self.table}/upload_date={hour:%Y-%m-%d}/hour={hour:%H}"
            "/data.parquet"
        )

    def data_glob(self, project: str | None = None) -> str:
        """A glob of every hour's data file, of this project or of all (`*`)."""
        root = self.lake.join(self.source, f"project={project or self.project}")
        return f"{root}/{self.table}/upload_date=*/hour=*/*.parquet"

    def hour_files_of(self, day: date) -> str:
        """A glob of the hour data files of one upload day."""
        return f"{self.project_root}/{self.table}/upload_date={day:%Y-%m-%d}/hour=*/*.parquet"

    def day_file(self, day: date) -> str:
        """The read copy of one upload day: its hour files as one file (see `loader.day_files`)."""
        return (
            f"{self.project_root}/{self.table}{DAY_SUFFIX}/upload_date={day:%Y-%m-%d}/data.parquet"
        )

    def day_glob(self, project: str | None = None) -> str:
        """A glob of every day's read copy, of this project or of all (`*`)."""
        root = self.lake.join(self.source, f"project={project or self.project}")
        return f"{root}/{self.table}{DAY_SUFFIX}/upload_date=*/data.parquet"

    @property
    def manifest_dir(self) -> str:
        """The folder of this table's manifests."""
        return f"{self.project_root}/_manifests/{self.table}"

    def manifest_file(self, hour: datetime) -> str:
        """The manifest of one hour."""
        return f"{self.manifest_dir}/{hour_key(hour)}.json"

    def rejects_file(self, hour: datetime) -> str:
        """The rejected lines of one hour, gzipped JSON lines."""
        return f"{self.project_root}/_rejects/{self.table}/{hour_key(hour)}.jsonl.gz"

    def state_file(self, name: str) -> str:
        """A file of this table's own bookkeeping, for example its duplicates."""
        return f"{self.project_root}/_state/{self.table}/{name}"
