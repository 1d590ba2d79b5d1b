"""The options the commands share, and the projects and settings they configure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import click

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.settings import AmplitudeSettings
from loader.hours import parse_hour


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


#: The settings that every command loading or inspecting the lake takes as flags.
LOAD_SETTINGS = tuple(
    name for name in AmplitudeSettings.FLAGS if not name.startswith("experiment_")
)
#: Said of the keys instead of their (empty) default.
_KEY_HELP = "prefer the environment variable: flags show up in process lists"


def setting_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A flag for one setting of `AmplitudeSettings`.

    The flag has no default of its own: when it is not given, the environment and then the
    setting's default apply, as for the library and the Dagster resources.

    Args:
        name: The setting.

    Returns:
        The click option.
    """
    field = AmplitudeSettings.model_fields[name]
    variable = AmplitudeSettings.variable(name)
    default = "" if field.default is None else f", default {field.default}"
    extra = _KEY_HELP if name in ("api_key", "secret_key") else ""
    text = f"{field.description} (env {variable}{default}){'; ' + extra if extra else ''}"
    flag = AmplitudeSettings.FLAGS[name]
    return click.option(flag, _parameter(name), default=None, help=text)


def _parameter(name: str) -> str:
    """The command's parameter for a setting (`start` is the commands' own first hour)."""
    return "default_start" if name == "start" else name


RETENTION_OPTION = setting_option("retention_hours")


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add a flag for every setting of the commands that load or inspect the lake."""
    for name in reversed(LOAD_SETTINGS):
        command = setting_option(name)(command)
    return command


def configure(
    kwargs: dict[str, Any], *, keys: bool = True
) -> tuple[list[ProjectConfig], LoaderSettings]:
    """Take the settings out of a command's arguments: its projects and loader settings.

    Args:
        kwargs: The command's arguments; the settings' flags are removed from it.
        keys: Require the projects' API keys (`status` reads only the lake).

    Returns:
        The projects and the loader settings.
    """
    settings = read_settings(kwargs)
    return settings.projects(keys=keys), settings.loader_settings()


def read_settings(kwargs: dict[str, Any]) -> AmplitudeSettings:
    """Take the settings' flags out of a command's arguments, over the environment.

    Args:
        kwargs: The command's arguments; the settings' flags are removed from it.

    Returns:
        The settings.
    """
    names = AmplitudeSettings.FLAGS
    return AmplitudeSettings.read(**{name: kwargs.pop(_parameter(name), None) for name in names})
