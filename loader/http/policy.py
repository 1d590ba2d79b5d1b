"""How hard a call is tried: retry policy, timeouts, what counts as transient, how long to wait."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import tenacity
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Only for its Retry-After parser; retries themselves are tenacity's, because they must also
#: cover bodies cut short or failing validation, which urllib3 retries cannot see.
_RETRY_AFTER = Retry()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up.

    A call is tried again until the deadline; the waits grow from `base_seconds` to
    `cap_seconds`, so 30 minutes hold about ten attempts.

    Attributes:
        attempts: Most attempts of one call, the first included (None: until the deadline).
        base_seconds: First backoff step; step n waits up to base * 2**n (full jitter).
        cap_seconds: Longest single wait.
        deadline_seconds: Longest total time one call may take, waits included.
        statuses: HTTP statuses that are retried.
    """

    attempts: int | None = None
    base_seconds: float = 5.0
    cap_seconds: float = 300.0
    deadline_seconds: float = 1800.0
    statuses: frozenset[int] = RETRY_STATUSES


@dataclass(frozen=True)
class Timeouts:
    """Socket timeouts. The read timeout is the longest silence between bytes, not a total.

    Attributes:
        connect_seconds: Time allowed to open the connection.
        read_seconds: Time allowed between two reads; exports can take minutes to start.
    """

    connect_seconds: float = 30.0
    read_seconds: float = 600.0


class TransientError(Exception):
    """A failure worth another attempt.

    Attributes:
        retry_after: Seconds the server asked us to wait, if it said.
        status: The HTTP status, if there was a response.
    """

    def __init__(
        self, reason: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number or an HTTP date), or None."""
    if not value:
        return None
    try:
        return float(_RETRY_AFTER.parse_retry_after(value))
    except InvalidHeader:
        return None


class Wait(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, or the server's Retry-After when it sent one."""

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self.policy = policy
        self.started = started

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt, never past the deadline."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        step = min(
            self.policy.cap_seconds,
            self.policy.base_seconds * 2 ** (retry_state.attempt_number - 1),
        )
        wait = random.uniform(0, step)
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            wait = min(exc.retry_after, self.policy.cap_seconds)
        left = self.policy.deadline_seconds - (time.monotonic() - self.started)
        return max(0.0, min(wait, left))
