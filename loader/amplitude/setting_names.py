"""How a user names each setting: its command-line flag and its environment variable.

The names belong to `AmplitudeSettings` (which re-exports them); they live in this leaf module
because modules that the settings object itself imports (the HTTP clients, Experiment) name
settings in their messages too. Every message that tells the user to change a setting takes the
words from `named`, so a flag renamed here is renamed everywhere.
"""

from __future__ import annotations

PREFIX = "AMPLITUDE_"

#: The command line's flag of each setting that has one.
FLAGS: dict[str, str] = {
    "projects_file": "--projects-file",
    "project_id": "--project-id",
    "api_key": "--api-key",
    "secret_key": "--secret-key",
    "region": "--region",
    "base_url": "--base-url",
    "lake": "--lake",
    "catalog": "--catalog",
    "export_lag_hours": "--lag-hours",
    "max_reject_ratio": "--max-reject-ratio",
    "max_repeat_ratio": "--max-repeat-ratio",
    "recheck_hours": "--recheck-hours",
    "retention_hours": "--retention-hours",
    "erasure_retention_hours": "--erasure-retention-hours",
    "retry_minutes": "--retry-minutes",
    "max_line_mb": "--max-line-mb",
    "max_expansion": "--max-expansion",
    "start": "--default-start",
    "experiment_cohorts": "--experiment-cohorts",
    "experiment_max_users": "--experiment-max-users",
    "experiment_requests_per_second": "--experiment-requests-per-second",
}


def variable(name: str) -> str:
    """The environment variable of a setting.

    Args:
        name: The setting (a field of `AmplitudeSettings`).

    Returns:
        `AMPLITUDE_<NAME>`.
    """
    return PREFIX + name.upper()


def named(name: str) -> str:
    """How a user sets a setting: its flag, where it has one, and its variable.

    Args:
        name: The setting (a field of `AmplitudeSettings`).

    Returns:
        For example `--lag-hours or AMPLITUDE_EXPORT_LAG_HOURS`.
    """
    flag = FLAGS.get(name)
    return f"{flag} or {variable(name)}" if flag else variable(name)
