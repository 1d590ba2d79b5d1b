"""Large synthetic exports for the benchmark, written to disk once and reused.

Generating millions of events one by one in Python is far slower than loading them, so a few
thousand realistic events from `SyntheticProject` serve as templates: each output line is a
template with its own uuid, `$insert_id` and six timestamps written into it, so that the
columns where real events never repeat a value do not repeat here either (a column of 4,000
repeated times would flatter dictionary encodings and compression). Members are compressed with
ISA-L in one process per core. The result has the shape of a real day: one zip, stored entries,
`<project>/<project>_<date>_<H>#<N>.json.gz` members of gzipped JSON lines.
"""

from __future__ import annotations

import functools
import json
import os
import re
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from isal import igzip

from loader.emulator.generator import SyntheticProject

_UUID = "00000000-0000-4000-8000-{:012x}"
_FIRST_DAY = datetime(2024, 3, 1, tzinfo=UTC)
_PER_DAY = 10**10
TEMPLATES = 4000
PART_EVENTS = 40_000


@dataclass(frozen=True)
class BulkSpec:
    """What to generate.

    Attributes:
        events: Events in the whole export.
        day: The upload day (UTC midnight).
        project: The synthetic project.
    """

    events: int
    day: datetime
    project: SyntheticProject


#: The keys given a fresh value in every line, and the placeholder each template holds.
FRESH = (
    "uuid",
    "$insert_id",
    "server_upload_time",
    "server_received_time",
    "client_upload_time",
    "client_event_time",
    "event_time",
    "processed_time",
)
_PLACEHOLDER = re.compile(r'"@(\d)@"')
#: The attribution user properties Amplitude's SDKs set on every user, "EMPTY" when unknown: with
#: them the events weigh what real exports' do (about 2.3 KB of JSON) rather than 1.9 KB.
ATTRIBUTION = {
    f"initial_{key}": "EMPTY"
    for key in (
        "referrer",
        "referring_domain",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "dclid",
        "msclkid",
        "ttclid",
        "twclid",
        "gbraid",
        "wbraid",
    )
}


@functools.lru_cache(maxsize=4)
def _templates(project: SyntheticProject, day: datetime) -> list[tuple[list[str], list[int]]]:
    """Split template events around their fresh values: the text between them, and their order."""
    templates: list[tuple[list[str], list[int]]] = []
    hour = day
    while len(templates) < TEMPLATES:
        for event in project.events(hour):
            event = dict(event, **{key: f"@{n}@" for n, key in enumerate(FRESH)})
            if isinstance(event["user_properties"], dict):
                event["user_properties"] = {**ATTRIBUTION, **event["user_properties"]}
            pieces = _PLACEHOLDER.split(json.dumps(event, ensure_ascii=False))
            templates.append((pieces[0::2], [int(n) for n in pieces[1::2]]))
        hour += timedelta(hours=1)
    return templates[:TEMPLATES]


def _fresh(upload: datetime, number: int) -> list[str]:
    """The fresh values of one event, as JSON, in `FRESH` order (times a little before upload)."""
    event = upload - timedelta(microseconds=(number * 104_729) % 600_000_000)

    def at(moment: datetime) -> str:
        return f'"{moment:%Y-%m-%d %H:%M:%S.%f}"'

    return [
        f'"{_UUID.format(number)}"',
        f'"ins-{number:x}"',
        at(upload),
        at(upload - timedelta(milliseconds=number % 997)),
        at(upload - timedelta(seconds=1, milliseconds=number % 991)),
        at(event),
        at(event),
        at(upload + timedelta(seconds=2, milliseconds=number % 983)),
    ]


def _member(args: tuple[BulkSpec, int, int, int, Path]) -> Path:
    spec, hour, first, count, folder = args
    templates = _templates(spec.project, spec.day)
    start = spec.day + timedelta(hours=hour)
    # uuids stay unique across the days of a longer benchmark window.
    day_number = (spec.day - _FIRST_DAY).days
    out = folder / f"h{hour:02d}-{first}.gz"
    lines = []
    for i in range(first, first + count):
        texts, order = templates[i % TEMPLATES]
        upload = start + timedelta(microseconds=(i * 7919) % 3_600_000_000)
        values = _fresh(upload, day_number * _PER_DAY + i)
        line = [texts[0]]
        for slot, text in zip(order, texts[1:], strict=True):
            line += [values[slot], text]
        lines.append("".join(line) + "\n")
    out.write_bytes(igzip.compress("".join(lines).encode(), compresslevel=2))
    return out


def write_export(spec: BulkSpec, path: Path, workers: int | None = None) -> Path:
    """Write a one-day export zip of `spec.events` events to `path` (reused if present).

    Args:
        spec: What to generate.
        path: The zip's path.
        workers: Processes (default: one per core).

    Returns:
        The path.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent / f".{path.name}.parts"
    folder.mkdir(exist_ok=True)
    per_hour = spec.events // 24
    jobs = []
    for hour in range(24):
        count = per_hour + (spec.events % 24 if hour == 23 else 0)
        base = hour * per_hour
        for offset in range(0, count, PART_EVENTS):
            jobs.append((spec, hour, base + offset, min(PART_EVENTS, count - offset), folder))
    with ProcessPoolExecutor(workers or os.cpu_count() or 2) as pool:
        parts = list(pool.map(_member, jobs))
    pid = spec.project.project_id
    building = path.with_name(path.name + ".building")
    with zipfile.ZipFile(building, "w", compression=zipfile.ZIP_STORED) as archive:
        numbers: dict[int, int] = {}
        for (_, hour, _, _, _), part in zip(jobs, parts, strict=True):
            number = numbers.get(hour, 0)
            numbers[hour] = number + 1
            archive.write(part, f"{pid}/{pid}_{spec.day:%Y-%m-%d}_{hour}#{number}.json.gz")
            part.unlink()
    folder.rmdir()
    building.replace(path)
    return path
