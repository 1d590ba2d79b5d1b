"""A snapshot as readers address it: its files as URLs that DuckDB opens."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loader.lake import Lake
from loader.snapshot.log import CommitLog
from loader.snapshot.state import Snapshot


@dataclass(frozen=True)
class LakeSnapshot:
    """One snapshot of one lake.

    Attributes:
        lake: The lake.
        snapshot: The snapshot.
    """

    lake: Lake
    snapshot: Snapshot

    @classmethod
    def newest(cls, lake: Lake) -> LakeSnapshot:
        """The newest committed snapshot of a lake."""
        return cls(lake, CommitLog(lake).latest())

    def url(self, path: str) -> str:
        """A file of the snapshot (relative to the lake) as DuckDB opens it."""
        return self.lake.url(self.lake.join(path))

    def urls(self, paths: Iterable[str]) -> list[str]:
        """Files of the snapshot as DuckDB opens them."""
        return [self.url(p) for p in paths]

    def read_bytes(self, path: str) -> bytes:
        """Read a (small) file of the snapshot."""
        return self.lake.read_bytes(self.lake.join(path))
