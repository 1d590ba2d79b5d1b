"""The names of one code location's definitions: asset keys, group, job and sensor names, pools.

Everything is named from a key prefix, so that two Amplitude loaders (two regions, two teams'
lakes) can live in one Dagster deployment, or one code location, without a clash. The default
prefix `amplitude` gives the names this repository's code location has always had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from loader.amplitude.taxonomy import TABLES

#: Which snapshot fills each snapshot table.
KIND_OF_TABLE = {
    "cohorts": "cohorts",
    "cohort_members": "cohorts",
    "event_types": "events-list",
    "annotations": "annotations",
    **{table: "taxonomy" for table in TABLES if table.startswith("taxonomy_")},
    "experiment_flags": "experiment",
    "experiment_assignments": "experiment",
}


@dataclass(frozen=True)
class Names:
    """How one code location names what it defines.

    Attributes:
        prefix: The asset key prefix, for example `("amplitude",)` or `("eu", "amplitude")`.
        group: The asset group of every asset, the dbt models included.
    """

    prefix: tuple[str, ...] = ("amplitude",)
    group: str = "amplitude"

    @classmethod
    def of(cls, prefix: str | Sequence[str], group: str | None = None) -> Names:
        """Names for a prefix given as `"eu/amplitude"` or `["eu", "amplitude"]`.

        Args:
            prefix: The key prefix.
            group: The group (default: the prefix joined by `_`).

        Returns:
            The names.
        """
        parts = tuple(prefix.split("/")) if isinstance(prefix, str) else tuple(prefix)
        if not parts or not all(parts):
            raise ValueError(f"amplitude-loader: the key prefix {prefix!r} has an empty part")
        return cls(parts, group or "_".join(parts))

    def key(self, name: str) -> dg.AssetKey:
        """The asset key `prefix/name`."""
        return dg.AssetKey([*self.prefix, name])

    def name(self, suffix: str) -> str:
        """A job, schedule, sensor or pool name: `<prefix joined by _>_<suffix>`."""
        return "_".join((*self.prefix, suffix))

    @property
    def events(self) -> dg.AssetKey:
        """The events asset."""
        return self.key("events")

    @property
    def catalog(self) -> dg.AssetKey:
        """The DuckDB catalog asset."""
        return self.key("catalog")

    @property
    def privacy(self) -> dg.AssetKey:
        """The deletion sync's asset (erasures)."""
        return self.key("privacy_deletions")

    @property
    def snapshot_keys(self) -> dict[str, dg.AssetKey]:
        """The asset of each snapshot table."""
        return {table: self.key(table) for table in KIND_OF_TABLE}

    @property
    def api_pool(self) -> str:
        """Runs that call Amplitude's APIs; its limit is the number of concurrent requests."""
        return self.name("api")

    @property
    def catalog_pool(self) -> str:
        """The catalog is rebuilt, and the lake vacuumed, by one step at a time."""
        return self.name("catalog")

    @property
    def dbt_pool(self) -> str:
        """The dbt builds, which write one DuckDB file: one at a time."""
        return self.name("dbt")
