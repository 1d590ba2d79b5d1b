"""`amplitude-loader demo` and `amplitude-loader emulator`: the built-in emulator at work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import duckdb

from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.events import SOURCE, TABLE
from loader.amplitude.experiment.snapshot import ExperimentOptions
from loader.amplitude.experiment_keys import Deployment
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import describe_snapshot, snapshot_project
from loader.amplitude.source_clock import record_source_clock
from loader.emulator import EmulatorServer, SyntheticProject
from loader.hours import hours_between, newest_ready_hour, parse_hour
from loader.lake import Lake
from loader.secrets import Secret
from loader.shell.failures import handle_errors
from loader.shell.terminal import TerminalProgress
from loader.snapshot.layout import TableLayout

#: The demo loads a fixed stretch of synthetic history, so that its numbers are reproducible.
DEMO_START = datetime(2024, 3, 1, tzinfo=UTC)
#: The demo records the Experiment variants of a few power users, quickly.
DEMO_EXPERIMENT = ExperimentOptions(cohorts=("Power users",), max_users=25, requests_per_second=50)
DEMO_QUERIES = (
    (
        "Events per type over the loaded days",
        "SELECT event_type, count(*) AS events\nFROM amplitude.events\n"
        "GROUP BY ALL ORDER BY events DESC LIMIT 5;",
    ),
    (
        "Daily active users",
        "SELECT event_time::DATE AS day, count(DISTINCT amplitude_id) AS users\n"
        "FROM amplitude.events GROUP BY ALL ORDER BY day;",
    ),
    (
        "A property from the JSON bag",
        "SELECT event_properties->>'screen' AS screen, count(*) AS events\n"
        "FROM amplitude.events WHERE event_type = 'Page Viewed'\n"
        "GROUP BY ALL ORDER BY events DESC;",
    ),
)


@click.command()
@click.option(
    "--dir",
    "folder",
    default="warehouse",
    show_default=True,
    type=click.Path(),
    help="Folder for the lake and the catalog.",
)
@click.option(
    "--days",
    default=3,
    show_default=True,
    type=click.IntRange(1, 60),
    help="Days of synthetic history to load.",
)
@click.option("--events-per-hour", default=300, show_default=True, type=click.IntRange(1))
@handle_errors
def demo(folder: str, days: int, events_per_hour: int) -> None:
    """Load a synthetic project from the built-in emulator into FOLDER and show what to query."""
    project = SyntheticProject(events_per_hour=events_per_hour)
    now = DEMO_START + timedelta(days=days, hours=2, minutes=30)  # the last demo hour is ready
    base = Path(folder)
    settings = LoaderSettings(
        lake_root=str(base / "lake"),
        catalog_path=str(base / "catalog.duckdb"),
        start=DEMO_START,
    )
    with EmulatorServer([project], now=now, gzip_level=1) as server:
        config = ProjectConfig(
            project.project_id,
            Secret(project.api_key),
            Secret(project.secret_key),
            base_url=server.url,
            name="demo",
            experiment=(
                Deployment("server", Secret(f"server-{project.project_id}")),
                Deployment("client", Secret(f"client-{project.project_id}")),
            ),
        )
        click.echo(f"emulator serving synthetic project {project.project_id} on {server.url}")
        with TerminalProgress() as progress:
            reports = sync_projects([config], settings, now=now, progress=progress)
        # The emulator's clock stands still: `status` judges the demo's hours against it.
        record_source_clock(
            TableLayout(Lake(settings.lake_root), SOURCE, str(project.project_id), TABLE), now
        )
        requests = len(server.export_requests())
        server.metadata.polls_before_done = 1
        snapshot = snapshot_project(
            config,
            settings,
            cohort_options=CohortOptions(poll_seconds=0.2),
            experiment_options=DEMO_EXPERIMENT,
            now=now,
        )
        refresh_catalog(settings)
    last = newest_ready_hour(now, settings.lag_hours)
    truth_uuids: set[str] = set()
    for hour in hours_between(DEMO_START, last):
        truth_uuids.update(e["uuid"] for e in project.events(hour))
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*), min(event_time), max(event_time) FROM amplitude.events"
        ).fetchone()
        loaded = int(row[0]) if row else 0
    report = reports[0]
    click.echo(
        f"loaded {DEMO_START:%Y-%m-%d %H:00} .. {last:%Y-%m-%d %H:00} UTC: {report.rows:,} rows in"
        f" {report.hours_loaded + report.hours_empty} hours ({report.hours_empty} of them without"
        f" events) with {requests} export"
        f" request(s) in {report.seconds:.1f} s"
    )
    verdict = "matches" if loaded == len(truth_uuids) else "DOES NOT MATCH"
    click.echo(
        f"amplitude.events holds {loaded:,} distinct events; the emulator's ground truth has"
        f" {len(truth_uuids):,}: {verdict}"
    )
    click.echo(describe_snapshot(snapshot))
    click.echo(f"lake: {base / 'lake'}   catalog: {settings.catalog_path}\n")
    click.echo(
        f"Query it (read-only, loads keep running): uv run amplitude-loader query --catalog"
        f' {settings.catalog_path} "SQL"   or the DuckDB CLI: duckdb -readonly'
        f" {settings.catalog_path}"
    )
    for title, sql in DEMO_QUERIES:
        click.echo(f"\n-- {title}\n{sql}")
    if verdict != "matches":
        raise SystemExit(1)


@click.command()
@click.option("--port", default=8787, show_default=True, type=int)
@click.option("--project-id", default=100001, show_default=True, type=int)
@click.option("--api-key", default="demo-api-key", show_default=True)
@click.option("--secret-key", default="demo-secret-key", show_default=True)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--events-per-hour", default=300, show_default=True, type=int)
@click.option(
    "--max-export-bytes",
    default=4 * 1024**3,
    show_default=True,
    type=int,
    help="Exports larger than this get the size-limit 400 (stands in for 4 GB).",
)
@click.option("--now", help="Pin the emulator's clock (ISO time); default: the real clock.")
@handle_errors
def emulator(
    port: int,
    project_id: int,
    api_key: str,
    secret_key: str,
    seed: int,
    events_per_hour: int,
    max_export_bytes: int,
    now: str | None,
) -> None:
    """Serve the Amplitude emulator on 127.0.0.1 until interrupted."""
    project = SyntheticProject(
        project_id=project_id,
        api_key=api_key,
        secret_key=secret_key,
        seed=seed,
        events_per_hour=events_per_hour,
    )
    server = EmulatorServer(
        [project],
        port=port,
        max_export_bytes=max_export_bytes,
        now=parse_hour(now) if now else None,
    )
    click.echo(
        f"Amplitude emulator on {server.url} (project {project_id}). Point the loader at it:\n"
        f"  export AMPLITUDE_BASE_URL={server.url} AMPLITUDE_PROJECT_ID={project_id}"
        f" AMPLITUDE_API_KEY={api_key} AMPLITUDE_SECRET_KEY={secret_key}\n"
        f"Faults: POST {server.url}/_emulator/faults  Ground truth: GET"
        f" {server.url}/_emulator/truth?project={project_id}&start=YYYYMMDDTHH&end=YYYYMMDDTHH"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
