"""One HTTP client for every source: auth, timeouts, retries, budgets, streaming downloads.

Nothing here knows about a source. A source passes its base URL, its credentials, which
statuses it wants to interpret itself, and hints for authentication and retry failures.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity

from loader import __version__
from loader.errors import AuthError, HttpError
from loader.http.policy import RetryPolicy, Timeouts, TransientError, Wait, retry_after_seconds
from loader.http.urls import check_base_url, is_loopback
from loader.secrets import Secret, redact, register, register_basic_auth

log = logging.getLogger("loader.http")

# A connection dropped mid-body raises ChunkedEncodingError, which is not a ConnectionError.
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
_CHUNK = 1 << 20


def _reason(exc: BaseException) -> BaseException | None:
    """The error urllib3 wraps in `reason` (a MaxRetryError's), or in its first argument."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else None


@dataclass
class Fetched:
    """The outcome of a call whose status the caller interprets.

    Attributes:
        status: The final HTTP status.
        headers: Response headers.
        body: The body as text for small responses (errors, JSON); empty for downloads.
        path: Where a download was written, for 2xx downloads.
        bytes: Bytes received in the body.
        seconds: Wall time of the successful attempt.
        attempts: Attempts made.
        sha256: Hex digest of a downloaded body.
        json_body: The parsed body, when it is JSON.
    """

    status: int
    headers: dict[str, str]
    body: str = ""
    path: Path | None = None
    bytes: int = 0
    seconds: float = 0.0
    attempts: int = 1
    sha256: str = ""
    json_body: Any = field(default=None, repr=False)


class HttpClient:
    """A session with auth, timeouts, retries and a concurrency budget.

    Args:
        base_url: Scheme and host (and optional path prefix) of the API.
        auth: (username, password) for HTTP Basic auth, or None.
        token: (scheme, secret) sent as `Authorization: <scheme> <secret>` (an API that takes
            one key in a header, such as Experiment's `Api-Key`), or None.
        headers: Headers sent with every request (no secrets: they are not masked).
        timeouts: Socket timeouts.
        retry: Retry policy.
        max_concurrency: Most requests in flight at once through this client.
        auth_hint: What to tell the user when the server refuses the credentials.
        retry_hint: How the user lets calls retry for longer (the setting's name).
        name: What to call the API in messages.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, Secret] | None = None,
        token: tuple[str, Secret] | None = None,
        headers: dict[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 5,
        auth_hint: str = "check the credentials",
        retry_hint: str = "raise the retry deadline",
        name: str = "API",
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.auth_hint = auth_hint
        self.retry_hint = retry_hint
        self.name = name
        self._auth = auth
        if auth is not None:  # a server may echo the Authorization header it got
            register_basic_auth(auth[0], auth[1].reveal())
        self._headers = dict(headers or {})
        if token is not None:
            register(token[1].reveal())
            self._headers["Authorization"] = f"{token[0]} {token[1].reveal()}"
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r}, name={self.name!r})"

    def for_link(self, url: str, name: str) -> tuple[HttpClient, str]:
        """A client for a link the API handed out (a pre-signed storage URL), and its path.

        The client has this one's timeouts and retries but none of its credentials: a signed
        link refuses a second way of authenticating, and the keys must not travel to another
        host. The link's query (its signature) is masked like a secret in every message.

        Args:
            url: The absolute URL.
            name: What to call the host in messages.

        Returns:
            The client, and the path (with its query) to ask it for.
        """
        parts = urlsplit(url)
        if parts.query:  # masked whole; its signature also by the patterns of `redact`
            register(parts.query, fragments=False)
        client = HttpClient(
            f"{parts.scheme}://{parts.netloc}",
            timeouts=self.timeouts,
            retry=self.retry,
            retry_hint=self.retry_hint,
            name=name,
        )
        return client, parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def _session(self) -> requests.Session:
        # requests.Session is not thread-safe; one per thread keeps connection reuse.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"amplitude-loader/{__version__}"
            session.trust_env = False  # no proxies from the environment for API calls
            self._local.session = session
        return session

    def _basic_auth(self) -> tuple[str, str] | None:
        if self._auth is None:
            return None
        user, password = self._auth
        return (user, password.reveal())

    @contextmanager
    def _slot(self) -> Iterator[None]:
        with self._slots:
            yield

    def _retrying(self, started: float) -> tenacity.Retrying:
        stop: tenacity.stop.stop_base = tenacity.stop_after_delay(self.retry.deadline_seconds)
        if self.retry.attempts is not None:
            stop = stop | tenacity.stop_after_attempt(self.retry.attempts)
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            stop=stop,
            wait=Wait(self.retry, started),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            self.name,
            state.attempt_number,
            redact(str(exc)),
            wait,
        )

    def _raise_for_auth(self, path: str, response: requests.Response) -> None:
        if response.status_code in (401, 403):
            raise AuthError(
                f"{self.name} refused the credentials on {path} (HTTP {response.status_code})",
                status=response.status_code,
                body=response.text,
                remedy=self.auth_hint,
            )

    def _check_status(
        self, path: str, response: requests.Response, statuses: frozenset[int]
    ) -> None:
        if response.status_code in statuses:
            raise TransientError(
                f"HTTP {response.status_code} from {path}",
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                status=response.status_code,
            )

    def _give_up(self, path: str, exc: TransientError, attempts: int, seconds: float) -> HttpError:
        return HttpError(
            f"{self.name} call {path} kept failing for {seconds / 60:,.1f} min over {attempts}"
            f" attempts (last: {exc})",
            status=exc.status,
            remedy="the service may be down or throttling this key; run again later, or let calls"
            f" retry longer than {self.retry.deadline_seconds / 60:,g} min: {self.retry_hint}",
        )

    def _refused(self, path: str, exc: Exception) -> None:
        """Fail at once when nothing listens on a loopback base URL: no retry will change that."""
        host = urlsplit(self.base_url).hostname or ""
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ConnectionRefusedError):
            cause = cause.__cause__ or cause.__context__ or _reason(cause)
        if cause is not None and is_loopback(host):
            raise HttpError(
                f"{self.name}: nothing listens at {self.base_url} (connection refused on {path})",
                status=None,
                remedy="start the server there, or fix the base URL",
            ) from None

    def get(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        accept: frozenset[int] = frozenset(),
        retry_statuses: frozenset[int] | None = None,
    ) -> Fetched:
        """GET a small response (JSON or text), retried.

        Args:
            path: Path below the base URL.
            params: Query parameters.
            accept: Non-2xx statuses the caller interprets; they are returned, not raised.
            retry_statuses: Statuses to retry instead of the policy's.

        Returns:
            The response; `json_body` is set when the body is JSON.

        Raises:
            AuthError: On 401 or 403 (unless accepted).
            HttpError: On any other failure after the retries.
        """
        statuses = self.retry.statuses if retry_statuses is None else retry_statuses
        return self._with_retries(
            path, lambda: self._send_once("GET", path, params, None, accept, statuses)
        )

    def post(self, path: str, body: dict[str, Any]) -> Fetched:
        """POST a JSON body, retried like a GET (the caller's request must bear repeating).

        Args:
            path: Path below the base URL.
            body: The JSON body.

        Returns:
            The response; `json_body` is set when the body is JSON.

        Raises:
            AuthError: On 401 or 403.
            HttpError: On any other failure after the retries.
        """
        return self._with_retries(
            path,
            lambda: self._send_once("POST", path, None, body, frozenset(), self.retry.statuses),
        )

    def _with_retries(
        self, path: str, once: Callable[[], Fetched], cleanup: Callable[[], None] | None = None
    ) -> Fetched:
        """Call `once` until it succeeds or the retry policy gives up."""
        attempts = 0
        started = time.monotonic()
        try:
            for attempt in self._retrying(started):
                with attempt:
                    attempts += 1
                    fetched = once()
                    fetched.attempts = attempts
                    return fetched
        except TransientError as exc:
            if cleanup is not None:
                cleanup()
            raise self._give_up(path, exc, attempts, time.monotonic() - started) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_unexpected(self, path: str, response: requests.Response) -> None:
        """Raise for a refused key, or any status that is neither 2xx nor accepted."""
        self._raise_for_auth(path, response)
        if response.status_code >= 300:
            raise HttpError(
                f"{self.name} answered HTTP {response.status_code} on {path}",
                status=response.status_code,
                body=response.text,
                remedy="see the response body in the error details",
            )

    def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
        accept: frozenset[int],
        statuses: frozenset[int],
    ) -> Fetched:
        started = time.monotonic()
        try:
            with self._slot():
                response = self._session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=body,
                    headers=self._headers,
                    auth=self._basic_auth(),
                    timeout=(self.timeouts.connect_seconds, self.timeouts.read_seconds),
                    allow_redirects=False,
                )
        except _TRANSPORT_ERRORS as exc:
            self._refused(path, exc)
            raise TransientError(f"{type(exc).__name__} on {path}") from None
        self._check_status(path, response, statuses)
        if response.status_code not in accept:
            self._raise_unexpected(path, response)
        fetched = Fetched(
            status=response.status_code,
            headers=dict(response.headers),
            body=response.text,
            bytes=len(response.content),
            seconds=time.monotonic() - started,
        )
        if "json" in response.headers.get("Content-Type", ""):
            try:
                fetched.json_body = response.json()
            except ValueError:
                raise TransientError(f"malformed JSON from {path}") from None
        return fetched

    def download(
        self,
        path: str,
        params: dict[str, str] | None,
        dest: Path,
        *,
        accept: frozenset[int] = frozenset(),
        retry_statuses: frozenset[int] | None = None,
        validate: Callable[[Path], None] | None = None,
        max_bytes: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Fetched:
        """Stream a response body to a file, retrying the whole transfer.

        The body never sits in memory whole. A body shorter than its Content-Length, a dropped
        connection, or a file that `validate` rejects (by raising TransientError) counts as a
        failed attempt and is downloaded again.

        Args:
            path: Path below the base URL.
            params: Query parameters.
            dest: File to write; replaced on every attempt.
            accept: Non-2xx statuses the caller interprets; returned with their body text.
            retry_statuses: Statuses to retry instead of the policy's.
            validate: Checks the finished file; raises TransientError if it is damaged.
            max_bytes: Refuse a body larger than this (an ArchiveError-like HttpError).
            progress: Called with the number of bytes of each chunk written.

        Returns:
            The outcome; `path` is `dest` for a 2xx.

        Raises:
            AuthError: On 401 or 403.
            HttpError: On any other failure after the retries, or a body over `max_bytes`.
        """
        statuses = self.retry.statuses if retry_statuses is None else retry_statuses
        return self._with_retries(
            path,
            lambda: self._download_once(
                path, params, dest, accept, statuses, validate, max_bytes, progress
            ),
            cleanup=lambda: dest.unlink(missing_ok=True),
        )

    def _download_once(
        self,
        path: str,
        params: dict[str, str] | None,
        dest: Path,
        accept: frozenset[int],
        statuses: frozenset[int],
        validate: Callable[[Path], None] | None,
        max_bytes: int | None,
        progress: Callable[[int], None] | None,
    ) -> Fetched:
        started = time.monotonic()
        written = 0
        digest = hashlib.sha256()
        try:
            with (
                self._slot(),
                self._session.get(
                    self.base_url + path,
                    params=params,
                    headers=self._headers,
                    auth=self._basic_auth(),
                    timeout=(self.timeouts.connect_seconds, self.timeouts.read_seconds),
                    stream=True,
                    allow_redirects=False,
                ) as response,
            ):
                self._check_status(path, response, statuses)
                if response.status_code in accept:
                    return Fetched(response.status_code, dict(response.headers), response.text)
                self._raise_unexpected(path, response)
                expected = response.headers.get("Content-Length")
                if max_bytes is not None and expected and int(expected) > max_bytes:
                    raise HttpError(
                        f"{path} would send {int(expected):,} bytes, over the limit of"
                        f" {max_bytes:,}",
                        status=response.status_code,
                        remedy="raise the archive size guard, or ask for a shorter window",
                    )
                with dest.open("wb") as out:
                    for chunk in response.iter_content(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        if progress:
                            progress(len(chunk))
                        if max_bytes is not None and written > max_bytes:
                            raise HttpError(
                                f"{path} sent more than the limit of {max_bytes:,} bytes",
                                status=response.status_code,
                                remedy="raise the archive size guard, or ask for a shorter window",
                            )
                headers = dict(response.headers)
                status = response.status_code
        except _TRANSPORT_ERRORS as exc:
            self._refused(path, exc)
            raise TransientError(
                f"{type(exc).__name__} after {written:,} bytes of {path}"
            ) from None
        if expected is not None and int(expected) != written:
            raise TransientError(f"body of {path} ended at {written:,} of {int(expected):,} bytes")
        if validate is not None:
            validate(dest)
        return Fetched(
            status,
            headers,
            path=dest,
            bytes=written,
            seconds=time.monotonic() - started,
            sha256=digest.hexdigest(),
        )
