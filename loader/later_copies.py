"""One row per key across hours, readable from the table alone: the later copies are flagged.

A source may export the same key in two upload hours. Both rows stay in the table; every row
carries a flag (`UniqueKey.flag`) that is true for a copy whose key an earlier hour also holds,
so a reader of any engine gets each key once with `WHERE NOT <flag>`, from one version of one
table. The earliest hour's copy wins, whatever the load order: a commit that changes hours
computes the flags of their keys against the version it applies to, sets them in the new
hours' files, and rewrites, in the same commit, the files of other hours whose copies changed
rank (an hour reloaded without a key gives its later copy the first place).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from loader.catalog import lake_session, quote_list, quote_literal

#: DuckDB's memory for the flags: past it, it spills to scratch (a first load has every key).
MEMORY_LIMIT_MB = 256


@dataclass(frozen=True)
class UniqueKey:
    """How a source tells a table's rows apart across hours.

    Attributes:
        column: The key column, unique across hours once later copies are left out.
        order: The column whose smallest value wins (the upload hour, a UTC timestamp).
        flag: The boolean column that marks later copies (written false by the stage).
    """

    column: str
    order: str
    flag: str


@dataclass
class Ranks:
    """The flags a commit must set.

    Attributes:
        later_new: Keys of the new hours' rows that are later copies, per hour.
        changed: Lake file (as DuckDB opened it) to the (key, hour, flag) of its rows whose
            flag is wrong once the new hours are in.
        later_total: Later copies among the keys compared (for the report).
    """

    later_new: dict[datetime, set[str]]
    changed: dict[str, list[tuple[str, datetime, bool]]]
    later_total: int = 0


def rank(
    unique: UniqueKey,
    hours: Collection[datetime],
    new_files: list[str],
    lake_files: list[str],
    scratch: Path,
    filesystem: object | None = None,
) -> Ranks:
    """Compute the later-copy flags of the keys of some hours being replaced.

    Args:
        unique: The table's key.
        hours: The hours being replaced (their current rows leave the table).
        new_files: The new hours' files (URLs: in the lake already, not committed yet).
        lake_files: Every data file of the version the commit applies to (URLs).
        scratch: A local folder DuckDB may spill to.
        filesystem: A remote lake's fsspec filesystem (None if local).

    Returns:
        The flags to set.
    """
    key, order, flag = unique.column, unique.order, unique.flag
    ranks = Ranks({}, {})
    if not new_files and not lake_files:
        return ranks
    stamps = ", ".join(f"TIMESTAMPTZ '{h.isoformat()}'" for h in sorted(hours)) or "NULL"
    with lake_session(filesystem) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT_MB}MB'")
        con.execute(f"SET temp_directory = {quote_literal(str(scratch))}")
        _table(con, unique, "new_rows", new_files, f"{key}, {order}")
        # The keys whose copies may change rank: the new hours' keys, and those of the rows the
        # new hours replace (a key a reload dropped gives its later copy the first place).
        _table(con, unique, "replaced", lake_files, key, f"{order} IN ({stamps})")
        con.execute(
            f"CREATE TEMP TABLE touched AS"
            f" SELECT {key} FROM new_rows UNION SELECT {key} FROM replaced"
        )
        _table(
            con,
            unique,
            "others",
            lake_files,
            f"{key}, {order}, {flag}, filename",
            f"{key} IN (SELECT {key} FROM touched) AND {order} NOT IN ({stamps})",
        )
        con.execute(
            f"""CREATE TEMP TABLE firsts AS SELECT {key}, min({order}) AS first FROM (
                    SELECT {key}, {order} FROM new_rows
                    UNION ALL SELECT {key}, {order} FROM others
                ) GROUP BY {key}"""
        )
        for value, hour in con.execute(
            f"SELECT n.{key}, n.{order} FROM new_rows AS n JOIN firsts AS f USING ({key})"
            f" WHERE n.{order} > f.first"
        ).fetchall():
            ranks.later_new.setdefault(hour, set()).add(value)
        for file, value, hour, later in con.execute(
            f"SELECT o.filename, o.{key}, o.{order}, o.{order} > f.first"
            f" FROM others AS o JOIN firsts AS f USING ({key})"
            f" WHERE o.{flag} IS DISTINCT FROM (o.{order} > f.first)"
        ).fetchall():
            ranks.changed.setdefault(file, []).append((value, hour, bool(later)))
        counted = con.execute(
            f"SELECT count(*) FROM others AS o JOIN firsts AS f USING ({key})"
            f" WHERE o.{order} > f.first"
        ).fetchone()
        ranks.later_total = sum(len(v) for v in ranks.later_new.values()) + int(
            counted[0] if counted else 0
        )
    return ranks


def _table(
    con: duckdb.DuckDBPyConnection,
    unique: UniqueKey,
    name: str,
    files: list[str],
    columns: str,
    where: str = "",
) -> None:
    """A temporary table of some columns of some Parquet files (empty if there is none)."""
    source = (
        f"read_parquet({quote_list(files)}, hive_partitioning = false, union_by_name = true,"
        " filename = true)"
        if files
        else f"(SELECT NULL::VARCHAR AS {unique.column}, NULL::TIMESTAMPTZ AS {unique.order},"
        f" NULL::BOOLEAN AS {unique.flag}, NULL::VARCHAR AS filename WHERE false)"
    )
    condition = f" WHERE {where}" if where else ""
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT {columns} FROM {source}{condition}")


def flagged(unique: UniqueKey, rows: pa.Table, flags: dict[tuple[str, datetime], bool]) -> pa.Table:
    """A row group with the flags of some (key, hour)s set, every other row as it was."""
    if not flags:
        return rows
    names = [str(v) for v in rows.column(unique.column).to_pylist()]
    moments = rows.column(unique.order).to_pylist()
    current = rows.column(unique.flag).to_pylist()
    values = [flags.get((k, m), c) for k, m, c in zip(names, moments, current, strict=True)]
    index = rows.schema.get_field_index(unique.flag)
    return rows.set_column(index, unique.flag, pa.array(values, pa.bool_()))
