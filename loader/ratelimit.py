"""Budgets for APIs with documented limits: requests per window, and cost per hour."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` calls in any `seconds`-long window; `acquire` waits for room.

    Args:
        limit: Calls allowed per window.
        seconds: The window's length.
        clock: Monotonic clock (tests pass a fake one).
        sleep: How to wait.
    """

    def __init__(
        self,
        limit: int,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def acquire(self, cost: float = 1.0) -> float:
        """Wait until a call of `cost` fits the window, then count it.

        Args:
            cost: What the call costs (1 for a plain request).

        Returns:
            Seconds waited.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._calls and now - self._calls[0][0] >= self.seconds:
                    self._calls.popleft()
                used = sum(c for _, c in self._calls)
                if used + cost <= self.limit:
                    self._calls.append((now, cost))
                    return waited
                wait = self.seconds - (now - self._calls[0][0])
            self._sleep(wait)
            waited += wait
