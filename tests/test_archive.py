"""Reading export zips: safe names, natural order, line handling, guards."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from loader.amplitude.members import parse_member_name
from loader.amplitude.normalise import Normaliser
from loader.archive import Guards, LineBlock, MemberReader, safe_members, verify_zip
from loader.errors import ArchiveError
from loader.http import TransientError
from tests.normalising import normalise


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_member_names_parse_with_unpadded_hours_and_any_part_number() -> None:
    name = parse_member_name("187520/187520_2024-03-02_7#13.json.gz")
    assert (name.project, name.hour, name.part) == (187520, datetime(2024, 3, 2, 7, tzinfo=UTC), 13)
    names = [
        "1/1_2024-03-02_10#0.json.gz",
        "1/1_2024-03-02_2#1.json.gz",
        "1/1_2024-03-02_2#0.json.gz",
        "1/1_2024-03-01_23#5.json.gz",
    ]
    ordered = [n.name for n in sorted(parse_member_name(n) for n in names)]
    assert ordered == [names[3], names[2], names[1], names[0]]  # natural, not lexicographic


@pytest.mark.parametrize("bad", ["1/1_2024-03-02.json.gz", "1/1_2024-03-02_24#0.json.gz"])
def test_member_names_that_name_no_hour_are_refused(bad: str) -> None:
    with pytest.raises(ArchiveError):
        parse_member_name(bad)


@pytest.mark.parametrize(
    "name",
    [
        "/etc/1_2024-01-01_0#0.json.gz",
        "../1_2024-01-01_0#0.json.gz",
        "a/../../1_2024-01-01_0#0.json.gz",
        "C:/x.json.gz",
    ],
)
def test_unsafe_member_names_are_refused(tmp_path: Path, name: str) -> None:
    path = _zip(tmp_path / "x.zip", {name: gzip.compress(b"{}")})
    with zipfile.ZipFile(path) as archive, pytest.raises(ArchiveError, match="unsafe"):
        safe_members(archive, ".json.gz")


def test_only_json_gz_members_are_read(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "x.zip",
        {
            "1/": b"",
            "1/readme.txt": b"x",
            "1/_complete": b"",
            "1/1_2024-01-01_0#0.json.gz": gzip.compress(b"{}"),
        },
    )
    with zipfile.ZipFile(path) as archive:
        assert [m.filename for m in safe_members(archive, ".json.gz")] == [
            "1/1_2024-01-01_0#0.json.gz"
        ]


def test_lines_tolerate_blank_lines_no_final_newline_and_crlf() -> None:
    block = LineBlock.from_bytes(b'{"a":1}\r\n\n   \n{"b":2}\n\t\n{"c":3}', first_line=1)
    assert [line.strip() for line in block.lines.to_pylist()] == ['{"a":1}', '{"b":2}', '{"c":3}']
    assert block.line_numbers.to_pylist() == [1, 4, 6]


def test_members_stream_in_blocks_with_correct_line_numbers(tmp_path: Path) -> None:
    lines = [json.dumps({"uuid": str(i), "pad": "x" * (i % 50)}) for i in range(5000)]
    data = "\n".join(lines).encode()  # no final newline
    path = _zip(
        tmp_path / "x.zip",
        {
            "1/1_2024-01-01_0#0.json.gz": gzip.compress(data),
            "1/1_2024-01-01_0#1.json.gz": gzip.compress(b""),
        },
    )
    with zipfile.ZipFile(path) as archive:
        reader = MemberReader(archive, Guards(), block_bytes=10_000)
        members = safe_members(archive, ".json.gz")
        blocks = list(reader.blocks(members[0]))
        assert list(reader.blocks(members[1])) == []  # an empty member is fine
    assert len(blocks) > 10
    got = [line.rstrip("\n") for b in blocks for line in b.lines.to_pylist()]
    numbers = [n for b in blocks for n in b.line_numbers.to_pylist()]
    assert got == lines
    assert numbers == list(range(1, 5001))


def test_the_uncompressed_guard_stops_a_zip_bomb(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "x.zip", {"1/1_2024-01-01_0#0.json.gz": gzip.compress(b"{}\n" * 100_000)}
    )
    with zipfile.ZipFile(path) as archive:
        reader = MemberReader(archive, Guards(max_uncompressed_bytes=50_000), block_bytes=10_000)
        with pytest.raises(ArchiveError, match="decompresses to more than 50,000 bytes"):
            list(reader.blocks(safe_members(archive, ".json.gz")[0]))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_the_expansion_guard_stops_a_member_that_expands_like_a_bomb_early(
    tmp_path: Path, compression: int
) -> None:
    line = json.dumps({"uuid": "same", "event_type": "x" * 200}).encode() + b"\n"
    bomb = gzip.compress(line * 200_000, compresslevel=9)  # 45 MB of one line: over 500:1
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("1/1_2024-01-01_0#0.json.gz", bomb)
    guards = Guards(expansion_floor_bytes=1 << 20)
    with zipfile.ZipFile(path) as archive:
        reader = MemberReader(archive, guards, block_bytes=1 << 18)
        with pytest.raises(ArchiveError, match=r"expands [\d,]+ times \(over the guard of 100\)"):
            list(reader.blocks(safe_members(archive, ".json.gz")[0]))
        # stopped long before its end: once the compressed bytes read ahead are expanded
        assert reader.uncompressed_bytes < len(line) * 200_000 / 2

    # An export that expands like real ones (about 10 times) passes the same guard.
    varied = b"".join(
        json.dumps({"uuid": f"u{i}", "n": i * 7919 % 100_003}).encode() + b"\n"
        for i in range(100_000)
    )
    normal = _zip(tmp_path / "normal.zip", {"1/1_2024-01-01_0#0.json.gz": gzip.compress(varied)})
    with zipfile.ZipFile(normal) as archive:
        reader = MemberReader(archive, guards, block_bytes=1 << 18)
        assert sum(b.nbytes for b in reader.blocks(safe_members(archive, ".json.gz")[0])) > 2 << 20


def test_verify_zip_accepts_zips_and_refuses_the_rest(tmp_path: Path) -> None:
    good = _zip(tmp_path / "good.zip", {"a.json.gz": gzip.compress(b"{}")})
    verify_zip(good)
    (tmp_path / "html").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(TransientError, match="not a zip"):
        verify_zip(tmp_path / "html")
    data = good.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(TransientError, match="damaged"):
        verify_zip(tmp_path / "cut.zip")
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    (tmp_path / "empty.zip").write_bytes(buffer.getvalue())
    verify_zip(tmp_path / "empty.zip")


@pytest.mark.parametrize("block_bytes", [1000, 4096, 65_536])
def test_a_line_over_the_guard_is_one_reject_and_skipped_whole_to_its_newline(
    tmp_path: Path, block_bytes: int
) -> None:
    guard = 10_000
    hidden = json.dumps({"uuid": "hidden", "event_type": "inside the long line"})
    # A 50,000-byte line with a whole event inside it after byte 40,000, then ordinary lines.
    long_line = "x" * 40_000 + "é" + hidden + "y" * (10_000 - len(hidden))
    lines = [json.dumps({"uuid": "before"}), long_line] + [
        json.dumps({"uuid": f"after-{i}"}) for i in range(300)
    ]
    path = _zip(
        tmp_path / "x.zip", {"1/1_2024-01-01_0#0.json.gz": gzip.compress("\n".join(lines).encode())}
    )
    with zipfile.ZipFile(path) as archive:
        reader = MemberReader(archive, Guards(max_line_bytes=guard), block_bytes=block_bytes)
        blocks = list(reader.blocks(safe_members(archive, ".json.gz")[0]))
    got = [line for b in blocks for line in b.lines.to_pylist()]
    numbers = [n for b in blocks for n in b.line_numbers.to_pylist()]
    assert numbers == list(range(1, len(lines) + 1))  # the long line counts once
    assert [len(line.encode()) > guard + 1 for line in got].count(True) == 1  # one reject
    short = [line for line in got if len(line.encode()) <= guard + 1]
    assert not any("hidden" in line for line in short)  # no piece of it can load as an event
    assert [line.rstrip("\n") for line in got[2:]] == lines[2:]

    normaliser = Normaliser(threads=1, max_line_bytes=guard)
    block = pa.array(got, pa.large_string())
    result = normalise(
        normaliser, block, pa.array(numbers, pa.int64()), pa.array([0] * len(got), pa.int32())
    )
    assert result.events.num_rows == len(lines) - 1
    assert "hidden" not in result.events.column("uuid").to_pylist()
    [reject] = result.rejects.to_pylist()
    assert reject["line_no"] == 2 and reject["reason"] == f"line longer than {guard:,} bytes"
    assert reject["line"] == "x" * 4096
