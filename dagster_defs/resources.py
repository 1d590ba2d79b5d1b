"""Resources: Amplitude credentials (through `dg.EnvVar`) and where the lake and catalog are."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dagster_defs.settings import LocationSettings
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment_keys import ENV as EXPERIMENT_ENV
from loader.amplitude.settings import AmplitudeSettings


class AmplitudeResource(dg.ConfigurableResource):
    """The Amplitude projects to load, and how to reach them.

    Either one project (`project_id`, `api_key`, `secret_key`, and optionally
    `experiment_deployment_keys`) or a `projects_file` naming several projects and the
    environment variables that hold their keys. A field left unset takes the environment's value
    (`AMPLITUDE_<FIELD>`) and then the default, as the command line does.
    """

    project_id: str | None = None
    api_key: str | None = None
    secret_key: str | None = None
    projects_file: str | None = None
    region: str | None = None
    base_url: str | None = None
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    retry_minutes: float | None = None
    experiment_deployment_keys: str | None = None
    experiment_cohorts: str | None = None
    experiment_max_users: int | None = None
    experiment_requests_per_second: float | None = None

    def values(self) -> dict[str, object]:
        """This resource's fields, as settings."""
        return self.model_dump()

    def settings(self) -> AmplitudeSettings:
        """This resource's settings, over the environment."""
        return AmplitudeSettings.read(**self.values())

    def projects(self) -> list[ProjectConfig]:
        """Return the configured projects (keys are read here, in the run, never at load).

        Returns:
            The projects.
        """
        return self.settings().projects()


#: Fields that hold secrets: never written into a resource, always a `dg.EnvVar`.
SECRETS = ("api_key", "secret_key", "experiment_deployment_keys")
#: The setting each field of `LakeResource` holds (the Amplitude resource's fields are named as
#: the settings are).
LAKE_SETTINGS = {
    "lake_root": "lake",
    "catalog_path": "catalog",
    "start": "start",
    "lag_hours": "export_lag_hours",
    "max_reject_ratio": "max_reject_ratio",
    "max_repeat_ratio": "max_repeat_ratio",
    "recheck_hours": "recheck_hours",
    "retention_hours": "retention_hours",
    "erasure_retention_hours": "erasure_retention_hours",
    "max_line_mb": "max_line_mb",
    "max_expansion": "max_expansion",
}


class LakeResource(dg.ConfigurableResource):
    """Where the lake and the catalog are, and how loads behave (unset: the environment's)."""

    lake_root: str | None = None
    catalog_path: str | None = None
    start: str | None = None
    lag_hours: int | None = None
    max_reject_ratio: float | None = None
    max_repeat_ratio: float | None = None
    recheck_hours: int | None = None
    retention_hours: float | None = None
    erasure_retention_hours: float | None = None
    max_line_mb: float | None = None
    max_expansion: float | None = None

    def settings(self, amplitude: AmplitudeResource | None = None) -> LoaderSettings:
        """Return the library's settings: this resource's, then the Amplitude resource's fields.

        Args:
            amplitude: The Amplitude resource (its timeouts and retries).

        Returns:
            Loader settings.
        """
        values: dict[str, object] = {
            setting: getattr(self, field) for field, setting in LAKE_SETTINGS.items()
        }
        if amplitude is not None:
            values.update(amplitude.values())
        return AmplitudeSettings.read(**values).loader_settings()


def build_resources(settings: LocationSettings) -> dict[str, dg.ConfigurableResource]:
    """Build the resources from the location's settings; secrets stay `dg.EnvVar`s.

    Every setting but the keys is written into the resources, so that a location built by the
    factory with its own settings runs with them, and the UI shows them. The keys are read by the
    run: `AMPLITUDE_API_KEY` and `AMPLITUDE_SECRET_KEY` (and `AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS`
    when it is set), or the variables a projects file names.

    Args:
        settings: The code location's settings.

    Returns:
        Resources by name.
    """
    values = settings.values
    fields: dict[str, Any] = {
        name: getattr(values, name)
        for name in AmplitudeResource.model_fields
        if name not in SECRETS
    }
    if not values.projects_file:
        fields["api_key"] = dg.EnvVar("AMPLITUDE_API_KEY")
        fields["secret_key"] = dg.EnvVar("AMPLITUDE_SECRET_KEY")
        if values.experiment_deployment_keys:  # optional: an unset EnvVar would fail every run
            fields["experiment_deployment_keys"] = dg.EnvVar(EXPERIMENT_ENV)
    lake: dict[str, Any] = {f: getattr(values, s) for f, s in LAKE_SETTINGS.items()}
    lake["start"] = f"{settings.start:%Y-%m-%dT%H}"  # the partitions' own first hour
    return {"amplitude": AmplitudeResource(**fields), "lake": LakeResource(**lake)}
