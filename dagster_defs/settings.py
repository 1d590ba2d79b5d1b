"""What the code location needs to know when it loads: nothing secret.

Partitions must exist before any run, so the first hour, the export lag and the project ids are
read from the environment at load time, through the same `AmplitudeSettings` the command line and
the library read; keys are read only by runs, through `dg.EnvVar`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from loader.amplitude.settings import AmplitudeSettings
from loader.hours import parse_hour

#: Without AMPLITUDE_START the partitions begin where the emulator's demo data does.
DEFAULT_START = "2024-03-01"


@dataclass(frozen=True)
class LocationSettings:
    """The settings the code location is built from.

    Attributes:
        values: Every setting, as the environment gives it.
        start: First hour of the partitions.
        project_ids: Configured project ids (several make a second partition dimension).
    """

    values: AmplitudeSettings
    start: datetime
    project_ids: tuple[str, ...]

    @property
    def lag_hours(self) -> int:
        """Export lag; the newest partition is the newest ready hour."""
        return self.values.export_lag_hours

    @property
    def recheck_hours(self) -> int:
        """Hours the daily re-check exports again (days are compacted after it)."""
        return self.values.recheck_hours

    @property
    def partitions_per_run(self) -> int:
        """Hours per backfill run."""
        return self.values.partitions_per_run

    @property
    def schedule_status(self) -> dg.DefaultScheduleStatus:
        """Schedules start stopped, as Dagster's own do, unless AMPLITUDE_DAGSTER_AUTOMATION."""
        if self.values.dagster_automation:
            return dg.DefaultScheduleStatus.RUNNING
        return dg.DefaultScheduleStatus.STOPPED

    @property
    def sensor_status(self) -> dg.DefaultSensorStatus:
        """Sensors start stopped, as Dagster's own do, unless AMPLITUDE_DAGSTER_AUTOMATION."""
        if self.values.dagster_automation:
            return dg.DefaultSensorStatus.RUNNING
        return dg.DefaultSensorStatus.STOPPED

    @classmethod
    def of(cls, values: AmplitudeSettings) -> LocationSettings:
        """The code location's settings for given values.

        Args:
            values: The settings, for example `AmplitudeSettings.read()` (the environment's).

        Returns:
            The settings.
        """
        return cls(
            values=values,
            start=values.first_hour or parse_hour(DEFAULT_START),
            project_ids=values.project_ids(),
        )


def load_settings() -> LocationSettings:
    """Read the code location's settings from the environment.

    Returns:
        The settings.
    """
    return LocationSettings.of(AmplitudeSettings.read())
