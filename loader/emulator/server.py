"""The emulator's HTTP server: Amplitude's endpoints on loopback, plus an admin API for tests.

Endpoints:

* `GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH` as documented: Basic auth (403 on bad
  keys), inclusive range, a zip of stored `.json.gz` members, 404 `Raw data files were not found.`
  for an empty range, 400 when the zip would exceed `max_export_bytes` (standing in for 4 GB).
  Hours newer than `now - ready_hours` are not exported yet.
* `GET` and `POST /api/2/deletions/users`: the User Privacy API's deletion jobs, whose status
  moves with the clock (`loader.emulator.deletions`).
* `GET /sdk/v2/flags` and `/v1/vardata`: Amplitude Experiment's flag configurations and remote
  evaluation, per deployment key (`loader.emulator.experiment`).
* `GET /_emulator/health`, `GET /_emulator/truth?project=&start=&end=` (the exact events of those
  upload hours as JSON lines), `GET /_emulator/requests`, `POST /_emulator/faults`,
  `DELETE /_emulator/faults`, `POST /_emulator/clock`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

from loader.emulator.deletions import Deletions, list_answer, request_answer
from loader.emulator.experiment import Experiment
from loader.emulator.export_zip import corrupt_first_member, export_zip
from loader.emulator.faults import FaultPlan, FaultRule
from loader.emulator.generator import SyntheticProject
from loader.emulator.metadata_routes import MetadataState, handle
from loader.hours import HOUR, floor_hour, hours_between

log = logging.getLogger(__name__)

#: How often the serving thread looks for a stop request: `stop` waits up to this long, and
#: the standard library's 0.5 s added half a second to every test that starts an emulator.
POLL_SECONDS = 0.02

NOT_FOUND_BODY = "Raw data files were not found."
TOO_LARGE_BODY = (
    "The file size of the exported data is too large. Shorten the time ranges and try again. The"
    " limit size is 4GB."
)


#: The User Privacy API's path (`loader.emulator.deletions`).
DELETIONS = "/api/2/deletions/users"


def _error_json(code: int, message: str, details: str = "") -> bytes:
    return json.dumps(
        {
            "error": {
                "http_code": code,
                "type": "invalid",
                "message": message,
                "metadata": {"details": details},
            }
        }
    ).encode()


class EmulatorServer:
    """An Amplitude-compatible server on 127.0.0.1.

    Args:
        projects: The synthetic projects it serves.
        port: The port (0 picks a free one).
        max_export_bytes: Zips larger than this get the size-limit 400.
        ready_hours: An hour is exported this many hours after it ends.
        now: A fixed clock; None follows the real one.
        faults: The fault plan.
        gzip_level: Compression of the members (6 as Amplitude's; 1 for speed).
        static_exports: Zips on disk to serve for exact (start, end) requests (the benchmark's).
    """

    def __init__(
        self,
        projects: list[SyntheticProject] | None = None,
        *,
        port: int = 0,
        max_export_bytes: int = 4 * 1024**3,
        ready_hours: int = 2,
        now: datetime | None = None,
        faults: FaultPlan | None = None,
        gzip_level: int = 6,
        static_exports: dict[tuple[str, str], Path] | None = None,
    ) -> None:
        self.projects = {p.api_key: p for p in (projects or [SyntheticProject()])}
        self.max_export_bytes = max_export_bytes
        self.ready_hours = ready_hours
        self.now = now
        self.faults = faults or FaultPlan()
        self.gzip_level = gzip_level
        self.metadata = MetadataState()
        self.deletions = Deletions()
        self.experiment = Experiment.of([p.project_id for p in self.projects.values()])
        self.static_exports = dict(static_exports or {})
        self.requests: list[dict[str, Any]] = []
        self._requests_lock = threading.Lock()
        #: Export requests being answered now, and the most there ever were at once (what a
        #: client's concurrency limit, such as a Dagster pool, must bound).
        self.exports_in_flight = 0
        self.peak_exports_in_flight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def clock(self) -> datetime:
        """Return the emulator's idea of now."""
        return self.now or datetime.now(UTC)

    def start(self) -> EmulatorServer:
        """Serve in a background thread.

        Returns:
            The server itself.
        """
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(POLL_SECONDS,), daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._httpd.serve_forever(POLL_SECONDS)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def export_requests(self) -> list[dict[str, Any]]:
        """Return the export requests received so far."""
        with self._requests_lock:
            return [r for r in self.requests if r["endpoint"] == "export"]

    def record(self, entry: dict[str, Any]) -> None:
        """Remember a request, for tests."""
        with self._requests_lock:
            self.requests.append(entry)

    def ready_until(self) -> datetime:
        """The newest upload hour that has been exported."""
        return floor_hour(self.clock()) - (self.ready_hours + 1) * HOUR + HOUR

    def project_for(self, header: str | None) -> SyntheticProject | None:
        """Return the project whose keys a Basic auth header carries."""
        if not header or not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        project = self.projects.get(user)
        return project if project and project.secret_key == password else None

    def build_export(
        self,
        project: SyntheticProject,
        first: datetime,
        last: datetime,
        bad_lines: int = 0,
        bad_bytes: int = 0,
        cut_lines: int = 0,
    ) -> bytes | None:
        """Build the zip of an export range (`export_zip`), of the hours exported by now.

        Returns:
            The zip's bytes, or None if no hour in the range has data.
        """
        hours = hours_between(first, min(last, self.ready_until()))
        return export_zip(
            project,
            hours,
            self.gzip_level,
            bad_lines=bad_lines,
            bad_bytes=bad_bytes,
            cut_lines=cut_lines,
        )


def _handler_for(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the body waits for the
        # client's delayed ACK, 40 ms a small response on Linux.
        disable_nagle_algorithm = True

        # An export request is recorded when its status line goes out, not after the body: a client
        # that has read a short error body may ask for the request log before this thread resumes.
        pending: dict[str, Any] | None = None

        def send_response(self, code: int, message: str | None = None) -> None:
            if self.pending is not None:
                self.pending["status"] = code
                server.record(self.pending)
                self.pending = None
            super().send_response(code, message)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("emulator: " + format, *args)

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            routes: dict[tuple[str, str], Callable[[dict[str, str]], None]] = {
                ("GET", "/api/2/export"): self._export,
                ("GET", "/_emulator/health"): lambda p: self._send(200, b'{"ok": true}', "json"),
                ("GET", "/_emulator/truth"): self._truth,
                ("GET", "/_emulator/requests"): self._requests,
                ("POST", "/_emulator/faults"): self._set_faults,
                ("DELETE", "/_emulator/faults"): self._clear_faults,
                ("POST", "/_emulator/clock"): self._set_clock,
                ("GET", DELETIONS): self._deletions,
                ("POST", DELETIONS): self._deletions,
            }
            handler = routes.get((method, parts.path))
            if handler is not None:
                handler(params)
                return
            headers = dict(self.headers.items())
            answer = server.experiment.answer(parts.path, params, headers) or handle(
                server, parts.path, params, headers
            )
            if answer is None:
                self._send(404, b"Not found", "text")
                return
            status, body, kind, headers = answer
            server.record({"endpoint": parts.path, "status": status, "time": time.time()})
            self._send(status, body, kind, headers)

        def _send(
            self,
            status: int,
            body: bytes,
            kind: str = "text",
            headers: dict[str, str] | None = None,
        ) -> None:
            content_type = {
                "json": "application/json",
                "zip": "application/zip",
                "html": "text/html",
                "ndjson": "application/x-ndjson",
                "csv": "text/csv",
            }.get(kind, "text/plain; charset=utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _export(self, params: dict[str, str]) -> None:
            project = server.project_for(self.headers.get("Authorization"))
            entry: dict[str, Any] = {
                "endpoint": "export",
                "start": params.get("start"),
                "end": params.get("end"),
                "time": time.time(),
            }
            faults = server.faults.draw("export", params)
            header = self.headers.get("X-Emulator-Fault")
            if header:
                faults += [FaultRule(kind=k.strip(), times=None) for k in header.split(",")]
            entry["faults"] = [f.kind for f in faults]
            self.pending = entry
            with server._requests_lock:
                server.exports_in_flight += 1
                server.peak_exports_in_flight = max(
                    server.peak_exports_in_flight, server.exports_in_flight
                )
            try:
                self._export_answer(project, params, faults)
            finally:
                with server._requests_lock:
                    server.exports_in_flight -= 1

        def _export_answer(
            self, project: SyntheticProject | None, params: dict[str, str], faults: list[FaultRule]
        ) -> None:
            kinds = {f.kind: f for f in faults}
            if project is None:
                self._send(403, _error_json(403, "Unspecified Error", "Invalid API Key"), "json")
                return
            if "slow_first_byte" in kinds:
                time.sleep(float(kinds["slow_first_byte"].params.get("seconds", 1.0)))
            for status in ("429", "500", "502", "503", "504"):
                if status in kinds:
                    headers = {}
                    if status == "429" and "retry_after" in kinds[status].params:
                        headers["Retry-After"] = str(kinds[status].params["retry_after"])
                    self._send(int(status), b"Too many requests or a server error", "text", headers)
                    return
            if "echo_headers" in kinds:
                echo = kinds["echo_headers"].params
                code = int(echo.get("status", 400))
                if "pad" in echo:
                    self._send(code, self._echo_after(int(echo["pad"])), "text")
                else:
                    self._send(code, self._echo(), "json")
                return
            if "plan_gated" in kinds:
                self._send(403, _error_json(403, "Forbidden", "Your plan does not include this"))
                return
            try:
                first = datetime.strptime(params["start"], "%Y%m%dT%H").replace(tzinfo=UTC)
                last = datetime.strptime(params["end"], "%Y%m%dT%H").replace(tzinfo=UTC)
            except (KeyError, ValueError):
                self._send(
                    400, _error_json(400, "Invalid request", "start and end: YYYYMMDDTHH"), "json"
                )
                return
            if last < first or last - first > timedelta(days=365):
                self._send(400, _error_json(400, "Invalid request", "range over 365 days"), "json")
                return
            static = server.static_exports.get((params["start"], params["end"]))
            if static is not None:
                self._send_file(static)
                return
            bad = int(kinds["bad_lines"].params.get("lines", 3)) if "bad_lines" in kinds else 0
            invalid = kinds["bad_bytes"].params.get("lines", 4) if "bad_bytes" in kinds else 0
            cut = int(kinds["cut_lines"].params.get("lines", 1)) if "cut_lines" in kinds else 0
            body = server.build_export(
                project, first, last, bad_lines=bad, bad_bytes=int(invalid), cut_lines=cut
            )
            if body is None:
                self._send(404, NOT_FOUND_BODY.encode(), "text")
                return
            if len(body) > server.max_export_bytes:
                self._send(400, TOO_LARGE_BODY.encode(), "text")
                return
            if "non_zip_body" in kinds:
                self._send(
                    200, b"<html><body>Service temporarily unavailable</body></html>", "html"
                )
                return
            if "truncated_zip" in kinds:
                self._send(200, body[: len(body) // 2], "zip")
                return
            if "corrupt_member" in kinds:
                body = corrupt_first_member(body)
            if "drop_mid_body" in kinds:
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, body, "zip")

        def _echo(self) -> bytes:
            """An error body that repeats the request's credentials in every common form."""
            header = self.headers.get("Authorization", "")
            token = header.partition(" ")[2]
            user, _, password = base64.b64decode(token).decode(errors="replace").partition(":")
            details = {
                "authorization": header,
                "url": self.path,
                "user": user,
                "password": password,
                "password_base64": base64.b64encode(password.encode()).decode(),
                "password_urlencoded": quote(password, safe=""),
                "user_urlencoded": quote_plus(user),
            }
            message = f"Invalid request; received Authorization: {header} ({details})"
            return _error_json(400, message, json.dumps(details))

        def _echo_after(self, pad: int) -> bytes:
            """A plain error that repeats the keys after `pad` characters, where a client cuts."""
            token = self.headers.get("Authorization", "").partition(" ")[2]
            user, _, password = base64.b64decode(token).decode(errors="replace").partition(":")
            filler = "." * pad
            return (
                f"route not found: {filler} secret_key={password} api_key={user} {token}".encode()
            )

        def _send_file(self, path: Path) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    self.wfile.write(chunk)

        def _truth(self, params: dict[str, str]) -> None:
            project = next(
                (p for p in server.projects.values() if str(p.project_id) == params.get("project")),
                None,
            )
            if project is None or "start" not in params or "end" not in params:
                self._send(400, b"give project, start and end (YYYYMMDDTHH)")
                return
            first = datetime.strptime(params["start"], "%Y%m%dT%H").replace(tzinfo=UTC)
            last = datetime.strptime(params["end"], "%Y%m%dT%H").replace(tzinfo=UTC)
            lines = []
            for hour in hours_between(first, last):
                for event in project.events(hour):
                    lines.append(
                        json.dumps(
                            {"upload_hour": f"{hour:%Y%m%dT%H}", "event": event}, ensure_ascii=False
                        )
                    )
            self._send(200, ("\n".join(lines) + "\n").encode(), "ndjson")

        def _requests(self, params: dict[str, str]) -> None:
            with server._requests_lock:
                body = json.dumps(server.requests).encode()
            self._send(200, body, "json")

        def _deletions(self, params: dict[str, str]) -> None:
            project = server.project_for(self.headers.get("Authorization"))
            if project is None:
                self._send(403, _error_json(403, "Unspecified Error", "Invalid API Key"), "json")
                return
            today = server.clock().date()
            if self.command == "GET":
                answer = list_answer(server.deletions, project.project_id, params, today)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body, kind = self.rfile.read(length), self.headers.get("Content-Type") or ""
                answer = request_answer(server.deletions, project.project_id, body, kind, today)
            status, payload, content, headers = answer
            server.record(
                {"endpoint": DELETIONS, "method": self.command, "status": status, "params": params}
            )
            self._send(status, payload, content, headers)

        def _read_json(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def _set_faults(self, params: dict[str, str]) -> None:
            raw = self._read_json() or {}
            try:
                rules = [FaultRule.from_dict(r) for r in raw.get("rules", [])]
            except (TypeError, ValueError) as exc:
                self._send(400, str(exc).encode())
                return
            server.faults.set(rules, raw.get("seed"))
            self._send(200, json.dumps({"rules": len(rules)}).encode(), "json")

        def _clear_faults(self, params: dict[str, str]) -> None:
            server.faults.set([])
            self._send(200, b'{"rules": 0}', "json")

        def _set_clock(self, params: dict[str, str]) -> None:
            raw = self._read_json() or {}
            value = raw.get("now")
            server.now = datetime.fromisoformat(value).astimezone(UTC) if value else None
            self._send(200, json.dumps({"now": server.clock().isoformat()}).encode(), "json")

    return Handler
