"""The lake: a folder (or any fsspec URL) of Delta tables and the loader's own notes.

This module knows how to write, list and read files, not where they go (`loader.snapshot.layout`)
nor which of them make up a table (its Delta log, `loader.delta`). Writes are atomic per file:
a local file is written beside its destination and renamed into place; an object store makes an
object visible only when its upload completes. Table files are written once under new names;
only the loader's own notes (`_state/`) are ever replaced.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import psutil
from fsspec.implementations.local import LocalFileSystem

from loader.errors import ConfigError
from loader.object_store import access_remedy, protocol_of, remembering_files
from loader.secrets import register_environment_credentials

log = logging.getLogger(__name__)


class Lake:
    """A root folder or URL and the file operations the loader needs on it.

    Args:
        root: A local path, a `file://` URL or any fsspec URL (`s3://bucket/lake`, ...).
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        try:
            self.fs, path = fsspec.core.url_to_fs(text)
        except (ImportError, ValueError) as exc:  # no such protocol, or its package is missing
            raise ConfigError(
                f"the lake {text} cannot be opened: {exc}",
                remedy='for S3 install the extra: pip install "amplitude-loader[s3]" (gcsfs for'
                " gs://, adlfs for az://), or point --lake / AMPLITUDE_LAKE at a folder",
            ) from None
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = str(Path(path).resolve()) if self.local else path.rstrip("/")
        self.protocol = "" if self.local else protocol_of(self.fs)
        if not self.local:
            # The store's client reads its credentials from the standard chain (environment,
            # profile, instance role): those in the environment are masked in every output.
            register_environment_credentials(os.environ)

    @functools.cached_property
    def table_files(self) -> Any:
        """The filesystem to read table files with (the lake's own, for a local lake).

        On object storage it remembers what it learnt of each table file (size, modification
        time), for the whole process: those files are written once and never changed, and
        every open asked for them again, one request each.
        """
        return self.fs if self.local else remembering_files(self.fs)

    @property
    def duckdb_filesystem(self) -> Any | None:
        """The filesystem DuckDB must be given to read this lake's files; None for a local lake."""
        return None if self.local else self.table_files

    @property
    def address(self) -> str:
        """The lake's root as engines address it: a local path, or `protocol://path`."""
        return self.url(self.root)

    def __repr__(self) -> str:
        return f"Lake({self.address!r})"

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

    def check_access(self) -> None:
        """Fail at once, saying what to do, if the lake's store cannot be reached or read.

        Raises:
            ConfigError: If the bucket is missing, or credentials, permission or the network
                are wanting.
        """
        if self.local:
            return
        bucket = self.root.split("/", 1)[0]
        try:
            try:
                self.fs.ls(self.root, detail=False)
            except FileNotFoundError:  # a new lake has no folder yet; its bucket must exist
                if not self.fs.exists(bucket):
                    raise
        except Exception as exc:  # the store's client raises its own classes: classify them
            raise ConfigError(
                f"the lake {self.address} cannot be read: {type(exc).__name__}: {exc}",
                remedy=access_remedy(exc, bucket),
            ) from None

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
        # fsspec filesystems cache listings: another writer's new commit record would stay
        # invisible, and a writer would retry the same version until it gave up.
        self.fs.invalidate_cache(folder)
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

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create a small file only if nothing exists at `path` (a key made once, by one writer).

        Args:
            path: Destination in the lake.
            data: The content, complete when the file appears.

        Returns:
            False if the path existed (another writer got there first).
        """
        if self.protocol in CONDITIONAL_CREATE:
            # One PUT with `If-None-Match: *`: the store refuses it (412) if the key exists, so
            # writers on different machines cannot both create the same record.
            try:
                self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            return True
        if not self.local:
            # Other stores: look, then write. Two writers can both see nothing and both write:
            # the last one's file stays, and both read it back.
            if self.exists(path):
                return False
            self.write_bytes(path, data)
            return True
        with tempfile.NamedTemporaryFile(delete=False, dir=self._scratch_for(path)) as tmp:
            tmp.write(data)
        try:
            os.link(tmp.name, path)  # fails if `path` exists; never half-written
        except FileExistsError:
            return False
        finally:
            Path(tmp.name).unlink()
        return True

    def files(self, folder: str) -> list[FileInfo]:
        """List every file below a folder, recursively, with its size and modification time.

        Args:
            folder: A folder in the lake.

        Returns:
            The files (an empty list if the folder does not exist).
        """
        self.fs.invalidate_cache(folder)  # as in `names`: files other writers added count
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            modified = info.get("mtime") or info.get("LastModified") or info.get("created")
            if isinstance(modified, (int, float)):
                modified = datetime.fromtimestamp(modified, UTC)
            out.append(FileInfo(path, int(info.get("size") or 0), modified))
        return out


@dataclass(frozen=True)
class FileInfo:
    """A file found in the lake.

    Attributes:
        path: Its path in the lake's filesystem.
        size: Its size in bytes.
        modified: When it was last written (None if the filesystem does not say).
    """

    path: str
    size: int
    modified: datetime | None


def _sweep_scratch(base: Path) -> None:
    """Remove scratch folders of processes that no longer run (a killed load leaves its zip)."""
    if not base.is_dir():
        return
    for folder in base.glob("amplitude-loader-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


#: Stores whose fsspec filesystem creates a file only if none exists, in one request
#: (s3fs's `mode="create"`: a PUT with `If-None-Match: *`, which S3 and S3-compatible stores
#: honour).
CONDITIONAL_CREATE = frozenset({"s3", "s3a"})
