"""Property tests of the window planner and of splitting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader.hours import HOUR
from loader.planner import MAX_WINDOW_HOURS, Window, plan_windows

BASE = datetime(2023, 1, 1, tzinfo=UTC)

hour_offsets = st.lists(st.integers(0, 24 * 800), max_size=400, unique=True)
sizes = st.one_of(st.none(), st.floats(0, 5e9, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(hour_offsets, sizes, st.floats(1e6, 4e9), st.integers(1, 24 * 400))
def test_windows_cover_exactly_the_missing_hours(
    offsets: list[int], size: float | None, target: float, max_hours: int
) -> None:
    missing = [BASE + o * HOUR for o in offsets]
    windows = plan_windows(missing, lambda h: size, target_bytes=target, max_hours=max_hours)

    covered = [h for w in windows for h in w.hour_list()]
    assert sorted(covered) == sorted(missing)  # every hour once, nothing else
    assert windows == sorted(windows)
    for window in windows:
        assert window.hours <= min(max_hours, MAX_WINDOW_HOURS)
        assert window.last - window.first < timedelta(days=365)
        if size is not None and window.hours > 1:
            assert size * window.hours <= target * (1 + 1e-9)


def test_unknown_sizes_mean_a_day_per_request() -> None:
    missing = [BASE + i * HOUR for i in range(72)]
    windows = plan_windows(missing, lambda h: None)
    assert [w.hours for w in windows] == [24, 24, 24]


def test_known_sizes_grow_the_windows() -> None:
    missing = [BASE + i * HOUR for i in range(24 * 30)]
    windows = plan_windows(missing, lambda h: 1e6, target_bytes=1e9)
    assert [w.hours for w in windows] == [24 * 30]


def test_a_year_of_light_hours_stays_under_365_days() -> None:
    missing = [BASE + i * HOUR for i in range(24 * 366)]
    windows = plan_windows(missing, lambda h: 1.0, target_bytes=1e12)
    assert len(windows) == 2 and windows[0].hours == MAX_WINDOW_HOURS


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 24 * 365))
def test_splitting_converges_to_single_hours(hours: int) -> None:
    window = Window(BASE, BASE + (hours - 1) * HOUR)
    pending, singles, steps = [window], [], 0
    while pending:
        current = pending.pop()
        steps += 1
        if current.hours == 1:
            singles.append(current.first)
            continue
        first, second = current.halves()
        assert first.last + HOUR == second.first
        assert first.hours + second.hours == current.hours
        assert abs(first.hours - second.hours) <= 1
        pending += [first, second]
    assert sorted(singles) == window.hour_list()
    assert steps == 2 * hours - 1


def test_a_single_hour_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        Window(BASE, BASE).halves()
