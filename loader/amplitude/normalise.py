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
* a value of another JSON type than its column's is a misfit too: `"123"` is no BIGINT, `12345`
  no string (`$schema` and `paying`, whose type differs between projects, keep any scalar as
  its text);
* a line that is not a JSON object, repeats a top-level key, or has no `uuid` string is a
  reject.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loader.amplitude.schema import FIELDS, Field
from loader.catalog import quote_identifier, quote_literal

_JSON = pa.json_(pa.string())
JSON_COLUMNS = [f.column for f in FIELDS if f.kind == "json"] + ["extra_fields"]
#: Rows per chunk of a batch handed to DuckDB (2,000 to 16,000 measured alike on 64 MB batches).
CHUNK_ROWS = 4096
TIMESTAMP_FORMATS = "['%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S']"


def _json_path(key: str) -> str:
    return quote_literal("$." + json.dumps(key))


#: How `json_transform` hands each kind over: as JSON text where the JSON type must be checked
#: (a string `"123"` and a number `123` are both `123` as VARCHAR), else as VARCHAR.
_TRANSFORM = {
    "string": "JSON",
    "bigint": "JSON",
    "double": "JSON",
    "boolean": "JSON",
    "json": "JSON",
    "text": "JSON",
    "timestamp": "VARCHAR",
}


