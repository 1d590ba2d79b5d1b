"""The normaliser keeps every value: typed where it fits, in extra_fields where it does not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
import pytest

from loader.amplitude.normalise import LINES_SCHEMA, Normaliser
from loader.amplitude.schema import FIELDS
from loader.archive import LineBlock
from loader.errors import ArchiveError
from tests.normalising import normalise


def _normalise(*lines: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    block = LineBlock.from_bytes("\n".join(lines).encode(), 1)
    normaliser = Normaliser(threads=1)
    try:
        parts = pa.array([0] * len(block.lines), pa.int32())
        result = normalise(normaliser, block.lines, block.line_numbers, parts)
    finally:
        normaliser.close()
    return result.events.to_pylist(), result.rejects.to_pylist()


def test_all_55_fields_get_their_types() -> None:
    event = {f.key: None for f in FIELDS} | {
        "uuid": "u",
        "event_time": "2024-01-02 03:04:05.123456",
        "amplitude_id": 2**62,
        "session_id": -1,
        "location_lat": 1.5,
        "is_attribution_event": True,
        "paying": True,
        "$schema": 12,
        "amplitude_attribution_ids": ["a", "b"],
        "event_properties": {"k": [1]},
    }
    rows, rejects = _normalise(json.dumps(event))
    assert rejects == []
    row = rows[0]
    assert row["event_time"] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert row["amplitude_id"] == 2**62 and row["session_id"] == -1
    assert row["location_lat"] == 1.5 and row["is_attribution_event"] is True
    assert row["paying"] == "true" and row["schema"] == "12"
    assert json.loads(row["amplitude_attribution_ids"]) == ["a", "b"]
    assert json.loads(row["event_properties"]) == {"k": [1]}
    assert row["extra_fields"] is None


@pytest.mark.parametrize(
    "key, value, column",
    [
        ("amplitude_id", 1.5, "amplitude_id"),  # DuckDB would round it to 2
        ("amplitude_id", "12abc", "amplitude_id"),
        ("amplitude_id", 2**64, "amplitude_id"),  # beyond BIGINT
        ("event_time", "2024-01-01 05:00:00+02:00", "event_time"),  # an offset DuckDB drops
        ("event_time", "2024-01-01T05:00:00Z", "event_time"),
        ("event_time", "2024-01-01", "event_time"),
        ("is_attribution_event", "yes", "is_attribution_event"),
        ("location_lat", "north", "location_lat"),
        ("session_id", {"a": 1}, "session_id"),
        # Another JSON type is a misfit too, never converted: a string is no number or boolean,
        # a number no string, and a null nested in a misfit stays.
        ("amplitude_id", "123", "amplitude_id"),
        ("location_lat", "52.5", "location_lat"),
        ("is_attribution_event", "true", "is_attribution_event"),
        ("user_id", 12345, "user_id"),
        ("event_type", {"": None, "x": [None]}, "event_type"),
        ("paying", 0.5, "paying"),
    ],
)
def test_values_that_do_not_fit_go_to_extra_fields_untouched(
    key: str, value: object, column: str
) -> None:
    rows, rejects = _normalise(json.dumps({"uuid": "u", key: value}))
    assert rejects == []
    assert rows[0][column] is None
    assert json.loads(str(rows[0]["extra_fields"])) == {key: value}


def test_unknown_keys_are_kept_with_json_equal_values() -> None:
    line = '{"uuid":"u","new_field":{"n":18446744073709551617,"s":"é🎉"},"other":[1,2]}'
    rows, _ = _normalise(line)
    extra = str(rows[0]["extra_fields"])
    assert json.loads(extra) == {
        "new_field": {"n": 18446744073709551617, "s": "é🎉"},
        "other": [1, 2],
    }
    assert "18446744073709551617" in extra


def test_empty_and_null_timestamps_are_null_and_fractions_are_optional() -> None:
    rows, _ = _normalise(
        json.dumps(
            {
                "uuid": "a",
                "event_time": "",
                "client_event_time": None,
                "server_upload_time": "2024-01-01 05:00:00",
            }
        )
    )
    assert rows[0]["event_time"] is None and rows[0]["client_event_time"] is None
    assert rows[0]["server_upload_time"] == datetime(2024, 1, 1, 5)
    assert rows[0]["extra_fields"] is None


def test_malformed_lines_are_rejected_with_a_reason_and_their_line_number() -> None:
    rows, rejects = _normalise(
        '{"uuid": "ok"}',
        "not json",
        "[1, 2]",
        "null",
        '{"event_type": "no uuid"}',
        '{"uuid": "x"} trailing',
        '{"uuid": ""}',
        '{"uuid": 7}',
        '{"uuid": "a", "uuid": "b"}',
    )
    assert [r["uuid"] for r in rows] == ["ok"]
    assert [(r["line_no"], r["reason"]) for r in rejects] == [
        (2, "invalid JSON"),
        (3, "not a JSON object"),
        (4, "not a JSON object"),
        (5, "missing uuid"),
        (6, "invalid JSON"),
        (7, "missing uuid"),
        (8, "uuid is not a JSON string"),
        (9, "a top-level key appears twice"),
    ]
    assert rejects[0]["line"] == "not json"


def test_overlong_lines_are_rejected_without_parsing() -> None:
    block = LineBlock.from_bytes(b'{"uuid":"a"}\n{"uuid":"' + b"x" * 500 + b'"}', 1)
    normaliser = Normaliser(threads=1, max_line_bytes=100)
    result = normalise(normaliser, block.lines, block.line_numbers, pa.array([0, 0], pa.int32()))
    assert result.events.column("uuid").to_pylist() == ["a"]
    assert result.rejects.column("reason").to_pylist() == ["line longer than 100 bytes"]


def _batch(part: int, lines: list[bytes]) -> pa.RecordBatch:
    block = LineBlock.from_bytes(b"\n".join(lines), 1)
    parts = pa.array([part] * len(block.lines), pa.int32())
    return pa.record_batch([block.line_numbers, parts, block.lines], schema=LINES_SCHEMA)


def test_a_stream_hands_back_every_line_once_in_order() -> None:
    batches = [
        _batch(0, [json.dumps({"uuid": f"a{i}"}).encode() for i in range(5)]),
        _batch(1, [b"not json", json.dumps({"uuid": "b"}).encode()]),
        _batch(2, [json.dumps({"uuid": "c"}).encode(), b'{"uuid":"' + b"x" * 500 + b'"}']),
    ]
    normaliser = Normaliser(threads=2, max_line_bytes=100)
    try:
        results = list(normaliser.stream(iter(batches), output_rows=2))
    finally:
        normaliser.close()
    assert len(results) > 3  # handed back in pieces
    events = pa.concat_tables([r.events for r in results])
    rejects = pa.concat_tables([r.rejects for r in results])
    assert events.column("uuid").to_pylist() == ["a0", "a1", "a2", "a3", "a4", "b", "c"]
    assert events.column("part").to_pylist() == [0] * 5 + [1, 2]
    assert sorted(zip(*rejects.select(["part", "reason"]).to_pydict().values(), strict=True)) == [
        (1, "invalid JSON"),
        (2, "line longer than 100 bytes"),
    ]


def test_a_failing_input_stream_raises_its_own_error() -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield _batch(0, [json.dumps({"uuid": "a"}).encode()])
        raise ArchiveError("member x is corrupt", remedy="download it again")

    normaliser = Normaliser(threads=2)
    try:
        with pytest.raises(ArchiveError, match="member x is corrupt"):
            list(normaliser.stream(failing()))
        [again] = normaliser.stream([_batch(0, [b'{"uuid":"z"}'])])  # still usable
        assert again.events.column("uuid").to_pylist() == ["z"]
    finally:
        normaliser.close()


def test_no_lines_give_empty_results() -> None:
    normaliser = Normaliser(threads=1)
    try:
        batch = _batch(0, [b"   "])  # a blank line is skipped, so no lines at all
        result = normalise(
            normaliser, batch.column("line"), batch.column("line_no"), batch.column("part")
        )
    finally:
        normaliser.close()
    assert result.events.num_rows == 0 and result.rejects.num_rows == 0
    assert "uuid" in result.events.column_names
