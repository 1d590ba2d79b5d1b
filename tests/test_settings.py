"""One settings object: the command line, the library and Dagster read the same values."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import dagster as dg
import pytest

from dagster_defs.resources import build_resources
from dagster_defs.settings import load_settings
from loader.amplitude.settings import AmplitudeSettings
from loader.errors import ConfigError
from loader.shell.options import configure, settings_options

ENVIRONMENT = {
    "AMPLITUDE_PROJECT_ID": "187520",
    "AMPLITUDE_API_KEY": "key-0123456789",
    "AMPLITUDE_SECRET_KEY": "secret-0123456789",
    "AMPLITUDE_REGION": "eu",
    "AMPLITUDE_LAKE": "/data/lake",
    "AMPLITUDE_CATALOG": "/data/warehouse.duckdb",
    "AMPLITUDE_START": "2023-06-01",
    "AMPLITUDE_EXPORT_LAG_HOURS": "5",
    "AMPLITUDE_RECHECK_HOURS": "12",
    "AMPLITUDE_RETENTION_HOURS": "6",
    "AMPLITUDE_MAX_REJECT_RATIO": "0.02",
    "AMPLITUDE_MAX_REPEAT_RATIO": "0.3",
    "AMPLITUDE_MAX_LINE_MB": "4",
    "AMPLITUDE_MAX_EXPANSION": "50",
    "AMPLITUDE_RETRY_MINUTES": "7",
    "AMPLITUDE_READ_TIMEOUT_SECONDS": "120",
    "AMPLITUDE_PARTITIONS_PER_RUN": "24",
}


def test_the_cli_the_library_and_dagster_read_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    cli_projects, cli = configure({parameter: None for parameter in _parameters()})
    values = AmplitudeSettings.read()
    library = values.loader_settings()
    location = load_settings()
    with dg.build_resources(build_resources(location)) as resources:
        dagster = resources.lake.settings(resources.amplitude)
        dagster_projects = resources.amplitude.projects()

    assert cli == library == dagster
    assert cli_projects == values.projects() == dagster_projects
    assert library.start == datetime(2023, 6, 1, tzinfo=UTC) == location.start
    assert (library.lag_hours, library.recheck_hours, library.retention_hours) == (5, 12, 6.0)
    assert (library.max_reject_ratio, library.max_repeat_ratio) == (0.02, 0.3)
    assert library.guards.max_line_bytes == 4 << 20 and library.guards.max_expansion == 50
    assert library.retry.deadline_seconds == 420 and library.timeouts.read_seconds == 120
    assert location.partitions_per_run == 24 and location.project_ids == ("187520",)
    [project] = cli_projects
    assert project.region == "eu" and project.api_key.reveal() == "key-0123456789"


def test_a_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPLITUDE_EXPORT_LAG_HOURS", "5")
    monkeypatch.setenv("AMPLITUDE_PROJECT_ID", "1")
    arguments: dict[str, object] = {parameter: None for parameter in _parameters()}
    arguments["export_lag_hours"] = "2"
    _, settings = configure(arguments, keys=False)
    assert settings.lag_hours == 2


def test_an_invalid_value_names_the_setting_and_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMPLITUDE_MAX_REJECT_RATIO", "2")
    with pytest.raises(ConfigError, match=r"max_reject_ratio \(AMPLITUDE_MAX_REJECT_RATIO\)"):
        AmplitudeSettings.read()


def _parameters() -> list[str]:
    """The parameters the settings' flags give a command, as click names them."""

    @settings_options
    def command(**kwargs: object) -> None:
        """A command with every flag."""

    return [param.name for param in click.command()(command).params if param.name]
