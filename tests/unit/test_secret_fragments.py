"""A server that echoes the keys where the loader cuts its answer leaks no part of them.

Every message that quotes a server's answer is cut to a length (the Export API's 404 to 200
characters, an error's body to 2,000). The server here places the key, the secret and the Basic
token across each cut, at every offset, and no run of 8 characters of either key may come out,
raw, URL-encoded or inside any base64 text.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from loader.amplitude.export_api import ExportApi
from loader.archive import Guards
from loader.errors import HttpError
from loader.hours import parse_hour
from loader.http import HttpClient, RetryPolicy
from loader.planner import Window
from loader.secrets import Secret, redact
from tests.secret_leaks import RUN
from tests.secret_leaks import leaks as find_leaks
from tests.unit.test_http_client import Answer, Script

API_KEY = "fragApiKey0123456789abcdefABCDEF"
SECRET_KEY = "fragSecret/With+Special=Chars&9z"
TOKEN = base64.b64encode(f"{API_KEY}:{SECRET_KEY}".encode()).decode()
CREDENTIALS = f" secret_key={SECRET_KEY} api_key={API_KEY} {TOKEN} Basic {TOKEN} "
CUTS = (200, 2000)  # the Export API's 404 message, and any error's body


def leaks(text: str) -> list[str]:
    return find_leaks(text, API_KEY, SECRET_KEY)


def test_the_leak_check_finds_every_form_it_looks_for() -> None:
    assert leaks(f"x {SECRET_KEY[5:13]} y") and leaks(quote(API_KEY, safe="")[3:11])
    assert leaks(TOKEN[10:18]) and leaks(base64.b64encode(b"?" + SECRET_KEY.encode()).decode())
    assert not leaks("route not found: ....... secret_key=*** api_key=*** ***")


def _across_cuts(offset: int) -> str:
    """A body that holds the credentials starting `offset` characters before each cut."""
    body = "route not found:"
    for cut in CUTS:
        body += "." * (cut - offset - len(body)) + CREDENTIALS
    return body


def test_no_part_of_a_key_survives_a_cut_at_any_offset(server: Script, tmp_path: Path) -> None:
    auth = (API_KEY, Secret(SECRET_KEY))
    client = HttpClient(server.url, auth=auth, retry=RetryPolicy(attempts=1), name="Export API")
    export = ExportApi(client, "187520", Guards())
    window = Window(parse_hour("2024-03-01T00"), parse_hour("2024-03-01T00"))
    offsets = range(-RUN, len(CREDENTIALS) + RUN)
    # The Export API's 404, quoted in the message and kept as the body; any other status, kept
    # as the body; a structured 400 whose message is quoted whole.
    for offset in offsets:
        body = _across_cuts(offset).encode()
        plain = {"Content-Type": "text/plain"}
        server.answers += [Answer(404, body, plain), Answer(418, body, plain)]
    for offset in range(0, len(CREDENTIALS), 7):
        error = {"error": {"message": _across_cuts(offset)[:250], "metadata": {"details": "x"}}}
        server.answers.append(Answer(400, json.dumps(error).encode()))

    texts = []
    for _ in offsets:
        for call in (lambda: export.export(window, tmp_path / "w.zip"), lambda: client.get("/x")):
            with pytest.raises(HttpError) as raised:
                call()
            texts.append(f"{raised.value} | {raised.value.body} | {raised.value.args!r}")
    for _ in range(0, len(CREDENTIALS), 7):
        with pytest.raises(HttpError) as raised:
            export.export(window, tmp_path / "w.zip")
        assert "rejected the export request" in str(raised.value)
        texts.append(str(raised.value))

    assert len(texts) == 2 * len(offsets) + len(range(0, len(CREDENTIALS), 7))
    assert all("***" in text for text in texts)
    for text in texts:
        assert not leaks(text), (leaks(text), text)


def test_a_slice_of_a_key_is_masked_inside_any_text() -> None:
    Secret(SECRET_KEY)
    for start in range(len(SECRET_KEY) - RUN):
        sliced = SECRET_KEY[start : start + RUN + start % 5]
        assert not leaks(
            redact(f"echo:{sliced}|" + base64.b64encode(b"ab" + sliced.encode()).decode())
        )
    short = f"a slice shorter than a run stays: {SECRET_KEY[3 : 3 + RUN - 1]}"
    assert redact(short) == short
