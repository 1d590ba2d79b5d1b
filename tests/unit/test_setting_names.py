"""Every message that names a setting names a flag and a variable that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from pydantic import SecretStr

from loader.amplitude.settings import AmplitudeSettings
from loader.errors import ConfigError
from loader.shell.cli import main

ROOT = Path(__file__).resolve().parents[2]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]+(?:-[a-z0-9]+)*")  # not a CSS `--v`
VARIABLE = re.compile(r"\bAMPLITUDE_[A-Z0-9_]*[A-Z0-9]\b")
#: Variables that are not settings: a projects file's examples (`AMPLITUDE_WEB_API_KEY`), and
#: the Dagster layer's own (the alert hook, and what it tells dbt).
NOT_SETTINGS = re.compile(r"AMPLITUDE_(WEB_\w+|ALERT_WEBHOOK|DBT_TARGET|DBT_DATABASE)")


def _options(command: click.Command) -> set[str]:
    found = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found |= _options(sub)
    return found


def _strings(folder: str) -> list[tuple[Path, str]]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append((path, node.value))
    return out


def test_every_flag_and_variable_named_in_the_code_exists() -> None:
    options = _options(main) | {"--help", "--version"}
    variables = {AmplitudeSettings.variable(name) for name in AmplitudeSettings.model_fields}
    strings = _strings("loader") + _strings("dagster_defs")
    named_flags = {(p.name, f) for p, text in strings for f in FLAG.findall(text)}
    named_variables = {
        (p.name, v)
        for p, text in strings
        for v in VARIABLE.findall(text)
        if not NOT_SETTINGS.fullmatch(v)
    }
    assert len(named_flags) > 20 and len(named_variables) > 20  # the scan sees the messages
    assert sorted(f for f in named_flags if f[1] not in options) == []
    assert sorted(v for v in named_variables if v[1] not in variables) == []


def test_every_flag_of_the_settings_is_a_setting_and_an_option() -> None:
    options = _options(main)
    for name, flag in AmplitudeSettings.FLAGS.items():
        assert name in AmplitudeSettings.model_fields and flag in options, name


FREE_TEXT = (str, str | None, SecretStr | None)


def _invalid(name: str) -> str | None:
    """A value the setting refuses; None for a free text, which refuses nothing."""
    annotation = AmplitudeSettings.model_fields[name].annotation
    return None if annotation in FREE_TEXT else "abc"


@pytest.mark.parametrize("name", sorted(AmplitudeSettings.model_fields))
def test_an_invalid_value_names_the_setting_s_own_flag_and_variable(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = _invalid(name)
    if value is None:  # a free text: nothing is invalid
        return
    monkeypatch.setenv(AmplitudeSettings.variable(name), value)
    with pytest.raises(ConfigError) as raised:
        AmplitudeSettings.read()
    message = str(raised.value)
    assert f"fix {AmplitudeSettings.named(name)}" in message
    flag = AmplitudeSettings.FLAGS.get(name)
    assert (flag in message) if flag else ("fix AMPLITUDE_" in message)
    assert "--export-lag-hours" not in message
