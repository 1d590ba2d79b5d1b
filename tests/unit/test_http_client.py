"""The HTTP client alone, against a scripted server on loopback: retries, auth, downloads.

Each test gives the server the answers to send, in order, and reads back what it was asked.
"""

from __future__ import annotations

import hashlib
import json
import socket
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loader.errors import AuthError, HttpError
from loader.http import HttpClient, RetryPolicy
from loader.http.policy import TransientError
from loader.secrets import Secret

RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05, deadline_seconds=60)
PASSWORD = "unit-secret-9f3a"


@dataclass
class Answer:
    """One scripted response."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    cut_after: int | None = None  # close the connection after this many body bytes


class Script(ThreadingHTTPServer):
    """Serves `answers` in order and records each request's path and headers."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: list[Answer] = []
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Script

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        answer = self.server.answers.pop(0)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body[: answer.cut_after])
        if answer.cut_after is not None:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def _client(server: Script, **kwargs: object) -> HttpClient:
    return HttpClient(
        server.url,
        auth=("unit-key", Secret(PASSWORD)),
        retry=RETRY,
        retry_hint="set RETRY_MINUTES",
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_throttled_call_waits_and_succeeds_with_basic_auth(server: Script) -> None:
    server.answers = [
        Answer(429, b"slow down", {"Retry-After": "0"}),
        Answer(body=json.dumps({"ok": 1}).encode()),
    ]
    fetched = _client(server).get("/api/thing", {"q": "1"})
    assert fetched.status == 200 and fetched.json_body == {"ok": 1} and fetched.attempts == 2
    assert [path for path, _ in server.requests] == ["/api/thing?q=1"] * 2
    assert all(h["Authorization"].startswith("Basic ") for _, h in server.requests)


def test_a_call_that_keeps_failing_gives_up_after_the_policy_and_names_the_remedy(
    server: Script,
) -> None:
    server.answers = [Answer(503, b"down")] * 3
    with pytest.raises(HttpError) as raised:
        _client(server).get("/api/thing")
    assert len(server.requests) == 3
    assert "3 attempts" in str(raised.value) and "set RETRY_MINUTES" in raised.value.describe()


def test_refused_credentials_fail_at_once_and_an_echoed_secret_is_masked(server: Script) -> None:
    server.answers = [Answer(401, f"bad key; you sent {PASSWORD}".encode(), {})]
    with pytest.raises(AuthError) as raised:
        _client(server, auth_hint="fix the keys").get("/api/thing")
    assert len(server.requests) == 1
    text = f"{raised.value} {raised.value.describe()} {raised.value.body}"
    assert PASSWORD not in text and "fix the keys" in text


def test_an_accepted_status_is_returned_to_the_caller_not_raised(server: Script) -> None:
    server.answers = [Answer(404, b"no data", {})]
    fetched = _client(server).get("/api/thing", accept=frozenset({404}))
    assert (fetched.status, fetched.body) == (404, "no data")


def test_a_download_throttled_then_cut_short_is_fetched_again_whole(
    server: Script, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 64
    server.answers = [
        Answer(503, b"busy", {"Retry-After": "0"}),
        Answer(body=body, headers={}, cut_after=1000),
        Answer(body=body, headers={}),
    ]
    seen: list[int] = []
    fetched = _client(server).download("/export", None, tmp_path / "x.zip", progress=seen.append)
    assert fetched.attempts == 3 and fetched.bytes == len(body)
    assert (tmp_path / "x.zip").read_bytes() == body
    assert fetched.sha256 == hashlib.sha256(body).hexdigest()
    assert sum(seen) >= len(body)


def test_a_download_the_validator_rejects_is_retried_then_given_up(
    server: Script, tmp_path: Path
) -> None:
    server.answers = [Answer(body=b"not a zip", headers={})] * 3

    def validate(path: Path) -> None:
        raise TransientError(f"{path.name} is damaged")

    with pytest.raises(HttpError):
        _client(server).download("/export", None, tmp_path / "x.zip", validate=validate)
    assert len(server.requests) == 3
    assert not (tmp_path / "x.zip").exists()  # a given-up download leaves no file


def test_a_download_over_its_limit_is_refused_before_the_body(
    server: Script, tmp_path: Path
) -> None:
    server.answers = [Answer(body=b"x" * 5000, headers={})]
    with pytest.raises(HttpError, match="over the limit"):
        _client(server).download("/export", None, tmp_path / "x.zip", max_bytes=4096)
    assert len(server.requests) == 1


def test_a_signed_link_gets_no_credentials_and_its_signature_is_masked(server: Script) -> None:
    server.answers = [Answer(403, b"expired", {})]
    link, path = _client(server).for_link(f"{server.url}/bucket/f.csv?X-Sig=unit-sig-77", "S3")
    assert path == "/bucket/f.csv?X-Sig=unit-sig-77"
    with pytest.raises(AuthError) as raised:
        link.get(path)
    assert "Authorization" not in server.requests[0][1]
    assert "unit-sig-77" not in f"{raised.value} {raised.value.describe()}"


def test_nothing_listening_on_loopback_fails_at_once_without_retrying() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    policy = RetryPolicy(attempts=None, base_seconds=0.01, cap_seconds=0.1, deadline_seconds=5)
    client = HttpClient(f"http://127.0.0.1:{port}", retry=policy)
    with pytest.raises(HttpError, match="nothing listens"):
        client.get("/api/thing")
