"""The lake's Delta tables: what each one is, how delta-rs reaches it, and a version's files.

Every table of the lake is a Delta table (delta-rs) in the folder its key names,
`<source>/project=<id>/<table>/`, with its `_delta_log/` inside. A reader of any engine pins one
version of one table; the DuckDB catalog does the same with the list of a version's files, which
is why a table must stay readable as a plain list of Parquet files (`check_file_list_readable`).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from loader.errors import LoaderError
from loader.lake import Lake


@dataclass(frozen=True)
class TableSpec:
    """What one kind of table of the lake is.

    Attributes:
        schema: Its columns (timestamps UTC, which keeps the table at protocol 1/2).
        partition_by: Its partition columns (Hive folders; their values are not in the files).
        stats: The only columns whose minimum and maximum go into the Delta log. Never a
            column that holds a user's id or text: the log outlives an erasure's vacuum.
        plain: Columns written without a dictionary (nearly every value new: ids, times), by
            the loader's writers and by Delta's compaction alike.
    """

    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    stats: tuple[str, ...] = ()
    plain: tuple[str, ...] = ()

    def configuration(self, log_retention: timedelta) -> dict[str, str | None]:
        """The table properties every table of the lake is created with.

        Args:
            log_retention: How long the log keeps a commit's record (no longer than the
                erasure retention: a record lists the files it added).

        Returns:
            The properties.
        """
        hours = max(1, int(log_retention.total_seconds() // 3600))
        # Without either, writers (delta-rs's compaction among them) describe the first 32
        # columns, ids included.
        statistics = (
            {"delta.dataSkippingStatsColumns": ",".join(self.stats)}
            if self.stats
            else {"delta.dataSkippingNumIndexedCols": "0"}
        )
        return {
            **statistics,
            "delta.logRetentionDuration": f"interval {hours} hours",
            "delta.enableExpiredLogCleanup": "true",
            "delta.checkpointInterval": "100",
        }


class DeltaTables:
    """The Delta tables of one lake.

    Args:
        lake: The lake.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def uri(self, key: str) -> str:
        """The address delta-rs opens a table at (a local path, or `s3://bucket/...`)."""
        return self.lake.url(self.lake.join(key))

    @functools.cached_property
    def storage_options(self) -> dict[str, str]:
        """What delta-rs needs beyond the store's standard environment (credentials, region).

        The store's client reads `AWS_*` (or the machine's role) as fsspec's does; only a
        plain-HTTP endpoint (an S3-compatible server on a private network) must be allowed.
        """
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if self.lake.protocol in ("s3", "s3a") and endpoint.startswith("http://"):
            return {"allow_http": "true"}
        return {}

    def open(self, key: str, version: int | None = None) -> DeltaTable | None:
        """Open a table, at its newest version or at one version.

        Args:
            key: The table's key (`<source>/project=<id>/<table>`).
            version: A version to pin (None: the newest).

        Returns:
            The table, or None if it has no commit yet.
        """
        try:
            return DeltaTable(self.uri(key), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def relative(self, key: str, uri: str) -> str:
        """A file of a table (as `file_uris` names it) relative to the lake's root."""
        prefix = self.uri(key).rstrip("/") + "/"
        path = unquote(uri)  # delta-rs escapes the path (a space is %20)
        if not path.startswith(prefix):
            raise ValueError(f"{uri} is not a file of the table {key}")
        return f"{key}/{path[len(prefix) :]}"

    def files(self, key: str, table: DeltaTable) -> list[str]:
        """A version's data files as DuckDB opens them (local paths or `s3://` URLs)."""
        return [self.lake.url(self.lake.join(self.relative(key, u))) for u in table.file_uris()]


#: Reader features a list of a version's Parquet files still reads exactly: they change how the
#: log is kept or how a timestamp is typed, not which rows or columns a file holds.
_FILE_LIST_SAFE = frozenset({"timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"})


def check_file_list_readable(table: DeltaTable, name: str) -> None:
    """Refuse a table that a list of its Parquet files would not read exactly.

    Deletion vectors hide rows that are still in the files, and column mapping renames columns
    in the log only: a reader of the files alone (the DuckDB catalog's views) would see deleted
    rows, or columns under the wrong names. This loader never writes either; a table that has
    them was changed by another engine.

    Args:
        table: The table, at the version to read.
        name: Its key, for the message.

    Raises:
        LoaderError: If the table uses such a feature.
    """
    protocol = table.protocol()
    features = set(protocol.reader_features or [])
    mapping = table.metadata().configuration.get("delta.columnMapping.mode") or "none"
    unsafe = sorted(features - _FILE_LIST_SAFE)
    if mapping != "none":
        unsafe.append(f"column mapping ({mapping})")
    if protocol.min_reader_version == 2 and mapping == "none":  # reader 2 is column mapping
        unsafe.append("reader protocol 2")
    if unsafe:
        raise LoaderError(
            f"the Delta table {name} (version {table.version()}) uses {', '.join(unsafe)}, which"
            " its files alone do not read exactly; another engine wrote to it",
            remedy=(
                "this loader is the only writer of its tables: restore the table to the last"
                " version the loader wrote (RESTORE, or DeltaTable.restore) and write to a copy"
                " of it instead"
            ),
        )
