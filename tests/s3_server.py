"""An S3 server on loopback for the tests: moto's standalone server, in a process of its own.

In its own process, as a real store is, the server does not share the loader's interpreter
lock: a 30-hour load into it took 9.6 s against 13.0 s with moto's threaded server in the test
process.

moto answers requests on several threads, and its conditional create looks for the key, then
writes it: two racing `If-None-Match: *` PUTs could both succeed, where S3 refuses one (a race
test failed so, once, on a busy machine). S3's create is atomic; here the conditional PUTs are
made so by answering them one at a time (`_AtomicConditionalWrites`).
"""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

_LISTENING = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")
#: A request as the server logs it: `... "HEAD /bucket/key HTTP/1.1" 200 -`.
_REQUEST = re.compile(r'"([A-Z]+) (/[^ ?]*)\S* HTTP/[0-9.]+"')


class LoopbackS3:
    """`with LoopbackS3() as server:` serves S3 at `server.endpoint` (http://127.0.0.1:<port>)."""

    def __init__(self) -> None:
        self.endpoint = ""
        self._process: subprocess.Popen[str] | None = None
        self._requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def requests(self) -> list[tuple[str, str]]:
        """The (method, path) of every request served so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _read_log(self, lines: Iterator[str]) -> None:
        for line in lines:
            found = _REQUEST.search(line)
            if found:
                with self._lock:
                    self._requests.append((found.group(1), found.group(2)))

    def __enter__(self) -> LoopbackS3:
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            # A test process killed by a timeout does not leave its server running.
            preexec_fn=_end_with_parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stderr is not None
        said = []
        for line in self._process.stderr:
            said.append(line)
            found = _LISTENING.search(line)
            if found:
                self.endpoint = found.group(1)
                break
        if not self.endpoint:
            self._process.kill()
            raise RuntimeError(f"moto's S3 server did not start: {''.join(said)[-2000:]}")
        # It logs every request on stderr: read it, or the server blocks once the pipe is full.
        threading.Thread(target=self._read_log, args=(self._process.stderr,), daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _end_with_parent() -> None:
    """In the child: be sent SIGTERM when the process that started it ends (Linux)."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class _AtomicConditionalWrites:
    """WSGI middleware: conditional writes are answered one at a time, so each is atomic."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        conditional = environ.get("HTTP_IF_NONE_MATCH") or environ.get("HTTP_IF_MATCH")
        if environ.get("REQUEST_METHOD") != "PUT" or not conditional:
            return self.app(environ, start_response)
        with self.lock:  # the check and the write, and the whole answer, under the lock
            return list(self.app(environ, start_response))


def _serve() -> None:
    """moto's S3 server on a free loopback port (it says which on stderr), as `moto_server`."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1",
        0,
        _AtomicConditionalWrites(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    _serve()
