"""One row per key across hours: the earliest hour's copy wins, whatever the load order.

A source may export the same key (Amplitude: `uuid`) in two upload hours. Both rows stay in the
lake; an index of the later copies, `duplicates.parquet`, lets the catalog hide them with an anti
join. The index is recomputed for the keys of the hours being published, under the lake's publish
lock, so loads in any order and in parallel converge to the same result.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import duckdb

from loader.catalog import quote_list, quote_literal
from loader.lake import TableLayout

INDEX_NAME = "duplicates.parquet"
MEMORY_LIMIT_MB = 256


class DuplicateIndex:
    """The later copies of repeated keys of one table of one project.

    Args:
        layout: The table's place in the lake.
        key: The key column.
        order: The column whose smallest value wins (the upload hour).
    """

    def __init__(self, layout: TableLayout, key: str = "uuid", order: str = "upload_hour") -> None:
        self.layout = layout
        self.key = key
        self.order = order
        self.path = layout.state_file(INDEX_NAME)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory DuckDB that can read the lake.

        Returns:
            A connection.
        """
        con = duckdb.connect()
        if not self.layout.lake.local:
            con.register_filesystem(self.layout.lake.fs)
        return con

    def refresh(self, hours: list[datetime], scratch: Path) -> int:
        """Recompute the index for the keys of hours just published.

        Args:
            hours: The hours whose data just changed (already in place).
            scratch: A local folder for the new index file.

        Returns:
            How many later copies the index lists now.
        """
        lake = self.layout.lake
        url = lake.url
        files = [self.layout.data_file(h) for h in hours]
        files = [url(f) for f in files if lake.exists(f)]
        has_index = lake.exists(self.path)
        key, order = self.key, self.order
        with self.connect() as con:
            # A first load touches every key: past this, DuckDB spills to scratch, so the
            # index never costs more memory than the stage before it did.
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT_MB}MB'")
            con.execute(f"SET temp_directory = {quote_literal(str(scratch))}")
            index = f"read_parquet({quote_literal(url(self.path))}, hive_partitioning = false)"
            touched = []
            if files:
                touched.append(f"SELECT {key} FROM read_parquet({quote_list(files)})")
            if has_index:
                stamps = ", ".join(f"TIMESTAMP '{h:%Y-%m-%d %H:00:00}'" for h in hours)
                touched.append(f"SELECT {key} FROM {index} WHERE {order} IN ({stamps})")
            if touched:
                con.execute(f"CREATE TEMP TABLE touched AS {' UNION '.join(touched)}")
            else:
                con.execute(f"CREATE TEMP TABLE touched ({key} VARCHAR)")
            published = bool(files) or bool(lake.glob(self.layout.data_glob()))
            parts = []
            if has_index:
                parts.append(
                    f"SELECT {key}, {order}, project_id FROM {index}"
                    f" WHERE {key} NOT IN (SELECT {key} FROM touched)"
                )
            if published:
                parts.append(
                    f"""SELECT {key}, {order}, project_id FROM (
                        SELECT {key}, {order}, project_id,
                               row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS copy
                        FROM read_parquet({quote_literal(url(self.layout.data_glob()))},
                                          hive_partitioning = false, union_by_name = true)
                        WHERE {key} IN (SELECT {key} FROM touched)
                    ) WHERE copy > 1"""
                )
            if not parts:
                parts.append(
                    f"SELECT NULL::VARCHAR AS {key}, NULL::TIMESTAMP AS {order},"
                    " NULL::BIGINT AS project_id WHERE false"
                )
            target = scratch / f"duplicates-{uuid.uuid4().hex}.parquet"
            con.execute(
                f"COPY ({' UNION ALL '.join(parts)} ORDER BY {order}, {key})"
                f" TO {quote_literal(str(target))} (FORMAT parquet)"
            )
            count = con.execute(
                f"SELECT count(*) FROM read_parquet({quote_literal(str(target))})"
            ).fetchone()
        lake.put(target, self.path)
        return int(count[0]) if count else 0
