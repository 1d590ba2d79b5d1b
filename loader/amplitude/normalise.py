"""JSON lines of exported events -> typed Arrow rows, in DuckDB, without a Python loop per event.

One SQL statement parses a block of lines once into typed columns (`json_transform`), finds the
top-level keys (`json_keys`) and sorts each line into an event or a reject with its reason:

* every top-level key of the export is kept: unknown keys go to `extra_fields`;
* a value that does not fit its typed column (an integer that is not one, a timestamp in another
  format, a boolean that is not `true`/`false`) also goes to `extra_fields` under its key, and the
  typed column is NULL: the value is never rounded, truncated or re-interpreted;
* DuckDB's casts are lenient (`'1.5'` casts to BIGINT 2, a `+02:00` offset is dropped), so
  integers are checked by round trip and timestamps parsed with the two exact formats the export
  uses (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC);
* a line that is not a JSON object, or has no `uuid`, is a reject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from loader.amplitude.schema import FIELDS, Field

_JSON = pa.json_(pa.string())
JSON_COLUMNS = [f.column for f in FIELDS if f.kind == "json"] + ["extra_fields"]
#: Rows per chunk of a batch handed to DuckDB (2,000 to 16,000 measured alike on 64 MB batches).
CHUNK_ROWS = 4096
TIMESTAMP_FORMATS = "['%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S']"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_path(key: str) -> str:
    return _sql_string("$." + json.dumps(key))


def _cast(field: Field) -> str | None:
    """SQL that casts a field's raw text to its type (None for text and JSON fields)."""
    raw = f"s.{_ident(field.key)}"
    if field.kind == "bigint":
        return f"TRY_CAST({raw} AS BIGINT)"
    if field.kind == "double":
        return f"TRY_CAST({raw} AS DOUBLE)"
    if field.kind == "boolean":
        return f"CASE {raw} WHEN 'true' THEN true WHEN 'false' THEN false END"
    if field.kind == "timestamp":
        return f"try_strptime(NULLIF({raw}, ''), {TIMESTAMP_FORMATS})"
    return None


def build_query(table: str) -> str:
    """Build the normalising query over a table with columns `line_no`, `part` and `line`.

    The query is layered so that every line is parsed once, and every cast computed once:
    parse (typed text and the key list), cast, check (a cast that failed, or an integer that does
    not survive a round trip, is a misfit), assemble (`extra_fields`, the reject reason).

    Args:
        table: The name under which the batch of lines is registered.

    Returns:
        SQL producing the event columns, `extra_fields`, `reject_reason`, `line_no`, `part`
        (passed through, to tell where each line came from) and `rejected_line` (rejects only).
    """
    transform = {f.key: ("JSON" if f.kind == "json" else "VARCHAR") for f in FIELDS}
    known = "[" + ", ".join(_sql_string(f.key) for f in FIELDS) + "]"
    # Exports list the keys in sorted order; comparing the whole list is far cheaper than a set
    # test, which only the rare line with another order or other keys needs.
    sorted_known = "[" + ", ".join(_sql_string(k) for k in sorted(f.key for f in FIELDS)) + "]"
    drop_known = json.dumps({f.key: None for f in FIELDS})
    typed = [f for f in FIELDS if _cast(f) is not None]
    casts = ", ".join(f"{_cast(f)} AS {_ident('c_' + f.column)}" for f in typed)
    values = []
    for f in typed:
        cast = _ident("c_" + f.column)
        raw = f"s.{_ident(f.key)}"
        value = f"CASE WHEN {cast}::VARCHAR = {raw} THEN {cast} END" if f.kind == "bigint" else cast
        values.append(f"{value} AS {_ident('v_' + f.column)}")
    misfit = {}
    for f in typed:
        raw = f"s.{_ident(f.key)}"
        empty_ok = f" AND {raw} <> ''" if f.kind == "timestamp" else ""
        misfit[f.key] = f"({raw} IS NOT NULL{empty_ok} AND {_ident('v_' + f.column)} IS NULL)"
    any_misfit = " OR ".join(misfit.values())
    misfit_object = (
        "json_object("
        + ", ".join(
            f"{_sql_string(key)}, CASE WHEN {m} THEN line->{_json_path(key)} END"
            for key, m in misfit.items()
        )
        + ")"
    )
    columns = [
        f"{_ident('v_' + f.column)} AS {_ident(f.column)}"
        if _cast(f) is not None
        else f"s.{_ident(f.key)} AS {_ident(f.column)}"
        for f in FIELDS
    ]
    extra = (
        f"CASE WHEN reason IS NULL AND (unknown OR {any_misfit}) THEN json_merge_patch("
        f"CASE WHEN unknown THEN json_merge_patch(line, {_sql_string(drop_known)})"
        f" ELSE '{{}}' END, {misfit_object}) END"
    )
    return f"""
        SELECT {", ".join(columns)},
               {extra}::JSON AS extra_fields,
               reason AS reject_reason,
               line_no,
               part,
               CASE WHEN reason IS NOT NULL THEN rtrim(line, chr(10) || chr(13)) END
                   AS rejected_line
        FROM (
            SELECT *, {", ".join(values)} FROM (
                SELECT *, {casts},
                       CASE WHEN k IS NULL THEN 'invalid JSON'
                            WHEN len(k) = 0 AND json_type(line) <> 'OBJECT'
                                THEN 'not a JSON object'
                            WHEN s.uuid IS NULL OR s.uuid = '' THEN 'missing uuid' END AS reason,
                       CASE WHEN k = {sorted_known} THEN false
                            ELSE NOT list_has_all({known}, k) END AS unknown
                FROM (
                    SELECT line_no, part, line,
                           TRY(json_transform(line, {_sql_string(json.dumps(transform))})) AS s,
                           TRY(json_keys(line)) AS k
                    FROM {table}
                )
            )
        )
    """


