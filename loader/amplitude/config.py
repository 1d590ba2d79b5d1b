"""Configuration of Amplitude projects and of the loader, from the environment or a TOML file.

One project comes from `AMPLITUDE_PROJECT_ID`, `AMPLITUDE_API_KEY` and `AMPLITUDE_SECRET_KEY`.
Several come from a TOML file (`AMPLITUDE_PROJECTS_FILE`) that names, per project, its id and the
environment variables holding its keys, so that the file itself holds no secret:

    [[project]]
    id = 187520
    name = "web"
    api_key_env = "AMPLITUDE_WEB_API_KEY"
    secret_key_env = "AMPLITUDE_WEB_SECRET_KEY"
    region = "eu"            # optional, default from AMPLITUDE_REGION or "us"
    start = "2024-01-01"     # optional, default from AMPLITUDE_START
    experiment_keys_env = { server = "AMPLITUDE_WEB_EXPERIMENT_KEY" }   # optional
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from loader.amplitude import experiment_keys
from loader.amplitude.experiment_keys import Deployment
from loader.archive import Guards
from loader.errors import ConfigError
from loader.hours import parse_hour
from loader.http import RetryPolicy, Timeouts, check_base_url
from loader.secrets import Secret

#: The REST hosts of each data region. `analytics.amplitude.com` is the web app, not an API.
REGION_HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}

DEFAULT_LAKE = "warehouse/lake"
DEFAULT_CATALOG = "warehouse/catalog.duckdb"


def catalog_beside(lake: str) -> str:
    """The catalog a lake gets when none is named: each lake its own, never one shared.

    `warehouse/catalog.duckdb` for the default lake; `<lake>-catalog.duckdb` beside any other
    local lake; `warehouse/<bucket and path>-catalog.duckdb` for a lake on object storage.

    Args:
        lake: The lake's folder or URL.

    Returns:
        The catalog file's path.
    """
    scheme, _, rest = lake.partition("://") if "://" in lake else ("", "", lake)
    if scheme and scheme != "file":
        slug = re.sub(r"[^A-Za-z0-9._]+", "-", rest).strip("-.") or "lake"
        return str(Path(DEFAULT_CATALOG).parent / f"{slug}-catalog.duckdb")
    folder = Path(rest)
    if folder.resolve() == Path(DEFAULT_LAKE).resolve():
        return DEFAULT_CATALOG
    return str(folder.resolve().parent / f"{folder.resolve().name or 'lake'}-catalog.duckdb")


#: Schemas of the catalog; a catalog file named after one would make every query ambiguous.
CATALOG_SCHEMAS = frozenset({"amplitude", "amplitude_fivetran"})


@dataclass(frozen=True)
class ProjectConfig:
    """One Amplitude project and how to reach it.

    Attributes:
        project_id: The project (app) id, as in Settings > Projects.
        api_key: The project's API key.
        secret_key: The project's secret key.
        region: `us` or `eu`.
        base_url: Overrides the region's host (an emulator, a proxy).
        start: First hour to load, overriding the loader's default.
        name: A label for messages.
        experiment: The project's Experiment deployments (none: Experiment is not snapshotted).
    """

    project_id: int
    api_key: Secret
    secret_key: Secret
    region: str = "us"
    base_url: str | None = None
    start: datetime | None = None
    name: str | None = None
    experiment: tuple[Deployment, ...] = ()

    def __post_init__(self) -> None:
        if self.region not in REGION_HOSTS:
            raise ConfigError(
                f"region {self.region!r} is not one of {sorted(REGION_HOSTS)}",
                project=self.project_id,
                remedy="set AMPLITUDE_REGION to us or eu",
            )

    def require_keys(self) -> None:
        """Check that both keys are set, before any call to Amplitude.

        Commands that only read the lake (`status`) configure projects without keys.

        Raises:
            ConfigError: If a key is empty.
        """
        if not self.api_key or not self.secret_key:
            raise ConfigError(
                "the API key or the secret key is empty",
                project=self.label,
                remedy="set AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY (or the variables your"
                " projects file names)",
            )

    @property
    def api_url(self) -> str:
        """The base URL that API calls go to."""
        return check_base_url(self.base_url or REGION_HOSTS[self.region])

    @property
    def label(self) -> str:
        """How messages name the project."""
        return f"{self.project_id} ({self.name})" if self.name else str(self.project_id)


@dataclass(frozen=True)
class LoaderSettings:
    """Everything about a load that is not a project.

    Attributes:
        lake_root: Local folder or fsspec URL of the lake.
        catalog_path: The DuckDB catalog file.
        start: First hour to load when a project names none.
        lag_hours: Hours to wait after an hour starts before exporting it.
        target_window_bytes: Estimated compressed size one export request aims for.
        max_reject_ratio: Share of malformed lines above which an hour fails.
        max_repeat_ratio: Share of lines repeating a uuid of the same hour above which an
            hour fails (a broken or hostile export; real ones repeat a few percent at most).
        guards: Archive size limits.
        timeouts: HTTP timeouts.
        retry: HTTP retry policy.
        threads: Threads for parsing.
        recheck_hours: The re-check window: a day is compacted once it ended this many hours
            (plus the lag) ago, so that re-checks rarely rewrite a compacted day.
        retention_hours: How long files that a newer snapshot superseded are kept for readers
            of older snapshots before the vacuum deletes them.
        erasure_retention_hours: The most that files an erasure superseded (which hold the
            erased users' data) are kept, whatever the retention.
    """

    lake_root: str = DEFAULT_LAKE
    catalog_path: str = DEFAULT_CATALOG
    start: datetime | None = None
    lag_hours: int = 3
    target_window_bytes: int = 1 << 30
    max_reject_ratio: float = 0.01
    max_repeat_ratio: float = 0.5
    guards: Guards = field(default_factory=Guards)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    recheck_hours: int = 24
    retention_hours: float = 24.0
    erasure_retention_hours: float = 168.0

    @property
    def log_retention(self) -> timedelta:
        """How long a Delta log keeps a commit's record: the erasure retention (an hour at least).

        A record lists the files its commit added; none holds a user's id, and the log is
        kept no longer than erased data is.
        """
        return timedelta(hours=max(1.0, self.erasure_retention_hours))

    def __post_init__(self) -> None:
        if self.recheck_hours < 0 or self.retention_hours < 0 or self.erasure_retention_hours < 0:
            raise ConfigError(
                "the re-check window and the retention cannot be negative",
                remedy="use 24 hours (the defaults)",
            )
        if self.lag_hours < 0:
            raise ConfigError("the export lag cannot be negative", remedy="use 3 (the default)")
        if not (0 <= self.max_reject_ratio <= 1 and 0 <= self.max_repeat_ratio <= 1):
            raise ConfigError("the reject and repeat ratios must be between 0 and 1")
        if Path(self.catalog_path).stem in CATALOG_SCHEMAS:
            raise ConfigError(
                f"the catalog file {self.catalog_path} is named like the schema"
                f" {Path(self.catalog_path).stem!r}, which makes DuckDB references ambiguous",
                remedy="name it differently, for example warehouse/catalog.duckdb",
            )


def _env_secret(env: Mapping[str, str], name: str, project: str | int, required: bool) -> Secret:
    value = env.get(name, "")
    if not value and required:
        raise ConfigError(
            f"environment variable {name} is not set",
            project=project,
            remedy=f"export {name}=... with the project's key",
        )
    return Secret(value)


def projects_from_env(
    env: Mapping[str, str], *, keys: bool = True, **overrides: Any
) -> list[ProjectConfig]:
    """Read the configured projects: from the projects file if one is named, else one project.

    Args:
        env: The environment (usually `os.environ`).
        keys: Require the API keys (commands that only read the lake pass False).
        **overrides: CLI values that take precedence over the environment: `projects_file`,
            `project_id`, `api_key`, `secret_key`, `region`, `base_url`,
            `experiment_deployment_keys`.

    Returns:
        The projects.

    Raises:
        ConfigError: If something needed is missing.
    """

    def pick(name: str, var: str) -> Any:
        value = overrides.get(name)
        return value if value not in (None, "") else env.get(var) or None

    region = pick("region", "AMPLITUDE_REGION") or "us"
    base_url = pick("base_url", "AMPLITUDE_BASE_URL")
    projects_file = pick("projects_file", "AMPLITUDE_PROJECTS_FILE")
    if projects_file:
        return projects_from_file(
            Path(projects_file), env, region=region, base_url=base_url, keys=keys
        )
    project_id = pick("project_id", "AMPLITUDE_PROJECT_ID")
    if not project_id:
        raise ConfigError(
            "no project configured",
            remedy="set AMPLITUDE_PROJECT_ID, AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY, or"
            " AMPLITUDE_PROJECTS_FILE for several projects; `amplitude-loader demo` needs none",
        )
    api_key = overrides.get("api_key") or _env_secret(env, "AMPLITUDE_API_KEY", project_id, keys)
    secret_key = overrides.get("secret_key") or _env_secret(
        env, "AMPLITUDE_SECRET_KEY", project_id, keys
    )
    keys_text = overrides.get("experiment_deployment_keys") or env.get(experiment_keys.ENV)
    return [
        ProjectConfig(
            project_id=_project_id(project_id),
            api_key=api_key if isinstance(api_key, Secret) else Secret(str(api_key)),
            secret_key=secret_key if isinstance(secret_key, Secret) else Secret(str(secret_key)),
            region=str(region),
            base_url=base_url,
            experiment=experiment_keys.parse_deployment_keys(str(keys_text)) if keys_text else (),
        )
    ]


def _project_id(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ConfigError(
            f"project id {value!r} is not a number",
            remedy="use the numeric id shown in Amplitude under Settings > Projects",
        ) from None


def read_projects_file(path: Path) -> list[dict[str, Any]]:
    """Read the `[[project]]` entries of a projects file (its only reader).

    Args:
        path: The file.

    Returns:
        The entries, in file order.

    Raises:
        ConfigError: If the file is unreadable, or lists no project or a project without id.
    """
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read projects file {path}: {exc}") from None
    entries: list[dict[str, Any]] = document.get("project", [])
    if not entries:
        raise ConfigError(f"projects file {path} lists no [[project]]")
    for entry in entries:
        if "id" not in entry:
            raise ConfigError(f"a [[project]] in {path} has no id")
    return entries


def projects_from_file(
    path: Path,
    env: Mapping[str, str],
    *,
    region: str = "us",
    base_url: str | None = None,
    keys: bool = True,
) -> list[ProjectConfig]:
    """Read several projects from a TOML file.

    Args:
        path: The file.
        env: The environment holding the keys the file names.
        region: Default region for projects that name none.
        base_url: Default base URL for projects that name none.
        keys: Require the keys the file names.

    Returns:
        The projects, in file order.

    Raises:
        ConfigError: If the file is unreadable or incomplete.
    """
    entries = read_projects_file(path)
    projects = []
    for entry in entries:
        pid = _project_id(entry["id"])
        start = entry.get("start")
        projects.append(
            ProjectConfig(
                project_id=pid,
                api_key=_env_secret(env, entry.get("api_key_env", "AMPLITUDE_API_KEY"), pid, keys),
                secret_key=_env_secret(
                    env, entry.get("secret_key_env", "AMPLITUDE_SECRET_KEY"), pid, keys
                ),
                region=entry.get("region", region),
                base_url=entry.get("base_url", base_url),
                start=parse_hour(str(start)) if start else None,
                name=entry.get("name"),
                experiment=experiment_keys.deployments_from_file(entry, env, pid, keys),
            )
        )
    ids = [p.project_id for p in projects]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"projects file {path} lists a project twice")
    return projects
