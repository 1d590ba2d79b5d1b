"""Resources: Amplitude credentials (through `dg.EnvVar`) and where the lake and catalog are."""

from __future__ import annotations

import os
from dataclasses import replace

import dagster as dg

from dagster_defs.settings import SETTINGS, LocationSettings
from loader.amplitude.config import LoaderSettings, ProjectConfig, projects_from_env
from loader.hours import parse_hour
from loader.http import RetryPolicy, Timeouts


class AmplitudeResource(dg.ConfigurableResource):
    """The Amplitude projects to load, and how to reach them.

    Either one project (`project_id`, `api_key`, `secret_key`) or a `projects_file` naming several
    projects and the environment variables that hold their keys.
    """

    project_id: str | None = None
    api_key: str | None = None
    secret_key: str | None = None
    projects_file: str | None = None
    region: str = "us"
    base_url: str | None = None
    connect_timeout_seconds: float = 30.0
    read_timeout_seconds: float = 600.0
    retry_minutes: float = 30.0

    def projects(self) -> list[ProjectConfig]:
        """Return the configured projects (keys are read here, in the run, never at load).

        Returns:
            The projects.
        """
        return projects_from_env(
            os.environ,
            projects_file=self.projects_file,
            project_id=self.project_id,
            api_key=self.api_key,
            secret_key=self.secret_key,
            region=self.region,
            base_url=self.base_url,
        )

    def timeouts(self) -> Timeouts:
        """Return the HTTP timeouts."""
        return Timeouts(self.connect_timeout_seconds, self.read_timeout_seconds)

    def retry(self) -> RetryPolicy:
        """Return how long a failing call is retried."""
        return RetryPolicy(deadline_seconds=self.retry_minutes * 60)


class LakeResource(dg.ConfigurableResource):
    """Where the lake and the catalog are, and how loads behave."""

    lake_root: str
    catalog_path: str
    start: str
    lag_hours: int = 3
    max_reject_ratio: float = 0.01
    recheck_hours: int = 24
    retention_hours: float = 24.0

    def settings(
        self, timeouts: Timeouts | None = None, retry: RetryPolicy | None = None
    ) -> LoaderSettings:
        """Return the library's settings.

        Args:
            timeouts: HTTP timeouts from the Amplitude resource.
            retry: The retry policy from the Amplitude resource.

        Returns:
            Loader settings.
        """
        settings = LoaderSettings(
            lake_root=self.lake_root,
            catalog_path=self.catalog_path,
            start=parse_hour(self.start),
            lag_hours=self.lag_hours,
            max_reject_ratio=self.max_reject_ratio,
            recheck_hours=self.recheck_hours,
            retention_hours=self.retention_hours,
        )
        if timeouts:
            settings = replace(settings, timeouts=timeouts)
        return replace(settings, retry=retry) if retry else settings


def build_resources(settings: LocationSettings = SETTINGS) -> dict[str, dg.ConfigurableResource]:
    """Build the resources from the environment; secrets stay `dg.EnvVar`s until a run starts.

    Args:
        settings: The code location's settings.

    Returns:
        Resources by name.
    """
    env = os.environ
    if settings.projects_file:
        amplitude = AmplitudeResource(
            projects_file=settings.projects_file,
            region=env.get("AMPLITUDE_REGION", "us"),
            base_url=env.get("AMPLITUDE_BASE_URL") or None,
        )
    else:
        amplitude = AmplitudeResource(
            project_id=dg.EnvVar("AMPLITUDE_PROJECT_ID"),
            api_key=dg.EnvVar("AMPLITUDE_API_KEY"),
            secret_key=dg.EnvVar("AMPLITUDE_SECRET_KEY"),
            region=env.get("AMPLITUDE_REGION", "us"),
            base_url=env.get("AMPLITUDE_BASE_URL") or None,
        )
    lake = LakeResource(
        lake_root=settings.lake_root,
        catalog_path=settings.catalog_path,
        start=f"{settings.start:%Y-%m-%dT%H}",
        lag_hours=settings.lag_hours,
        recheck_hours=settings.recheck_hours,
        retention_hours=settings.retention_hours,
    )
    return {"amplitude": amplitude, "lake": lake}
