"""The options the commands share, and the projects and settings they configure."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from loader.amplitude.config import (
    DEFAULT_CATALOG,
    DEFAULT_LAKE,
    LoaderSettings,
    ProjectConfig,
    projects_from_env,
)
from loader.archive import Guards
from loader.hours import parse_hour
from loader.http import RetryPolicy


class HourType(click.ParamType):
    """A click parameter for an hour or a date.

    Args:
        end: A bare date means its last hour (23:00) rather than its first, so that
            `--end 2024-03-03` includes the whole day.
    """

    name = "hour"

    def __init__(self, end: bool = False) -> None:
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse the value as an hour."""
        if isinstance(value, datetime):
            return value
        try:
            hour = parse_hour(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if self.end and len(str(value).strip()) == 10:
            hour += timedelta(hours=23)
        return hour


HOUR_TYPE = HourType()
END_HOUR_TYPE = HourType(end=True)


RETENTION_OPTION = click.option(
    "--retention-hours",
    envvar="AMPLITUDE_RETENTION_HOURS",
    type=click.FloatRange(0),
    default=24.0,
    show_default=True,
    help="How long files of superseded snapshots stay for sessions that still read them"
    " (env AMPLITUDE_RETENTION_HOURS).",
)


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options shared by the commands that load or inspect the lake."""
    options = [
        click.option(
            "--projects-file",
            envvar="AMPLITUDE_PROJECTS_FILE",
            type=click.Path(),
            help="TOML file listing several projects (env AMPLITUDE_PROJECTS_FILE).",
        ),
        click.option(
            "--project-id",
            envvar="AMPLITUDE_PROJECT_ID",
            help="Project id (env AMPLITUDE_PROJECT_ID).",
        ),
        click.option(
            "--api-key",
            envvar="AMPLITUDE_API_KEY",
            show_envvar=True,
            help="Prefer the environment variable; flags show up in process lists.",
        ),
        click.option(
            "--secret-key",
            envvar="AMPLITUDE_SECRET_KEY",
            show_envvar=True,
            help="Prefer the environment variable.",
        ),
        click.option(
            "--region",
            envvar="AMPLITUDE_REGION",
            type=click.Choice(["us", "eu"]),
            help="Data region (env AMPLITUDE_REGION, default us).",
        ),
        click.option(
            "--base-url",
            envvar="AMPLITUDE_BASE_URL",
            help="API host override; plain http only on loopback (env AMPLITUDE_BASE_URL).",
        ),
        click.option(
            "--lake",
            envvar="AMPLITUDE_LAKE",
            default=DEFAULT_LAKE,
            show_default=True,
            help="Lake folder or fsspec URL (env AMPLITUDE_LAKE).",
        ),
        click.option(
            "--catalog",
            envvar="AMPLITUDE_CATALOG",
            default=DEFAULT_CATALOG,
            show_default=True,
            help="DuckDB catalog file (env AMPLITUDE_CATALOG).",
        ),
        click.option(
            "--lag-hours",
            envvar="AMPLITUDE_EXPORT_LAG_HOURS",
            type=int,
            default=3,
            show_default=True,
            help="Hours before an hour is exported (env AMPLITUDE_EXPORT_LAG_HOURS).",
        ),
        click.option(
            "--max-reject-ratio",
            envvar="AMPLITUDE_MAX_REJECT_RATIO",
            type=click.FloatRange(0, 1),
            default=0.01,
            show_default=True,
            help="Share of malformed lines above which an hour fails and is quarantined"
            " (env AMPLITUDE_MAX_REJECT_RATIO).",
        ),
        click.option(
            "--max-repeat-ratio",
            envvar="AMPLITUDE_MAX_REPEAT_RATIO",
            type=click.FloatRange(0, 1),
            default=0.5,
            show_default=True,
            help="Share of lines repeating a uuid of their hour above which an hour fails"
            " (from 1,000 repeats; env AMPLITUDE_MAX_REPEAT_RATIO).",
        ),
        click.option(
            "--recheck-hours",
            envvar="AMPLITUDE_RECHECK_HOURS",
            type=click.IntRange(0),
            default=24,
            show_default=True,
            help="Re-check window: a day is compacted once it ended this long (plus the lag)"
            " ago (env AMPLITUDE_RECHECK_HOURS).",
        ),
        RETENTION_OPTION,
        click.option(
            "--retry-minutes",
            envvar="AMPLITUDE_RETRY_MINUTES",
            type=click.FloatRange(0),
            default=30.0,
            show_default=True,
            help="How long a failing API call is retried before the hours it serves fail"
            " (env AMPLITUDE_RETRY_MINUTES).",
        ),
        click.option(
            "--max-line-mb",
            envvar="AMPLITUDE_MAX_LINE_MB",
            type=click.FloatRange(0, min_open=True),
            default=16.0,
            show_default=True,
            help="A longer line is one reject, skipped whole (env AMPLITUDE_MAX_LINE_MB).",
        ),
        click.option(
            "--max-expansion",
            envvar="AMPLITUDE_MAX_EXPANSION",
            type=click.FloatRange(1),
            default=100.0,
            show_default=True,
            help="Most a member may expand when decompressed; exports expand about 10 times"
            " (env AMPLITUDE_MAX_EXPANSION).",
        ),
        click.option(
            "--default-start",
            "default_start",
            envvar="AMPLITUDE_START",
            type=HOUR_TYPE,
            help="First hour to load for projects that name none (env AMPLITUDE_START).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def configure(
    kwargs: dict[str, Any], *, keys: bool = True
) -> tuple[list[ProjectConfig], LoaderSettings]:
    """Take the shared options out of a command's arguments: its projects and settings.

    Args:
        kwargs: The command's arguments; the shared options are removed from it.
        keys: Require the projects' API keys (`status` reads only the lake).

    Returns:
        The projects and the loader settings.
    """
    projects = projects_from_env(
        os.environ,
        keys=keys,
        projects_file=kwargs.pop("projects_file"),
        project_id=kwargs.pop("project_id"),
        api_key=kwargs.pop("api_key"),
        secret_key=kwargs.pop("secret_key"),
        region=kwargs.pop("region"),
        base_url=kwargs.pop("base_url"),
    )
    settings = LoaderSettings(
        lake_root=kwargs.pop("lake"),
        catalog_path=kwargs.pop("catalog"),
        start=kwargs.pop("default_start"),
        lag_hours=kwargs.pop("lag_hours"),
        max_reject_ratio=kwargs.pop("max_reject_ratio"),
        max_repeat_ratio=kwargs.pop("max_repeat_ratio"),
        recheck_hours=kwargs.pop("recheck_hours"),
        retention_hours=kwargs.pop("retention_hours"),
        retry=RetryPolicy(deadline_seconds=kwargs.pop("retry_minutes") * 60),
        guards=Guards(
            max_line_bytes=int(kwargs.pop("max_line_mb") * 1024**2),
            max_expansion=kwargs.pop("max_expansion"),
        ),
    )
    return projects, settings