@dataclass
class NormalisedBatch:
    """The outcome of normalising one batch of lines.

    Attributes:
        events: Typed rows with a `part` column, without the loader's bookkeeping columns.
        rejects: `part`, `line_no`, `reason` and `line` of each rejected line.
    """

    events: pa.Table
    rejects: pa.Table


REJECT_SCHEMA = pa.schema(
    [("part", pa.int32()), ("line_no", pa.int64()), ("reason", pa.string()), ("line", pa.string())]
)


class Normaliser:
    """Turns batches of exported JSON lines into typed Arrow tables.

    A query costs tens of milliseconds to plan whatever its size, so callers should hand over
    batches of many thousands of lines, across members and hours, tagged with `part`.

    Args:
        threads: DuckDB threads for parsing.
        max_line_bytes: Lines longer than this are rejected without being parsed.
    """

    def __init__(self, threads: int = 2, max_line_bytes: int = 16 * 1024**2) -> None:
        self.max_line_bytes = max_line_bytes
        self._con = duckdb.connect(config={"threads": threads})
        self._query = build_query("batch")

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()

    def normalise(
        self, lines: pa.Array, line_numbers: pa.Array, parts: pa.Array
    ) -> NormalisedBatch:
        """Normalise a batch of lines.

        Args:
            lines: The lines (a trailing newline is allowed).
            line_numbers: Each line's number within its member.
            parts: Each line's tag (int32), passed through to events and rejects.

        Returns:
            The events and the rejects of the batch.
        """
        rejects: list[pa.Table] = []
        too_long = pc.greater(pc.binary_length(lines), self.max_line_bytes + 1)  # +1: newline
        if pc.any(too_long).as_py():
            count = pc.sum(too_long).as_py()
            rejects.append(
                pa.table(
                    {
                        "part": parts.filter(too_long),
                        "line_no": line_numbers.filter(too_long),
                        "reason": pa.array(
                            [f"line longer than {self.max_line_bytes:,} bytes"] * count
                        ),
                        "line": pc.utf8_slice_codeunits(lines.filter(too_long), 0, 4096).cast(
                            pa.string()
                        ),
                    },
                    schema=REJECT_SCHEMA,
                )
            )
            keep = pc.invert(too_long)
            lines, line_numbers, parts = (
                lines.filter(keep),
                line_numbers.filter(keep),
                parts.filter(keep),
            )
        # DuckDB hands each chunk to one thread: small chunks keep both busy on a small batch.
        source = pa.Table.from_batches(
            pa.table({"line_no": line_numbers, "part": parts, "line": lines}).to_batches(
                max_chunksize=CHUNK_ROWS
            )
        )
        self._con.register("batch", source)
        try:
            result = self._con.sql(self._query).to_arrow_table()
        finally:
            self._con.unregister("batch")
        bad = pc.is_valid(result.column("reject_reason"))
        if pc.any(bad).as_py():
            bad_rows = result.filter(bad)
            rejects.append(
                pa.table(
                    {
                        "part": bad_rows.column("part"),
                        "line_no": bad_rows.column("line_no"),
                        "reason": bad_rows.column("reject_reason").cast(pa.string()),
                        "line": bad_rows.column("rejected_line").cast(pa.string()),
                    },
                    schema=REJECT_SCHEMA,
                )
            )
            result = result.filter(pc.invert(bad))
        events = result.drop_columns(["reject_reason", "line_no", "rejected_line"])
        reject_table = pa.concat_tables(rejects) if rejects else REJECT_SCHEMA.empty_table()
        return NormalisedBatch(events=events, rejects=reject_table)


def add_bookkeeping(
    events: pa.Table, *, project_id: int, upload_hour: datetime, loaded_at: datetime
) -> pa.Table:
    """Append the loader's own columns to normalised rows.

    Args:
        events: Rows from `Normaliser.normalise`.
        project_id: The project the rows came from.
        upload_hour: Their upload hour (UTC).
        loaded_at: When they were loaded (UTC).

    Returns:
        The rows with `project_id`, `upload_hour` and `loaded_at`.
    """
    n = events.num_rows
    naive_hour = upload_hour.replace(tzinfo=None)
    naive_loaded = loaded_at.replace(tzinfo=None)
    for name in JSON_COLUMNS:  # stored with Parquet's JSON type, so DuckDB reads them as JSON
        index = events.schema.get_field_index(name)
        events = events.set_column(index, name, events.column(name).cast(_JSON))
    return (
        events.append_column("project_id", pa.array([project_id] * n, pa.int64()))
        .append_column("upload_hour", pa.array([naive_hour] * n, pa.timestamp("us")))
        .append_column("loaded_at", pa.array([naive_loaded] * n, pa.timestamp("us")))
    )
