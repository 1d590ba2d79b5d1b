"""The time model: whole UTC hours, the unit of state.

All datetimes here are timezone-aware UTC and truncated to the hour. Ranges of hours are
inclusive at both ends, as the Export API's are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    """Truncate a moment to its hour, in UTC.

    Args:
        moment: An aware datetime (a naive one is taken to be UTC).

    Returns:
        The start of the UTC hour that holds `moment`.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_hour(text: str) -> datetime:
    """Parse an hour given as `YYYYMMDDTHH`, `YYYY-MM-DDTHH`, `YYYY-MM-DD HH:MM` or a date.

    Args:
        text: The hour; a bare date means its first hour.

    Returns:
        The hour as an aware UTC datetime.

    Raises:
        ValueError: If the text is not an hour or a date.
    """
    text = text.strip()
    for fmt in ("%Y%m%dT%H", "%Y-%m-%dT%H", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return floor_hour(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"not an hour or a date: {text!r} (use YYYY-MM-DD or YYYYMMDDTHH)"
        ) from None


def format_hour(hour: datetime) -> str:
    """Format an hour the way the Export API wants it (`YYYYMMDDTHH`).

    Args:
        hour: An hour.

    Returns:
        The hour as `YYYYMMDDTHH`, zero-padded.
    """
    return floor_hour(hour).strftime("%Y%m%dT%H")


def hour_key(hour: datetime) -> str:
    """Format an hour as the lake's key for it (`YYYY-MM-DDTHH`).

    Args:
        hour: An hour.

    Returns:
        The hour as `YYYY-MM-DDTHH`.
    """
    return floor_hour(hour).strftime("%Y-%m-%dT%H")


def hour_from_key(key: str) -> datetime:
    """Read the lake's key for an hour (`YYYY-MM-DDTHH`) back: the inverse of `hour_key`.

    Args:
        key: The key.

    Returns:
        The hour, in UTC.
    """
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def newest_ready_hour(now: datetime, lag_hours: int) -> datetime:
    """Return the newest hour worth asking the export for at `now`.

    An hour becomes exportable about two hours after it ends, so with the default lag of 3 the
    newest ready hour at 11:20 is 08:00 (08:00-09:00, exportable from about 11:00).

    Args:
        now: The current moment.
        lag_hours: How many whole hours to wait after an hour starts.

    Returns:
        The newest hour whose data is complete.
    """
    return floor_hour(now) - lag_hours * HOUR


def hours_between(first: datetime, last: datetime) -> Iterator[datetime]:
    """Yield every hour from `first` to `last`, both included.

    Args:
        first: The first hour.
        last: The last hour.

    Yields:
        Each hour in order.
    """
    hour, last = floor_hour(first), floor_hour(last)
    while hour <= last:
        yield hour
        hour += HOUR


def describe_hours(hours: Iterable[datetime]) -> str:
    """Describe a set of hours compactly as inclusive ranges, for messages.

    Args:
        hours: Any hours.

    Returns:
        For example `2024-01-01T00..2024-01-01T23, 2024-01-03T05`.
    """
    ranges = contiguous_ranges(sorted(set(hours)))
    parts = [hour_key(a) if a == b else f"{hour_key(a)}..{hour_key(b)}" for a, b in ranges[:6]]
    if len(ranges) > 6:
        parts.append(f"and {len(ranges) - 6} more ranges")
    return ", ".join(parts)


def contiguous_ranges(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Group sorted, distinct hours into inclusive runs of consecutive hours.

    Args:
        hours: Sorted, distinct hours.

    Returns:
        (first, last) of each run, in order.
    """
    runs: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if runs and hour - runs[-1][1] == HOUR:
            runs[-1] = (runs[-1][0], hour)
        else:
            runs.append((hour, hour))
    return runs


def utc_now() -> datetime:
    """Return the current moment in UTC.

    Returns:
        An aware datetime.
    """
    return datetime.now(UTC)
