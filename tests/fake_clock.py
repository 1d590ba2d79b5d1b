"""A clock that tests move by hand, and whose sleeps are recorded and take no time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """A monotonic clock for `SlidingWindow` and friends.

    Attributes:
        now: The current time, in seconds.
        slept: Every sleep asked for, in order (each moves `now` on).
    """

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record a sleep and move the clock on by it."""
        self.slept.append(seconds)
        self.now += seconds
