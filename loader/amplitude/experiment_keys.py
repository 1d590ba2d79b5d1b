"""Experiment deployments: a name and a deployment key each, several per project.

A deployment key is Experiment's only credential (`Authorization: Api-Key <key>`), and a secret
like the project's keys. It comes from the environment:

- one project: `AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS="server=<key>,web=<key>"` (a bare key is
  the deployment `default`);
- a projects file: `experiment_keys_env = { server = "VAR", web = "VAR" }` per project, naming
  the variables that hold the keys (the file holds no secret).

The name is the loader's (Amplitude's flag configurations do not carry one): it labels the
deployment's rows in the tables, where the key itself must never appear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from loader.errors import ConfigError
from loader.http import check_base_url
from loader.secrets import Secret

ENV = "AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS"
#: Hosts per data region. Flag configurations: `server_url` of the Python server SDK's local
#: evaluation (`local/config.py` of amplitude/experiment-python-server); evaluation: the
#: Evaluation API's documented servers.
FLAGS_HOSTS = {"us": "https://api.lab.amplitude.com", "eu": "https://flag.lab.eu.amplitude.com"}
EVALUATION_HOSTS = {"us": "https://api.lab.amplitude.com", "eu": "https://api.lab.eu.amplitude.com"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Deployment:
    """One Experiment deployment of a project.

    Attributes:
        name: The loader's name for it (a column of the tables).
        key: The deployment key.
    """

    name: str
    key: Secret


def _checked(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: deployment name {name[:64]!r} is not 1 to 64 letters, digits, '-', '_'"
            " or '.'",
            remedy="name each deployment like server=<key>,web=<key>",
        )
    return name


def parse_deployment_keys(text: str, where: str = ENV) -> tuple[Deployment, ...]:
    """Read `name=key` pairs, separated by commas; a lone bare key is the deployment `default`.

    Errors name the entry by its position, never by its text (which holds a key).

    Args:
        text: The variable's value.
        where: The variable's name, for messages.

    Returns:
        The deployments, in the given order.

    Raises:
        ConfigError: If an entry is empty, misnamed, or a name repeats.
    """
    entries = [e.strip() for e in text.split(",")]
    out: list[Deployment] = []
    for number, entry in enumerate(entries, 1):
        name, sep, key = entry.partition("=")
        if not sep and len(entries) == 1:
            name, key = "default", entry
        elif not sep:
            raise ConfigError(
                f"{where}: entry {number} has no name",
                remedy="write several deployments as server=<key>,web=<key>",
            )
        if not key.strip():
            raise ConfigError(f"{where}: entry {number} has no key", remedy="give every name a key")
        out.append(Deployment(_checked(name.strip(), where), Secret(key.strip())))
    return _unique(out, where)


def deployments_from_file(
    entry: Mapping[str, object], env: Mapping[str, str], project: int, required: bool
) -> tuple[Deployment, ...]:
    """Read a projects file entry's `experiment_keys_env` table (name to variable).

    Args:
        entry: The `[[project]]` entry.
        env: The environment holding the keys.
        project: The project id, for messages.
        required: Fail on a variable that is not set (commands that call Amplitude).

    Returns:
        The deployments whose variable is set (all of them when `required`).

    Raises:
        ConfigError: If the table is malformed, or a variable is missing when required.
    """
    table = entry.get("experiment_keys_env") or {}
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"project {project}: experiment_keys_env is not a table",
            remedy='write experiment_keys_env = { server = "AMPLITUDE_WEB_EXPERIMENT_KEY" }',
        )
    out = []
    for name, variable in table.items():
        value = env.get(str(variable), "")
        if not value:
            if required:
                raise ConfigError(
                    f"environment variable {variable} (Experiment deployment {name}) is not set",
                    project=project,
                    remedy=f"export {variable}=... with the deployment key",
                )
            continue
        out.append(Deployment(_checked(str(name), "experiment_keys_env"), Secret(value)))
    return _unique(out, "experiment_keys_env")


def _unique(deployments: list[Deployment], where: str) -> tuple[Deployment, ...]:
    names = [d.name for d in deployments]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where} names a deployment twice", remedy="give each its own name")
    return tuple(deployments)


def experiment_hosts(region: str, base_url: str | None) -> tuple[str, str]:
    """The flag configuration host and the evaluation host of a region (or the override).

    Args:
        region: `us` or `eu`.
        base_url: One host for everything (an emulator, a proxy), or None.

    Returns:
        (flags host, evaluation host).
    """
    if base_url:
        return check_base_url(base_url), check_base_url(base_url)
    return FLAGS_HOSTS[region], EVALUATION_HOSTS[region]
