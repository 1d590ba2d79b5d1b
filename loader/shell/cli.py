"""The `amplitude-loader` command line."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from loader import __version__
from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.experiment.users import parse_users
from loader.amplitude.hour_status import hour_statuses
from loader.amplitude.lake_access import vacuum_lake
from loader.amplitude.runner import (
    lake_projects,
    project_status,
    recheck_projects,
    refresh_catalog,
    sync_projects,
)
from loader.amplitude.settings import AmplitudeSettings
from loader.amplitude.snapshot_runner import KINDS as SNAPSHOT_KINDS
from loader.amplitude.snapshot_runner import describe_snapshot, snapshot_projects
from loader.amplitude.sync_report import SyncReport
from loader.errors import ConfigError
from loader.hours import utc_now
from loader.secrets import install_log_redaction
from loader.shell.demo import demo, emulator
from loader.shell.failures import fail, handle_errors, terminate_like_an_interrupt
from loader.shell.options import (
    END_HOUR_TYPE,
    HOUR_TYPE,
    configure,
    read_settings,
    setting_option,
    settings_options,
)
from loader.shell.privacy_commands import deletions, forget
from loader.shell.status_page import status_page
from loader.shell.status_text import print_status
from loader.shell.terminal import TerminalProgress, print_rows

log = logging.getLogger("loader")


def print_reports(reports: list[SyncReport]) -> None:
    """Print one line per project."""
    for r in reports:
        click.echo(
            f"project {r.project}: {r.hours_loaded + r.hours_empty} hour(s) loaded,"
            f" {r.hours_empty} of them without events,"
            f" {r.rows:,} events, {r.rejects:,} rejected, {r.requests} export request(s),"
            f" {r.splits} split(s), {r.bytes_downloaded / 1e6:,.1f} MB downloaded in"
            f" {r.seconds:,.1f} s ({r.events_per_second:,.0f} events/s)"
        )


class LoaderGroup(click.Group):
    """The command group, whose usage errors are one line, like every other error."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command; a bad option or value exits 2 with one line naming the fix."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.ClickException as exc:
            command = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
            hint = f" (see `{command} --help`)" if command else ""
            fail(exc.format_message() + hint, exc.exit_code)
        except click.Abort:
            fail("interrupted", 130)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=LoaderGroup)
