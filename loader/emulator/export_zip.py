"""What an emulated export holds: a zip of gzipped JSON-lines members, damaged on request."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Iterable
from datetime import datetime

from loader.emulator.generator import SyntheticProject

#: Lines with bytes that are not UTF-8: in a string, in a property bag, in an unknown field,
#: and on a line that is not JSON at all.
NOT_UTF8 = (
    b'{"uuid": "bad-utf8-string", "event_type": "Caf\xe9 Opened"}',
    b'{"uuid": "bad-utf8-bag", "event_type": "x", "event_properties": {"k": "\xff\xfe"}}',
    b'{"uuid": "bad-utf8-unknown", "event_type": "x", "new_field": "\xc3\x28"}',
    b"\x80\x81 not even JSON",
)


def export_zip(
    project: SyntheticProject,
    hours: Iterable[datetime],
    gzip_level: int,
    *,
    bad_lines: int = 0,
    bad_bytes: int = 0,
    cut_lines: int = 0,
) -> bytes | None:
    """Build the zip of some upload hours, or None if none of them has data.

    Args:
        project: The project.
        hours: The hours (already limited to those exported).
        gzip_level: Compression of the members.
        bad_lines: Malformed lines to add to each member.
        bad_bytes: Lines with a byte that is not UTF-8 to add to each member (in a string,
            a property bag, an unknown field, a line that is not JSON, in turn).
        cut_lines: Events of each member cut in the middle (rejects that hold a user's ids).

    Returns:
        The zip's bytes, or None.
    """
    buffer = io.BytesIO()
    members = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for hour in hours:
            for name, events in project.parts(hour):
                lines = [json.dumps(e, ensure_ascii=False).encode() for e in events]
                for at in range(0, min(cut_lines * 3, len(lines)), 3):
                    lines[at] = lines[at][: len(lines[at]) // 2]
                for i in range(bad_lines):
                    lines.insert(min(i * 7, len(lines)), b'{"uuid": "broken", "event_type": ')
                for i in range(bad_bytes):
                    lines.insert(min(i * 5 + 1, len(lines)), NOT_UTF8[i % len(NOT_UTF8)])
                text = b"\n".join(lines)  # no newline after the last line, as some members
                archive.writestr(name, gzip.compress(text, gzip_level, mtime=0))
                members += 1
    return buffer.getvalue() if members else None


def corrupt_first_member(body: bytes) -> bytes:
    """Flip one byte inside the first member's data, leaving its recorded checksum stale."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        info = archive.infolist()[0]
    header = info.header_offset
    name_length = int.from_bytes(body[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(body[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    target = start + min(info.compress_size - 1, 20)
    return body[:target] + bytes([body[target] ^ 0xFF]) + body[target + 1 :]
