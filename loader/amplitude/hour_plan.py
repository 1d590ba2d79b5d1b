"""Which hours a sync of one project asks Amplitude for, and in which export windows."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.errors import ConfigError
from loader.hours import hour_key, hours_between, newest_ready_hour
from loader.manifest import ManifestStore
from loader.planner import Window, plan_windows

#: How many loaded hours, nearest to the first missing one, estimate a missing hour's size.
NEAREST_HOURS = 48


class HourPlan:
    """The hours of one project that a sync covers, as of one moment.

    Args:
        project: The project.
        settings: Loader settings (start, lag, re-check window, window size).
        now: The current moment.
    """

    def __init__(self, project: ProjectConfig, settings: LoaderSettings, now: datetime) -> None:
        self.project = project
        self.settings = settings
        self.now = now

    @property
    def newest_ready_hour(self) -> datetime:
        """The newest hour old enough to export."""
        return newest_ready_hour(self.now, self.settings.lag_hours)

    @property
    def finished_before(self) -> datetime:
        """Days that end before this are finished: past the lag and the re-check window."""
        return self.now - timedelta(hours=self.settings.lag_hours + self.settings.recheck_hours)

    def wanted_hours(self, start: datetime | None, end: datetime | None) -> list[datetime]:
        """Return the hours a sync covers: from the start to the newest ready hour.

        Args:
            start: First hour (default: the project's, else the settings').
            end: Last hour, included (capped at the newest ready hour).

        Returns:
            The hours, in order.

        Raises:
            ConfigError: If no start is known, or the hours begin after the newest ready one.
        """
        first = start or self.project.start or self.settings.start
        if first is None:
            raise ConfigError(
                "no start date configured",
                project=self.project.label,
                remedy="set AMPLITUDE_START (for example 2024-01-01) or pass --start",
            )
        if first > self.newest_ready_hour:
            raise ConfigError(
                f"hours from {hour_key(first)} are not exported yet: the newest ready hour is"
                f" {hour_key(self.newest_ready_hour)} (with a lag of {self.settings.lag_hours} h)",
                project=self.project.label,
                remedy="ask for hours in the past; the start may be mistyped",
            )
        last = min(end, self.newest_ready_hour) if end else self.newest_ready_hour
        return list(hours_between(first, last)) if first <= last else []

    def missing_hours(
        self,
        store: ManifestStore,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        reload: bool = False,
    ) -> list[datetime]:
        """Return the wanted hours that `store` has no manifest for (all of them with `reload`).

        Args:
            store: What is loaded.
            start: First hour.
            end: Last hour, included.
            reload: Load loaded hours again.

        Returns:
            The hours to load, in order.
        """
        wanted = self.wanted_hours(start, end)
        if reload:
            return wanted
        loaded = store.loaded_hours()
        return [h for h in wanted if h not in loaded]

    def windows(self, store: ManifestStore, missing: list[datetime]) -> list[Window]:
        """Group the missing hours into export windows, sized by what nearby hours weighed.

        Args:
            store: What is loaded.
            missing: The hours to load.

        Returns:
            The windows, in order.
        """
        return plan_windows(
            missing,
            _estimator(store, missing),
            target_bytes=self.settings.target_window_bytes,
        )


def _estimator(store: ManifestStore, missing: list[datetime]) -> Callable[[datetime], float | None]:
    """Estimate an hour's zip size from the loaded hours nearest to the missing ones."""
    loaded = sorted(store.loaded_hours())
    if not loaded or not missing:
        return lambda hour: None
    anchor = missing[0]
    nearest = sorted(loaded, key=lambda h: abs((h - anchor).total_seconds()))[:NEAREST_HOURS]
    sizes = [m.bytes_downloaded for h in nearest if (m := store.read(h)) and m.rows]
    if not sizes:
        return lambda hour: None
    typical = float(statistics.median(sizes))
    return lambda hour: typical
