"""Planning export requests: which missing hours to ask for together.

Contiguous missing hours are grouped into windows no longer than the API allows and no heavier
than a target size, estimated from what nearby loaded hours weighed. A window that still turns out
too large is split in half by the caller, down to one hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from loader.hours import HOUR, contiguous_ranges, hour_key

#: The Export API takes at most 365 days per request; stay under it.
MAX_WINDOW_HOURS = 364 * 24
#: With nothing known about a project's volume, ask for a day at a time.
DEFAULT_HOURS_WHEN_UNKNOWN = 24


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of whole hours, the unit of one export request.

    Attributes:
        first: The first hour.
        last: The last hour, included.
    """

    first: datetime
    last: datetime

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends before it starts: {self}")

    @property
    def hours(self) -> int:
        """How many hours the window covers."""
        return int((self.last - self.first) / HOUR) + 1

    def hour_list(self) -> list[datetime]:
        """Every hour of the window, in order."""
        return [self.first + i * HOUR for i in range(self.hours)]

    def halves(self) -> tuple[Window, Window]:
        """Split into two windows of (nearly) equal length.

        Returns:
            The earlier and the later half.

        Raises:
            ValueError: For a one-hour window.
        """
        if self.hours < 2:
            raise ValueError("a one-hour window cannot be split")
        middle = self.first + (self.hours // 2) * HOUR
        return Window(self.first, middle - HOUR), Window(middle, self.last)

    def __str__(self) -> str:
        if self.first == self.last:
            return hour_key(self.first)
        return f"{hour_key(self.first)}..{hour_key(self.last)}"


def plan_windows(
    missing: Iterable[datetime],
    estimate_bytes: Callable[[datetime], float | None],
    *,
    target_bytes: float = 1 << 30,
    max_hours: int = MAX_WINDOW_HOURS,
    hours_when_unknown: int = DEFAULT_HOURS_WHEN_UNKNOWN,
) -> list[Window]:
    """Group missing hours into export windows.

    Every missing hour lands in exactly one window; a window never spans an hour that is not
    missing, never exceeds `max_hours`, and stays under `target_bytes` by estimate (a single
    hour heavier than the target still gets a window of its own).

    Args:
        missing: Hours to load.
        estimate_bytes: Estimated compressed export bytes of an hour, or None if unknown.
        target_bytes: Largest estimated size of one window.
        max_hours: Longest window.
        hours_when_unknown: Window length where nothing is known about the hours' size.

    Returns:
        Windows in time order.
    """
    windows: list[Window] = []
    for first, last in contiguous_ranges(sorted(set(missing))):
        hour = first
        while hour <= last:
            start, size, count = hour, 0.0, 0
            while hour <= last and count < max_hours:
                estimate = estimate_bytes(hour)
                weight = target_bytes / hours_when_unknown if estimate is None else estimate
                if count > 0 and size + weight > target_bytes:
                    break
                size += weight
                count += 1
                hour += HOUR
            windows.append(Window(start, hour - HOUR))
    return windows
