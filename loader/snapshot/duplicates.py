"""One row per key across hours: the earliest hour's copy wins, whatever the load order.

A source may export the same key in two upload hours (`UniqueKey` says which columns). Both
rows stay in the lake; an index of the later copies lets the catalog hide them with an anti
join. Each commit that changes hours writes a new index, recomputed for the keys of those hours,
so loads in any order and in parallel converge to the same result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from loader.catalog import lake_session, quote_list, quote_literal
from loader.hours import hour_key
from loader.snapshot.layout import TableLayout
from loader.snapshot.state import TableState

MEMORY_LIMIT_MB = 256


@dataclass(frozen=True)
class UniqueKey:
    """How a source tells a table's rows apart across hours.

    Attributes:
        column: The key column, unique across hours once later copies are hidden.
        order: The column whose smallest value wins (the upload hour).
        scope: Columns kept with each later copy, which readers anti-join on as well.
    """

    column: str
    order: str
    scope: tuple[str, ...] = ()


class DuplicateIndex:
    """The later copies of repeated keys of one table of one project.

    Args:
        layout: The table's place in the lake.
        unique: The table's key, its order and its scope.
    """

    def __init__(self, layout: TableLayout, unique: UniqueKey) -> None:
        self.layout = layout
        self.key = unique.column
        self.order = unique.order
        self.columns = ", ".join([unique.column, unique.order, *unique.scope])

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory DuckDB that can read the lake.

        Returns:
            A connection.
        """
        return lake_session(self.layout.lake.duckdb_filesystem)

    def refresh(
        self,
        hours: list[datetime],
        before: TableState,
        after: TableState,
        scratch: Path,
    ) -> tuple[str | None, int]:
        """Compute the index of a table's new state, recomputing only the keys of changed hours.

        The keys recomputed are those of the changed hours' files before and after the change
        (a key that a reload removed from its earliest hour must come back from a later one),
        and those whose later copy the old index placed in a changed hour.

        Args:
            hours: The hours whose data changed.
            before: The table's state before the change (its index is the starting point).
            after: The table's state after the change (its hour files are the data).
            scratch: A local folder for the new index file.

        Returns:
            The new index file (relative to the lake; None while the table has no rows), and
            how many later copies it lists.
        """
        lake = self.layout.lake
        keys = {hour_key(h) for h in hours}
        touched_files = sorted(
            {
                e.data
                for state in (before, after)
                for k, e in state.hours.items()
                if k in keys and e.data
            }
        )
        if not after.hour_files():
            return None, 0
        # A compacted day's file holds its hours' rows in one file: a year of hours is 365
        # files to read, not 8,760 (on object storage, a request or two each). Days whose hours
        # changed are read from their hours: their day file is rebuilt after the index.
        all_files = after.read_files(hours_of={k[:10] for k in keys})

        def urls(paths: list[str]) -> str:
            return quote_list([lake.url(lake.join(p)) for p in paths])

        key, order, columns = self.key, self.order, self.columns
        with self.connect() as con:
            # A first load touches every key: past this, DuckDB spills to scratch, so the
            # index never costs more memory than the stage before it did.
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT_MB}MB'")
            con.execute(f"SET temp_directory = {quote_literal(str(scratch))}")
            old = (
                f"read_parquet({quote_literal(lake.url(lake.join(before.index)))},"
                " hive_partitioning = false)"
                if before.index
                else None
            )
            touched = []
            if touched_files:
                touched.append(
                    f"SELECT {key} FROM read_parquet({urls(touched_files)},"
                    " hive_partitioning = false, union_by_name = true)"
                )
            if old:
                stamps = ", ".join(f"TIMESTAMP '{h:%Y-%m-%d %H:00:00}'" for h in hours)
                touched.append(f"SELECT {key} FROM {old} WHERE {order} IN ({stamps})")
            if touched:
                con.execute(f"CREATE TEMP TABLE touched AS {' UNION '.join(touched)}")
            else:
                con.execute(f"CREATE TEMP TABLE touched ({key} VARCHAR)")
            parts = [
                f"""SELECT {columns} FROM (
                    SELECT {columns},
                           row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS copy
                    FROM read_parquet({urls(all_files)},
                                      hive_partitioning = false, union_by_name = true)
                    WHERE {key} IN (SELECT {key} FROM touched)
                ) WHERE copy > 1"""
            ]
            if old:
                parts.append(
                    f"SELECT {columns} FROM {old} WHERE {key} NOT IN (SELECT {key} FROM touched)"
                )
            local = scratch / f"duplicates-{uuid.uuid4().hex}.parquet"
            con.execute(
                f"COPY ({' UNION ALL '.join(parts)} ORDER BY {order}, {key})"
                f" TO {quote_literal(str(local))} (FORMAT parquet)"
            )
            count = con.execute(
                f"SELECT count(*) FROM read_parquet({quote_literal(str(local))})"
            ).fetchone()
        path = self.layout.new_index_file()
        lake.put(local, lake.join(path))
        return path, int(count[0]) if count else 0