@click.version_option(__version__, prog_name="amplitude-loader")
@click.option("-v", "--verbose", count=True, help="-v for progress logs, -vv for debugging.")
def main(verbose: int) -> None:
    """Load Amplitude's raw event export into a Parquet lake and a DuckDB catalog."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    terminate_like_an_interrupt()


@main.command()
@settings_options
@click.option("--start", type=HOUR_TYPE, help="First hour (default: the configured start).")
@handle_errors
def sync(start: datetime | None, **kwargs: Any) -> None:
    """Load every missing hour from the start to the newest ready hour."""
    projects, settings = configure(kwargs)
    with TerminalProgress() as progress:
        reports = sync_projects(projects, settings, start=start, progress=progress)
    print_reports(reports)


@main.command()
@settings_options
@click.option("--start", type=HOUR_TYPE, required=True, help="First hour or date.")
@click.option(
    "--end",
    type=END_HOUR_TYPE,
    required=True,
    help="Last hour, or a date (its whole day), included.",
)
@click.option("--reload", is_flag=True, help="Replace hours that are already loaded.")
@handle_errors
def backfill(start: datetime, end: datetime, reload: bool, **kwargs: Any) -> None:
    """Load the hours from --start to --end, both included."""
    if end < start:
        raise ConfigError(
            f"--end {end:%Y-%m-%dT%H} is before --start {start:%Y-%m-%dT%H}",
            remedy="swap them: both ends are included",
        )
    projects, settings = configure(kwargs)
    with TerminalProgress() as progress:
        reports = sync_projects(
            projects, settings, start=start, end=end, reload=reload, progress=progress
        )
    print_reports(reports)


@main.command()
@settings_options
@click.option(
    "--hours",
    default=24,
    show_default=True,
    type=click.IntRange(1),
    help="How many of the newest loaded hours to check.",
)
@handle_errors
def recheck(hours: int, **kwargs: Any) -> None:
    """Export the newest loaded hours again and replace those whose content changed (late data)."""
    projects, settings = configure(kwargs)
    with TerminalProgress() as progress:
        reports = recheck_projects(projects, settings, hours, progress=progress)
    print_reports(reports)
    for r in reports:
        click.echo(f"project {r.project}: {r.unchanged} hour(s) unchanged")


@main.command()
@settings_options
@click.argument("what", type=click.Choice(["all", *SNAPSHOT_KINDS]), default="all")
@click.option("--include", multiple=True, help="Cohort name or id pattern to download (repeat).")
@click.option("--exclude", multiple=True, help="Cohort name or id pattern to skip (repeat).")
@click.option("--props", is_flag=True, help="Download cohort members' user properties too.")
@click.option(
    "--monthly-budget",
    default=450,
    show_default=True,
    type=click.IntRange(0),
    help="Cohort downloads allowed per month (Amplitude allows 500).",
)
@click.option(
    "--strict-taxonomy",
    is_flag=True,
    help="Fail when the plan lacks the Taxonomy API instead of recording it.",
)
@setting_option("experiment_cohorts")
@click.option(
    "--experiment-users",
    type=click.File("r"),
    help="File of users whose Experiment variants to record: user_id or user_id,device_id per"
    " line (- for stdin).",
)
@setting_option("experiment_max_users")
@setting_option("experiment_requests_per_second")
@handle_errors
def snapshot(
    what: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    props: bool,
    monthly_budget: int,
    strict_taxonomy: bool,
    experiment_users: TextIO | None,
    **kwargs: Any,
) -> None:
    """Snapshot cohorts (with membership), taxonomy, the events list, annotations and Experiment."""
    values = read_settings(kwargs)
    projects, settings = values.projects(), values.loader_settings()
    kinds = SNAPSHOT_KINDS if what == "all" else (what,)
    options = CohortOptions(
        include=include or ("*",), exclude=exclude, props=props, monthly_budget=monthly_budget
    )
    users = tuple(parse_users(experiment_users)) if experiment_users else ()
    with TerminalProgress() as progress:
        reports = snapshot_projects(
            projects,
            settings,
            kinds,
            cohort_options=options,
            experiment_options=values.experiment_options(users=users),
            strict_taxonomy=strict_taxonomy,
            progress=progress,
        )
    refresh_catalog(settings)
    for r in reports:
        click.echo(describe_snapshot(r))


@main.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write a page with a calendar of upload days per project (rows, gaps, rejects),"
    " and the hours of recent days.",
)
@click.option(
    "--hours-from",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The page shows the hours from this day (default: the last 14 days).",
)
@click.option("--hours-to", type=click.DateTime(["%Y-%m-%d"]), help="... to this day.")
@handle_errors
def status(
    as_json: bool,
    html_file: Path | None,
    hours_from: datetime | None,
    hours_to: datetime | None,
    **kwargs: Any,
) -> None:
    """Show, per project, loaded ranges, gaps, rows, the last load and failures (no keys needed)."""
    values = read_settings(kwargs)
    settings = values.loader_settings()
    # Nothing configured (after `demo`, say): every project the lake holds; status needs no key.
    configured = values.project_id or values.projects_file
    projects = values.projects(keys=False) if configured else lake_projects(settings)
    statuses = [project_status(p, settings) for p in projects]
    if html_file is not None:
        page = status_page(
            [(p.label, hour_statuses(p, settings)) for p in projects],
            generated=utc_now(),
            hours_from=hours_from.date() if hours_from else None,
            hours_to=hours_to.date() if hours_to else None,
        )
        html_file.write_text(page, encoding="utf-8")
        click.echo(f"wrote {html_file}", err=True)
    if as_json:
        click.echo(json.dumps([asdict(s) for s in statuses], indent=1, default=str))
        return
    print_status(statuses, settings)


@main.command()
@setting_option("lake")
@setting_option("catalog")
@click.option("--force", is_flag=True, help="Rebuild even if the views did not change.")
@handle_errors
def catalog(lake: str | None, catalog: str | None, force: bool) -> None:
    """Rebuild the DuckDB catalog if its view definitions changed."""
    settings = AmplitudeSettings.read(lake=lake, catalog=catalog).loader_settings()
    changed = refresh_catalog(settings, force=force)
    click.echo(f"catalog {settings.catalog_path}: {'rebuilt' if changed else 'already up to date'}")


@main.command()
@setting_option("lake")
@setting_option("retention_hours")
@setting_option("erasure_retention_hours")
@handle_errors
def vacuum(
    lake: str | None, retention_hours: str | None, erasure_retention_hours: str | None
) -> None:
    """Delete files that no snapshot younger than the retention references."""
    settings = AmplitudeSettings.read(
        lake=lake,
        retention_hours=retention_hours,
        erasure_retention_hours=erasure_retention_hours,
    )
    report = vacuum_lake(settings.loader_settings())
    click.echo(
        f"vacuumed {report.tables:,} table(s): removed {len(report.removed):,} file(s) and"
        f" {report.log_records:,} log record(s)"
        + (
            f"; {len(report.shortened)} table(s) kept erased files for the erasure retention only"
            if report.shortened
            else ""
        )
    )


@main.command()
@click.argument("sql")
@setting_option("catalog")
@setting_option("lake")
@click.option("--max-rows", default=40, show_default=True, type=int)
@handle_errors
def query(sql: str, catalog: str | None, lake: str | None, max_rows: int) -> None:
    """Run SQL on the catalog, read-only (loads keep running meanwhile)."""
    import duckdb

    from loader.catalog import open_catalog
    from loader.lake import Lake

    settings = AmplitudeSettings.read(catalog=catalog, lake=lake)
    catalog = settings.catalog
    if not Path(catalog).is_file():
        raise ConfigError(
            f"there is no catalog at {catalog}",
            remedy="load something first (`amplitude-loader sync`, or `amplitude-loader demo`),"
            f" or point {AmplitudeSettings.named('catalog')} at the catalog file",
        )
    # A remote lake's files are read through its fsspec filesystem (credentials from the
    # standard chain of its store); DuckDB downloads no extension.
    with open_catalog(catalog, Lake(settings.lake).duckdb_filesystem) as con:
        try:
            result = con.execute(sql)
        except duckdb.Error as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"the query failed: {first_line}",
                remedy='fix the SQL; `amplitude-loader query "SHOW ALL TABLES"` lists the'
                " tables and views",
            ) from None
        if result.description is None:
            click.echo("OK")
            return
        columns = [column[0] for column in result.description]
        print_rows(columns, result.fetchmany(max_rows), table=sys.stdout.isatty())


@main.command()
@click.option(
    "--events",
    default=3_000_000,
    show_default=True,
    type=click.IntRange(1000),
    help="Events in each synthetic day.",
)
@click.option(
    "--scale",
    is_flag=True,
    help="Also run a window of 10 such days (memory must stay flat).",
)
@click.option(
    "--dir",
    "folder",
    default=".bench",
    show_default=True,
    type=click.Path(),
    help="Where the generated exports (kept for reuse) and work files go.",
)
@click.option("--json", "json_path", type=click.Path(), help="Also write the figures here.")
@click.option(
    "--lake",
    "lake",
    help="Also load into a lake on object storage (s3://bucket/prefix; credentials from the"
    " standard AWS chain, AWS_ENDPOINT_URL for an S3-compatible server) and report its time"
    " beside the local lake's. The load goes to a new folder below it, deleted afterwards.",
)
@handle_errors
def bench(events: int, scale: bool, folder: str, json_path: str | None, lake: str | None) -> None:
    """Measure the loader against the physical floor on this machine."""
    from loader.shell.benchmark import report_text, run_benchmark, write_json

    results = []
    for days in [1, 10] if scale else [1]:
        click.echo(
            f"generating or reusing {days} synthetic day(s) of {events:,} events in {folder} ..."
        )
        result = run_benchmark(events, Path(folder), days=days, lake=lake)
        results.append(result)
        click.echo(report_text(result))
    if scale:
        growth = results[1].peak_memory_mb / results[0].peak_memory_mb - 1
        click.echo(f"memory at 10x the window: {growth:+.0%}")
    if json_path:
        write_json(results, Path(json_path))


main.add_command(demo)
main.add_command(emulator)
main.add_command(deletions)
main.add_command(forget)