def _cast(field: Field) -> str | None:
    """SQL that turns a field's raw value into its type (None for text and JSON fields).

    The raw value of a string, number or boolean field is its JSON text, so a value of another
    JSON type fails the cast: `"123"` is no BIGINT, `"true"` no BOOLEAN, `12345` no string.
    """
    raw = f"s.{quote_identifier(field.key)}"
    if field.kind == "string":
        # Most strings hold no escape: their text is between the quotes. json_transform has
        # already rewritten \u escapes of printable characters; `->>` decodes the rest.
        return (
            f"CASE WHEN starts_with({raw}, '\"') THEN CASE WHEN contains({raw}, '\\')"
            f" THEN {raw}->>'$' ELSE {raw}[2:-2] END END"
        )
    # Cast from the text: a cast from JSON would read the string "52.5" as a number.
    if field.kind == "text":  # a string as itself; an integer or a boolean as its JSON text
        return (
            f"CASE WHEN starts_with({raw}, '\"') THEN {_cast(replace(field, kind='string'))}"
            f" WHEN {raw} IN ('true', 'false') OR regexp_full_match({raw}, '-?[0-9]+')"
            f" THEN {raw}::VARCHAR END"
        )
    if field.kind == "bigint":
        return f"TRY_CAST({raw}::VARCHAR AS BIGINT)"
    if field.kind == "double":
        return f"TRY_CAST({raw}::VARCHAR AS DOUBLE)"
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
    transform = {f.key: _TRANSFORM[f.kind] for f in FIELDS}
    known = "[" + ", ".join(quote_literal(f.key) for f in FIELDS) + "]"
    # Exports list every key, in sorted order: comparing the whole list at once (NULL for a line
    # that is not JSON) is far cheaper than a set test, or than carrying the key list through
    # the query; only the rare line with other keys or another order is looked at again.
    sorted_known = "[" + ", ".join(quote_literal(k) for k in sorted(f.key for f in FIELDS)) + "]"
    drop_known = json.dumps({f.key: None for f in FIELDS})
    typed = [f for f in FIELDS if _cast(f) is not None]
    casts = ", ".join(f"{_cast(f)} AS {quote_identifier('c_' + f.column)}" for f in typed)
    values = []
    for f in typed:
        cast = quote_identifier("c_" + f.column)
        raw = f"s.{quote_identifier(f.key)}"
        value = f"CASE WHEN {cast}::VARCHAR = {raw} THEN {cast} END" if f.kind == "bigint" else cast
        values.append(f"{value} AS {quote_identifier('v_' + f.column)}")
    misfit = {}
    for f in typed:
        raw = f"s.{quote_identifier(f.key)}"
        empty_ok = f" AND {raw} <> ''" if f.kind == "timestamp" else ""
        typed_value = quote_identifier("v_" + f.column)
        misfit[f.key] = f"({raw} IS NOT NULL{empty_ok} AND {typed_value} IS NULL)"
    any_misfit = " OR ".join(misfit.values())
    # extra_fields is assembled as text: the unknown keys' members, then `"key":value` of each
    # misfit. A JSON merge patch would drop the nulls nested in a misfit value.
    members = [
        f"CASE WHEN unknown THEN NULLIF((json_merge_patch(line, {quote_literal(drop_known)})"
        "::VARCHAR)[2:-2], '') END"
    ] + [
        f"CASE WHEN {m} THEN {quote_literal(json.dumps(key) + ':')}"
        f" || (line->{_json_path(key)})::VARCHAR END"
        for key, m in misfit.items()
    ]
    columns = [
        f"{quote_identifier('v_' + f.column)} AS {quote_identifier(f.column)}"
        if _cast(f) is not None
        else f"s.{quote_identifier(f.key)} AS {quote_identifier(f.column)}"
        for f in FIELDS
    ]
    extra = (
        f"CASE WHEN reason IS NULL AND (unknown OR {any_misfit})"
        f" THEN '{{' || concat_ws(',', {', '.join(members)}) || '}}' END"
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
                       CASE WHEN sorted_keys IS NULL THEN 'invalid JSON'
                            WHEN NOT sorted_keys AND json_type(line) <> 'OBJECT'
                                THEN 'not a JSON object'
                            WHEN NOT sorted_keys
                                 AND list_unique(json_keys(line)) <> len(json_keys(line))
                                THEN 'a top-level key appears twice'
                            WHEN s.uuid IS NULL OR s.uuid = '""' THEN 'missing uuid'
                            WHEN NOT starts_with(s.uuid, '"') THEN 'uuid is not a JSON string'
                            END AS reason,
                       CASE WHEN sorted_keys THEN false
                            ELSE NOT list_has_all({known}, TRY(json_keys(line))) END AS unknown
                FROM (
                    SELECT line_no, part, line,
                           TRY(json_transform(line, {quote_literal(json.dumps(transform))})) AS s,
                           TRY(json_keys(line) = {sorted_known}) AS sorted_keys
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


#: How much of a rejected line that is too long or not UTF-8 is kept, as text.
REJECT_TEXT_BYTES = 4096
LINES_SCHEMA = pa.schema(
    [("line_no", pa.int64()), ("part", pa.int32()), ("line", pa.large_string())]
)
#: Rows per batch the normaliser hands back: a few tens of MB, so an hour's rows arrive in a few
#: pieces and no piece holds much memory.
OUTPUT_ROWS = 16_384


class Normaliser:
    """Turns streams of exported JSON lines into typed Arrow tables.

    Planning the query costs tens of milliseconds whatever the input, so a stream of lines, across
    members and hours, tagged with `part`, goes through one query: DuckDB pulls the lines as it
    parses them, on all its threads, and hands back rows in the order the lines came.

    Args:
        threads: DuckDB threads for parsing.
        max_line_bytes: Lines longer than this are rejected without being parsed.
    """

    def __init__(self, threads: int = 2, max_line_bytes: int = 16 * 1024**2) -> None:
        self.max_line_bytes = max_line_bytes
        self._con = duckdb.connect(config={"threads": threads})
        self._query = build_query("lines")

    def close(self) -> None:
        """Release the DuckDB connection."""
        self._con.close()

    def stream(
        self, batches: Iterable[pa.RecordBatch], output_rows: int = OUTPUT_ROWS
    ) -> Iterator[NormalisedBatch]:
        """Normalise a stream of lines with one query.

        Every line comes back once, as an event or as a reject, in the order of the input.
        `batches` is pulled from DuckDB's threads, under the GIL: it may hand over work but
        should not do much of it.

        Args:
            batches: Record batches of `LINES_SCHEMA`.
            output_rows: Rows per batch handed back.

        Yields:
            The events and rejects of consecutive stretches of the input.

        Raises:
            Exception: Whatever `batches` raised, as it raised it.
        """
        too_long: list[pa.Table] = []
        failure: list[BaseException] = []

        def source() -> Iterator[pa.RecordBatch]:
            try:
                for batch in batches:
                    batch = _drop_invalid_utf8(self._drop_too_long(batch, too_long), too_long)
                    # DuckDB hands each chunk to one thread: small chunks keep both busy.
                    for offset in range(0, batch.num_rows, CHUNK_ROWS):
                        yield batch.slice(offset, CHUNK_ROWS)
            except BaseException as exc:  # DuckDB would only pass on its text
                failure.append(exc)
                raise

        self._con.register("lines", pa.RecordBatchReader.from_batches(LINES_SCHEMA, source()))
        try:
            try:
                result = self._con.sql(self._query).to_arrow_reader(output_rows)
                handed = 0
                try:
                    for rows in result:
                        handed += 1
                        yield _split(pa.Table.from_batches([rows]), _drain(too_long))
                finally:
                    result.close()
            except Exception:  # DuckDB's or Arrow's, depending on when the input failed
                if failure:
                    raise failure[0] from None
                raise
            if too_long or not handed:  # the last lines were too long, or there were none
                yield _split(result.schema.empty_table(), _drain(too_long))
        finally:
            self._con.unregister("lines")

    def _drop_too_long(self, batch: pa.RecordBatch, rejects: list[pa.Table]) -> pa.RecordBatch:
        """Take lines over the size guard out of a batch, as rejects."""
        lines = batch.column("line")
        too_long = pc.greater(pc.binary_length(lines), self.max_line_bytes + 1)  # +1: newline
        if not pc.any(too_long).as_py():
            return batch
        count = pc.sum(too_long).as_py()
        rejects.append(
            pa.table(
                {
                    "part": batch.column("part").filter(too_long),
                    "line_no": batch.column("line_no").filter(too_long),
                    "reason": pa.array([f"line longer than {self.max_line_bytes:,} bytes"] * count),
                    # Its first bytes, decoded leniently: a cut may fall inside a character.
                    "line": pa.array(
                        [
                            raw[:REJECT_TEXT_BYTES].decode("utf-8", "replace")
                            for raw in lines.filter(too_long).cast(pa.large_binary()).to_pylist()
                        ],
                        pa.string(),
                    ),
                },
                schema=REJECT_SCHEMA,
            )
        )
        return batch.filter(pc.invert(too_long))


def _drop_invalid_utf8(batch: pa.RecordBatch, rejects: list[pa.Table]) -> pa.RecordBatch:
    """Take lines that are not valid UTF-8 out of a batch, as rejects.

    DuckDB's JSON functions meet such a line with a fatal error that invalidates the whole
    database, so one bad byte would stop the load. Arrow checks a batch at memory speed; only a
    batch that fails is looked at line by line.
    """
    lines = batch.column("line")
    try:
        lines.validate(full=True)
        return batch
    except pa.ArrowInvalid:
        pass
    bad, reasons, texts = [], [], []
    for raw in lines.cast(pa.large_binary()).to_pylist():
        try:
            raw.decode("utf-8")
            bad.append(False)
        except UnicodeDecodeError as exc:
            bad.append(True)
            reasons.append(f"invalid UTF-8 at byte {exc.start:,} of the line")
            texts.append(raw[:REJECT_TEXT_BYTES].decode("utf-8", "replace").rstrip("\n"))
    mask = pa.array(bad)
    rejects.append(
        pa.table(
            {
                "part": batch.column("part").filter(mask),
                "line_no": batch.column("line_no").filter(mask),
                "reason": pa.array(reasons, pa.string()),
                "line": pa.array(texts, pa.string()),
            },
            schema=REJECT_SCHEMA,
        )
    )
    return batch.filter(pc.invert(mask))


def _drain(tables: list[pa.Table]) -> pa.Table:
    """Empty a list of reject tables into one table."""
    taken = [tables.pop(0) for _ in range(len(tables))]
    return pa.concat_tables(taken) if taken else REJECT_SCHEMA.empty_table()


def _split(result: pa.Table, rejects: pa.Table) -> NormalisedBatch:
    """Separate the query's rows into events and rejects."""
    bad = pc.is_valid(result.column("reject_reason"))
    if pc.any(bad).as_py():
        bad_rows = result.filter(bad)
        found = pa.table(
            {
                "part": bad_rows.column("part"),
                "line_no": bad_rows.column("line_no"),
                "reason": bad_rows.column("reject_reason").cast(pa.string()),
                "line": bad_rows.column("rejected_line").cast(pa.string()),
            },
            schema=REJECT_SCHEMA,
        )
        rejects = pa.concat_tables([rejects, found])
        result = result.filter(pc.invert(bad))
    events = result.drop_columns(["reject_reason", "line_no", "rejected_line"])
    return NormalisedBatch(events=events, rejects=rejects)


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
        events.append_column("project_id", pa.array(np.full(n, project_id, np.int64)))
        .append_column("upload_hour", pa.array(np.full(n, np.datetime64(naive_hour, "us"))))
        .append_column("loaded_at", pa.array(np.full(n, np.datetime64(naive_loaded, "us"))))
    )
