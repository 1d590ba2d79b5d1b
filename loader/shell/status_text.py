"""`status` for people: the catalog's snapshot and lake, then each project's hours and runs."""

from __future__ import annotations

from pathlib import Path

import click

from loader.amplitude.config import LoaderSettings
from loader.amplitude.lake_access import open_lake
from loader.amplitude.runner import ProjectStatus
from loader.catalog import catalog_lake, catalog_version


def print_status(statuses: list[ProjectStatus], settings: LoaderSettings) -> None:
    """Print what the catalog reads and, per project, loaded ranges, gaps, rows and runs.

    Args:
        statuses: The projects' statuses.
        settings: Where the lake and the catalog are.
    """
    if statuses:
        catalog_file = Path(settings.catalog_path)
        committed, pinned = statuses[0].snapshot, catalog_version(catalog_file)
        read, this = catalog_lake(catalog_file), open_lake(settings)
        if read is not None and read != this.address:
            click.echo(
                f"lake snapshot {committed}; the catalog {catalog_file} reads another lake,"
                f" {read}\n  (`amplitude-loader catalog` makes it read this one)"
            )
        else:
            click.echo(f"lake snapshot {committed}; the catalog reads snapshot {pinned}")
            if pinned != committed:
                click.echo(
                    "  (the catalog is behind: `amplitude-loader catalog` brings it up to date)"
                )
    for s in statuses:
        click.echo(f"project {s.project}")
        click.echo(f"  wanted        {s.start or '(no start configured)'} .. {s.newest_ready}")
        click.echo(
            f"  loaded        {', '.join(s.loaded_ranges[:5]) or 'nothing'}"
            + (f" (+{len(s.loaded_ranges) - 5} ranges)" if len(s.loaded_ranges) > 5 else "")
        )
        click.echo(
            f"  gaps          {', '.join(s.gaps[:5]) or 'none'}"
            + (f" (+{len(s.gaps) - 5} ranges)" if len(s.gaps) > 5 else "")
        )
        click.echo(
            f"  hours         {s.hours_loaded:,} ({s.hours_empty:,} empty);"
            f" {s.days_compacted:,} day(s) compacted"
        )
        click.echo(
            f"  events        {s.rows:,} rows; rejected: {s.rejects:,} malformed line(s),"
            f" {s.repeated_uuids:,} uuid(s) repeated within an hour;"
            f" {s.duplicate_uuids:,} later copies of re-exported uuids hidden"
        )
        if s.quarantined:
            click.echo(
                f"  quarantined   {', '.join(s.quarantined)}: not loaded, too many rejects"
                " (amplitude.rejects WHERE NOT loaded)"
            )
        for example in s.duplicate_examples:
            click.echo(f"  re-exported   {example}")
        click.echo(f"  last load     {s.last_loaded_at or 'never'}")
        if s.last_run:
            outcome = "ok" if s.last_run.get("ok") else f"FAILED: {s.last_run.get('error')}"
            click.echo(f"  last run      {s.last_run.get('finished_at')} {outcome}")
