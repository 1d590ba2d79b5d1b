"""The privacy commands: `deletions` (Amplitude's deletion jobs) and `forget` (a local request).

Neither prints an erased id: only counts, job days and snapshot versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from loader.amplitude.privacy.deletion_api import IdRequest
from loader.amplitude.privacy.erase import ErasureReport
from loader.amplitude.privacy.sync import forget as forget_users
from loader.amplitude.privacy.sync import sync_deletions
from loader.amplitude.runner import refresh_catalog
from loader.errors import ConfigError, LoaderError
from loader.shell.failures import handle_errors
from loader.shell.options import configure, settings_options


def describe_erasure(erasure: ErasureReport) -> str:
    """What an erasure removed, without any erased value."""
    if erasure.version is None:
        return "nothing recorded"
    rows: dict[str, int] = {}
    lines = 0
    for name, n in erasure.rows.items():
        table, _, part = name.rpartition(".")
        if part == "rows":  # every row once (a compacted day's file holds copies of them)
            rows[table] = rows.get(table, 0) + n
        elif part == "rejects":
            lines += n
    removed = ", ".join(f"{table} {n:,}" for table, n in sorted(rows.items()) if n)
    return (
        f"{erasure.ids} id(s) erased ({erasure.resolved} Amplitude id(s) found for user ids):"
        f" rows removed: {removed or 'none'}; rejected lines removed: {lines:,};"
        f" {erasure.files} file(s) rewritten (snapshot {erasure.version})"
    )


def _each(projects: list[Any], run: Any) -> None:
    """Run for every project; one failing does not stop the others, all are raised at the end."""
    errors = []
    for project in projects:
        try:
            run(project)
        except LoaderError as exc:
            errors.append(exc)
    if errors:
        raise LoaderError.together(errors)


def _read_ids(lines: Any) -> list[IdRequest]:
    """Ids from lines `amplitude_id=N` or `user_id=TEXT` (blank lines and `#` comments skipped)."""
    ids = []
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\n")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        kind, _, value = text.partition("=")
        kind = kind.strip()
        if kind == "amplitude_id" and value.strip().isdigit():
            ids.append(IdRequest(kind, int(value)))
        elif kind == "user_id" and value:
            ids.append(IdRequest(kind, value))
        else:  # the line itself may be an id: never repeat it
            raise ConfigError(
                f"line {number} of the ids file is neither amplitude_id=N nor user_id=TEXT",
                remedy="write one id a line, for example user_id=42 or amplitude_id=123",
            )
    return ids


@click.command()
@settings_options
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Also list the jobs from this day (requests older than the project's first hour).",
)
@handle_errors
def deletions(since: datetime | None, **kwargs: Any) -> None:
    """Fetch the projects' privacy deletion jobs and erase their users from the lake at once."""
    projects, settings = configure(kwargs)

    def run(project: Any) -> None:
        report = sync_deletions(project, settings, since=since.date() if since else None)
        erased = describe_erasure(report.erasure) if report.erasure else "nothing new"
        click.echo(
            f"project {report.project}: {report.jobs} deletion job(s) in {report.listed},"
            f" {report.new_ids} new id(s), {report.status_changes} status change(s); {erased}"
        )

    try:
        _each(projects, run)
    finally:
        refresh_catalog(settings)


@click.command()
@settings_options
@click.option("--amplitude-id", "amplitude_ids", multiple=True, type=int, help="Repeat.")
@click.option("--user-id", "user_ids", multiple=True, help="Repeat.")
@click.option(
    "--ids-file",
    type=click.File("r"),
    help="Ids one a line, as amplitude_id=N or user_id=TEXT ('-': standard input): flags show"
    " in process lists and shell history.",
)
@click.option("--requester", required=True, help="Who asked (kept with the request).")
@click.option(
    "--submit",
    is_flag=True,
    help="Also ask Amplitude to delete them (User Privacy API; it emails every admin).",
)
@handle_errors
def forget(
    amplitude_ids: tuple[int, ...],
    user_ids: tuple[str, ...],
    ids_file: Any,
    requester: str,
    submit: bool,
    **kwargs: Any,
) -> None:
    """Erase users from the lake now: every project configured, every table, one commit each."""
    ids = [IdRequest("amplitude_id", a) for a in amplitude_ids]
    ids += [IdRequest("user_id", u) for u in user_ids]
    if ids_file is not None:
        ids += _read_ids(ids_file)
    if not ids:
        raise ConfigError(
            "forget needs at least one --amplitude-id or --user-id",
            remedy="amplitude-loader forget --user-id ... --requester you@example.com",
        )
    projects, settings = configure(kwargs, keys=submit)

    def run(project: Any) -> None:
        erasure, jobs = forget_users(project, settings, ids, requester, submit=submit)
        sent = (
            f"; submitted to Amplitude (job of {', '.join(str(j.day) for j in jobs)})"
            if jobs
            else ""
        )
        click.echo(f"project {project.label}: {describe_erasure(erasure)}{sent}")

    try:
        _each(projects, run)
    finally:
        refresh_catalog(settings)
