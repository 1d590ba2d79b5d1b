"""One code location's settings and names, from which every definition is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg

from dagster_defs.keys import Names
from dagster_defs.partitions import events_partitions
from dagster_defs.settings import LocationSettings


@dataclass(frozen=True)
class Location:
    """What the builders of assets, checks, schedules and sensors are given.

    Attributes:
        settings: The settings the partitions and defaults come from (nothing secret).
        names: How keys, jobs, sensors and pools are named.
    """

    settings: LocationSettings
    names: Names = field(default_factory=Names)

    @cached_property
    def partitions(self) -> dg.PartitionsDefinition:
        """The events partitions: hours, or hours by project when there are several."""
        return events_partitions(self.settings)

    @property
    def several_projects(self) -> bool:
        """Whether the events are partitioned by project too."""
        return isinstance(self.partitions, dg.MultiPartitionsDefinition)
