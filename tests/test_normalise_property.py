"""Property: whatever bytes an export holds, every line is one event or one reject, never an error.

Lines are drawn from valid events (every typed field with values of the right and of wrong JSON
types, unknown keys, escapes, huge numbers, nesting) mixed with hostile lines (bytes that are not
UTF-8, NUL, truncated JSON, lone surrogates, long lines, CRLF, things that are not objects). A
plain parse (Python's `json`) is the model: a line it reads as an object with a `uuid` string
must load with every field equal to the model's value, in its typed column where the JSON type
fits and under its key in `extra_fields` where it does not; every other line is one reject with
a reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.amplitude.normalise import Normaliser
from loader.amplitude.schema import FIELDS, KEYS, Field
from loader.archive import LineBlock
from tests.normalising import normalise

MAX_LINE = 4096
INT64 = (-(2**63), 2**63 - 1)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
timestamps = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f" if d.microsecond else "%Y-%m-%d %H:%M:%S")
)


def _value_for(field: Field) -> st.SearchStrategy[Any]:
    """Right-typed values mostly, and any JSON value (a wrong type) now and then."""
    right: st.SearchStrategy[Any] = {
        "string": st.text(max_size=16),
        "text": st.text(max_size=8) | st.integers(-1000, 1000) | st.booleans(),
        "bigint": st.integers(*INT64),
        "double": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**30), 10**30),
        "boolean": st.booleans(),
        "timestamp": timestamps | st.just(""),
        "json": json_values,
    }[field.kind]
    wrong = scalars if field.kind == "text" else json_values
    return st.one_of(right, right, wrong)


@st.composite
def events(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = {"uuid": draw(st.text(min_size=1, max_size=20))}
    for field in draw(st.lists(st.sampled_from(FIELDS[1:]), max_size=12, unique=True)):
        event[field.key] = draw(_value_for(field))
    unknown = st.text(min_size=1, max_size=8).filter(lambda k: k not in KEYS)
    event.update(draw(st.dictionaries(unknown, json_values, max_size=3)))
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    return text.encode() + (b"\r" if draw(st.booleans()) else b"")


hostile = st.one_of(
    st.binary(min_size=1, max_size=60),  # often not UTF-8
    events().map(lambda line: line[: len(line) // 2]),  # truncated
    events().map(lambda line: line.replace(b'"uuid"', b'"uu\\ud800id"', 1)),  # a lone surrogate
    events().map(lambda line: line[:-1] + b', "pad": "' + b"x" * MAX_LINE + b'"}'),  # too long
    st.sampled_from([b"[1, 2]", b"42", b'"text"', b"null", b'{"uuid": 7}', b'{"uuid": ""}']),
    st.sampled_from([b'{"uuid": "a", "uuid": "b"}', b'{"uuid": "n\x00ul"}', b'{"uuid": NaN}']),
    st.just(b'{"uuid": "deep", "data": ' + b"[" * 300 + b"]" * 300 + b"}"),
)
lines = st.lists(st.one_of(events(), hostile), min_size=1, max_size=25).map(
    lambda ls: [line.replace(b"\n", b" ") for line in ls if line.replace(b"\n", b" ").strip()]
)


def _no_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return all(_no_surrogates(v) for v in value)
    if isinstance(value, dict):
        return all(_no_surrogates(k) and _no_surrogates(v) for k, v in value.items())
    return True


def _model(line: bytes) -> dict[str, Any] | None:
    """The plain parse of a line: the event it holds, or None for a line that must be a reject."""
    if len(line) > MAX_LINE:
        return None
    try:
        text = line.decode("utf-8")

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [k for k, _ in items]
            if len(set(keys)) != len(keys):
                raise ValueError("a key appears twice")
            return dict(items)

        def constant(name: str) -> float:
            raise ValueError(name)  # NaN and Infinity are not JSON

        event = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except ValueError:
        return None
    if not isinstance(event, dict) or not _no_surrogates(event):
        return None
    uuid = event.get("uuid")
    return event if isinstance(uuid, str) and uuid else None


def _fits(field: Field, value: Any) -> tuple[bool, Any]:
    """Whether a value fits its typed column, and the column's value if it does."""
    kind = field.kind
    if kind == "string":
        return isinstance(value, str), value
    if kind == "text":
        if isinstance(value, bool):
            return True, "true" if value else "false"
        return isinstance(value, str | int), str(value)
    if kind == "bigint":
        return type(value) is int and INT64[0] <= value <= INT64[1], value
    if kind == "double":
        return type(value) in (int, float), float(value) if type(value) in (int, float) else None
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "timestamp":
        if value == "":
            return True, None
        for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                return isinstance(value, str), datetime.strptime(value, pattern)
            except (TypeError, ValueError):
                continue
        return False, None
    return True, value  # json: any value


@pytest.fixture(scope="module")
def normaliser() -> Iterator[Normaliser]:
    """One normaliser for every example, as a load uses one for every line."""
    parser = Normaliser(threads=1, max_line_bytes=MAX_LINE)
    yield parser
    parser.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=lines)
def test_every_line_is_one_faithful_event_or_one_reject(
    normaliser: Normaliser, batch: list[bytes]
) -> None:
    if not batch:
        return
    block = LineBlock.from_bytes(b"\n".join(batch), 1)
    result = normalise(
        normaliser, block.lines, block.line_numbers, pa.array([0] * len(block.lines), pa.int32())
    )
    events, rejects = result.events.to_pylist(), result.rejects.to_pylist()
    assert all(r["reason"] for r in rejects)
    expected = [(n, _model(line)) for n, line in enumerate(batch, 1)]
    assert {r["line_no"] for r in rejects} == {n for n, event in expected if event is None}
    assert len(rejects) + len(events) == len(batch)
    wanted = [event for _, event in expected if event is not None]
    for row, event in zip(events, wanted, strict=True):  # events come back in line order
        _assert_faithful(row, event)


def _assert_faithful(row: dict[str, Any], event: dict[str, Any]) -> None:
    extra = json.loads(row["extra_fields"]) if row["extra_fields"] is not None else {}
    for field in FIELDS:
        value = event.get(field.key)
        column = row[field.column]
        if value is None:
            assert column is None and field.key not in extra, field.key
            continue
        fits, typed = _fits(field, value)
        if not fits:
            assert column is None, (field.key, value, column)
            assert extra[field.key] == value, (field.key, value, extra)
        elif field.kind == "json":
            assert json.loads(column) == value, (field.key, value, column)
        else:
            assert column == typed, (field.key, value, column)
            assert field.key not in extra, (field.key, extra)
    for key, value in event.items():
        if key not in KEYS:
            assert extra[key] == value, (key, value, extra)
