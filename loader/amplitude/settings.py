"""Every setting of an Amplitude load, in one typed object read from the environment.

The command line, the library and the Dagster resources all read `AmplitudeSettings`: each
setting has one name (`AMPLITUDE_<FIELD>` in the environment, `--<field>` on the command line,
the field on a Dagster resource), one type and one default. Values passed in (a flag, a resource
field) win over the environment. `loader_settings` and `projects` turn them into what the
library runs with.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loader.amplitude import setting_names
from loader.amplitude.config import (
    DEFAULT_CATALOG,
    DEFAULT_LAKE,
    LoaderSettings,
    ProjectConfig,
    catalog_beside,
    projects_from_env,
    read_projects_file,
)
from loader.amplitude.experiment.snapshot import ExperimentOptions
from loader.amplitude.experiment.users import ExperimentUser
from loader.archive import Guards
from loader.errors import ConfigError
from loader.hours import parse_hour
from loader.http import RetryPolicy, Timeouts


class AmplitudeSettings(BaseSettings):
    """The settings of Amplitude loads; the environment variable of each is `AMPLITUDE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="AMPLITUDE_", frozen=True, extra="ignore")

    #: The command line's flag of each setting that has one (see `setting_names`).
    FLAGS: ClassVar[dict[str, str]] = setting_names.FLAGS

    project_id: str | None = Field(None, description="The project (app) id.")
    api_key: SecretStr | None = Field(None, description="The project's API key.")
    secret_key: SecretStr | None = Field(None, description="The project's secret key.")
    projects_file: str | None = Field(None, description="TOML file listing several projects.")
    region: Literal["us", "eu"] = Field("us", description="Data region.")
    base_url: str | None = Field(None, description="API host override (plain http on loopback).")
    lake: str = Field(DEFAULT_LAKE, description="Lake folder or fsspec URL.")
    catalog: str = Field(
        DEFAULT_CATALOG, description="DuckDB catalog file (default: one beside the lake)."
    )
    start: str | None = Field(None, description="First hour for projects that name none.")
    export_lag_hours: int = Field(3, ge=0, description="Hours before an hour is exported.")
    recheck_hours: int = Field(
        24, ge=0, description="Re-check window: a day is compacted once it ended this long ago."
    )
    retention_hours: float = Field(
        24.0, ge=0, description="How long files of superseded snapshots stay."
    )
    erasure_retention_hours: float = Field(
        168.0, ge=0, description="Most that files holding erased users' data stay (7 days)."
    )
    max_reject_ratio: float = Field(
        0.01, ge=0, le=1, description="Share of malformed lines above which an hour fails."
    )
    max_repeat_ratio: float = Field(
        0.5, ge=0, le=1, description="Share of lines repeating a uuid above which an hour fails."
    )
    max_line_mb: float = Field(16.0, gt=0, description="A longer line is one reject.")
    max_expansion: float = Field(
        100.0, ge=1, description="Most a member may expand when decompressed."
    )
    retry_minutes: float = Field(30.0, ge=0, description="How long a failing API call is retried.")
    connect_timeout_seconds: float = Field(30.0, gt=0, description="Time to open a connection.")
    read_timeout_seconds: float = Field(600.0, gt=0, description="Longest silence in a response.")
    experiment_deployment_keys: SecretStr | None = Field(
        None, description="Experiment deployments as name=key pairs, comma-separated."
    )
    experiment_cohorts: str | None = Field(
        None, description="Cohorts (names or ids, globs, comma-separated) whose variants to record."
    )
    experiment_max_users: int = Field(
        1000, ge=0, description="Most users whose Experiment variants one snapshot records."
    )
    experiment_requests_per_second: float = Field(
        10.0, gt=0, description="Most Experiment evaluation requests per second."
    )
    partitions_per_run: int = Field(168, ge=1, description="Hours per Dagster backfill run.")
    dagster_automation: bool = Field(
        False,
        description="Start the Dagster schedules and sensors when the code location loads"
        " (otherwise they are stopped until turned on in the UI).",
    )

    @model_validator(mode="before")
    @classmethod
    def _catalog_follows_the_lake(cls, data: Any) -> Any:
        """A lake named without a catalog gets its own, beside it: two lakes never share one."""
        if isinstance(data, dict) and data.get("lake") and not data.get("catalog"):
            data = {**data, "catalog": catalog_beside(str(data["lake"]))}
        return data

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable of a setting (`setting_names.variable`)."""
        return setting_names.variable(name)

    @staticmethod
    def named(name: str) -> str:
        """How a user sets a setting: flag and variable (`setting_names.named`)."""
        return setting_names.named(name)

    @classmethod
    def read(cls, **values: Any) -> AmplitudeSettings:
        """Read the settings: `values` (flags, resource fields) first, then the environment.

        Args:
            **values: Values that win over the environment; None means "not given".

        Returns:
            The settings.

        Raises:
            ConfigError: If a value is invalid, naming the setting and its variable.
        """
        given = {k: v for k, v in values.items() if v is not None and v != ""}
        try:
            return cls(**given)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "?"
            raise ConfigError(
                f"setting {name} ({cls.variable(name)}): {first['msg']}",
                remedy=f"fix {cls.named(name)}",
            ) from None

    @property
    def first_hour(self) -> datetime | None:
        """`start` as an hour, or None."""
        if not self.start:
            return None
        try:
            return parse_hour(self.start)
        except ValueError as exc:
            raise ConfigError(
                f"setting start ({self.variable('start')}): {exc}",
                remedy=f"fix {self.named('start')}: YYYY-MM-DD or YYYYMMDDTHH",
            ) from None

    def loader_settings(self) -> LoaderSettings:
        """The library's settings for these values.

        Returns:
            Loader settings.
        """
        return LoaderSettings(
            lake_root=self.lake,
            catalog_path=self.catalog,
            start=self.first_hour,
            lag_hours=self.export_lag_hours,
            max_reject_ratio=self.max_reject_ratio,
            max_repeat_ratio=self.max_repeat_ratio,
            guards=Guards(
                max_line_bytes=int(self.max_line_mb * 1024**2),
                max_expansion=self.max_expansion,
            ),
            timeouts=Timeouts(self.connect_timeout_seconds, self.read_timeout_seconds),
            retry=RetryPolicy(deadline_seconds=self.retry_minutes * 60),
            recheck_hours=self.recheck_hours,
            retention_hours=self.retention_hours,
            erasure_retention_hours=self.erasure_retention_hours,
        )

    def projects(self, *, keys: bool = True) -> list[ProjectConfig]:
        """The configured projects: those of the projects file, or the one project.

        Args:
            keys: Require the API keys (commands that only read the lake pass False).

        Returns:
            The projects.
        """
        return projects_from_env(
            os.environ,
            keys=keys,
            projects_file=self.projects_file,
            project_id=self.project_id,
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            secret_key=self.secret_key.get_secret_value() if self.secret_key else None,
            region=self.region,
            base_url=self.base_url,
            experiment_deployment_keys=self.experiment_deployment_keys.get_secret_value()
            if self.experiment_deployment_keys
            else None,
        )

    def experiment_options(
        self, cohorts: tuple[str, ...] = (), users: tuple[ExperimentUser, ...] = ()
    ) -> ExperimentOptions:
        """Whose Experiment variants a snapshot records, with the cap and rate of these settings.

        Args:
            cohorts: Cohort patterns that replace `experiment_cohorts` (a command's own).
            users: Users given by list.

        Returns:
            The options.
        """
        configured = tuple(
            p.strip() for p in (self.experiment_cohorts or "").split(",") if p.strip()
        )
        return ExperimentOptions(
            cohorts=cohorts or configured,
            users=users,
            max_users=self.experiment_max_users,
            requests_per_second=self.experiment_requests_per_second,
        )

    def project_ids(self) -> tuple[str, ...]:
        """The configured project ids, without reading any key (for Dagster's partitions).

        Returns:
            The ids; ("",) when none is configured, so that a code location still loads.
        """
        if self.projects_file:
            ids = tuple(str(p["id"]) for p in read_projects_file(Path(self.projects_file)))
        else:
            ids = (self.project_id or "",)
        return tuple(i for i in ids if i) or ("",)
