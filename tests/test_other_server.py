"""Against an Amplitude-compatible server that is not the emulator, the loader gets the same
events as a plain download-and-parse of the same export."""

from __future__ import annotations

import gzip
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.secrets import Secret
from tests.conftest import catalog_rows
from tests.truth import comparable, expected_row

HOUR = datetime(2023, 6, 1, 14, tzinfo=UTC)
EVENTS = [
    {
        "uuid": "11111111-0000-0000-0000-000000000001",
        "event_type": "Opened",
        "app": 42,
        "event_time": "2023-06-01 13:59:59.999999",
        "server_upload_time": "2023-06-01 14:00:01.5",
        "user_id": None,
        "amplitude_id": 1,
        "event_properties": {"ü": [1, {"x": None}]},
        "user_properties": {},
        "session_id": -1,
        "paying": "(none)",
        "$insert_id": "a",
    },
    {
        "uuid": "11111111-0000-0000-0000-000000000002",
        "event_type": "Closed",
        "app": 42,
        "event_time": "2023-06-01 12:00:00",
        "server_upload_time": "2023-06-01 14:59:59.000001",
        "user_id": "u",
        "device_id": "d",
        "amplitude_id": 9007199254740993,
        "$insert_id": "a",
        "location_lat": -33.8688,
        "is_attribution_event": False,
        "a_new_field": {"k": "v"},
    },
]


def _export_zip() -> bytes:
    text = "\n".join(json.dumps(e) for e in EVENTS) + "\n\n"  # a blank line at the end
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("42/", b"")
        archive.writestr("42/42_2023-06-01_14#3.json.gz", gzip.compress(text.encode()))
    return buffer.getvalue()


BODY = _export_zip()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.headers.get("Authorization") is None:
            self.send_response(403)
            self.end_headers()
            return
        wanted = "/api/2/export?start=20230601T14&end=20230601T14"
        body, status = (
            (BODY, 200) if self.path == wanted else (b"Raw data files were not found.", 404)
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def other_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_loader_matches_a_plain_download_and_parse(other_server: str, tmp_path: Path) -> None:
    settings = LoaderSettings(
        lake_root=str(tmp_path / "lake"), catalog_path=str(tmp_path / "catalog.duckdb")
    )
    project = ProjectConfig(42, Secret("other-key"), Secret("other-secret"), base_url=other_server)
    sync_projects([project], settings, start=HOUR, end=HOUR, now=datetime(2024, 1, 1, tzinfo=UTC))

    # A plain download-and-parse of the same export, with nothing from the loader.
    plain = requests.get(
        f"{other_server}/api/2/export",
        params={"start": "20230601T14", "end": "20230601T14"},
        auth=("other-key", "other-secret"),
        timeout=10,
    )
    parsed = []
    with zipfile.ZipFile(io.BytesIO(plain.content)) as archive:
        for name in archive.namelist():
            if name.endswith(".json.gz"):
                for line in gzip.decompress(archive.read(name)).decode().splitlines():
                    if line.strip():
                        parsed.append(json.loads(line))
    expected = {e["uuid"]: expected_row(e, HOUR, 42) for e in parsed}
    loaded = {r["uuid"]: comparable(r) for r in catalog_rows(settings)}
    assert loaded == expected
    assert loaded[EVENTS[1]["uuid"]]["extra_fields"] == {"a_new_field": {"k": "v"}}
    assert loaded[EVENTS[1]["uuid"]]["amplitude_id"] == 9007199254740993
