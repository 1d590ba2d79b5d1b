"""Checks on the events: each reads the lake through the catalog's own view definitions."""

from collections.abc import Callable
from typing import Any

import dagster as dg
import duckdb

from dagster_defs.keys import Names
from dagster_defs.resources import LakeResource
from loader.amplitude.catalog_views import amplitude_views
from loader.amplitude.events import SOURCE, TABLE
from loader.catalog import connect_views
from loader.hours import describe_hours, hours_between
from loader.lake import Lake
from loader.manifest import LOAD_LOG, ManifestStore
from loader.pinned import PinnedLake
from loader.snapshot.layout import TableLayout


def _views(lake: LakeResource) -> duckdb.DuckDBPyConnection:
    """The catalog's views over the newest snapshot; a remote lake's files via its filesystem."""
    root = Lake(lake.settings().lake_root)
    return connect_views(amplitude_views(PinnedLake.newest(root, [SOURCE])), root.duckdb_filesystem)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def uuid_unique(lake: LakeResource) -> dg.AssetCheckResult:
    """Uuid appears once per hour in the lake, and once per project in `amplitude.events`."""
    with _views(lake) as con:
        across = _rows(
            con,
            "SELECT project_id, uuid, count(*) FROM amplitude.events GROUP BY ALL"
            " HAVING count(*) > 1 ORDER BY 3 DESC LIMIT 1000",
        )
        within = _rows(
            con,
            "SELECT project_id, upload_hour, uuid FROM amplitude.events_all GROUP BY ALL"
            " HAVING count(*) > 1 LIMIT 1000",
        )
    return dg.AssetCheckResult(
        passed=not across and not within,
        metadata={
            "duplicated_uuids_in_events": len(across),
            "uuids_repeated_within_an_hour": len(within),
            "examples": ", ".join(str(r[1]) for r in (across + within)[:5]) or "none",
        },
    )


def rows_match_manifests(lake: LakeResource) -> dg.AssetCheckResult:
    """Rows in each hour's file = rows in its manifest = lines read - rejects - erased."""
    with _views(lake) as con:
        wrong = _rows(
            con,
            """
            SELECT l.project_id, l.upload_hour, l.rows, l.lines_read, l.rejects,
                   coalesce(f.rows, 0) AS file_rows
            FROM amplitude.load_log AS l
            LEFT JOIN (SELECT project_id, upload_hour, count(*) AS rows
                       FROM amplitude.events_all GROUP BY ALL) AS f
                   USING (project_id, upload_hour)
            WHERE l.table_name = 'events'
              AND (l.rows <> l.lines_read - l.rejects
                             - coalesce((l.extra->>'erased_rows')::BIGINT, 0)
                             - coalesce((l.extra->>'erased_rejects')::BIGINT, 0)
                   OR l.rows <> coalesce(f.rows, 0))
            ORDER BY l.upload_hour
            """,
        )
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={
            "hours_that_disagree": len(wrong),
            "examples": "; ".join(
                f"{p} {h:%Y-%m-%dT%H}: manifest {r}, lines {n} - rejects {j}, file {f}"
                for p, h, r, n, j, f in wrong[:5]
            )
            or "none",
        },
    )


def no_gaps(lake: LakeResource) -> dg.AssetCheckResult:
    """Every hour between a project's first and last loaded hour has a manifest."""
    root = Lake(lake.settings().lake_root)
    pinned = PinnedLake.newest(root, [SOURCE])
    gaps: dict[str, str] = {}
    for events in pinned.tables_named(SOURCE, TABLE):
        project = events.project
        layout = TableLayout(root, SOURCE, project, TABLE)
        store = ManifestStore(
            layout,
            pinned.files(SOURCE, LOAD_LOG)
            and [pinned.url(p) for p in pinned.table(layout.sibling(LOAD_LOG).key).files],
        )
        loaded = store.loaded_hours()
        if loaded:
            missing = [h for h in hours_between(min(loaded), max(loaded)) if h not in loaded]
            if missing:
                gaps[project] = describe_hours(missing)
    return dg.AssetCheckResult(
        passed=not gaps,
        metadata={"gaps": "; ".join(f"{p}: {g}" for p, g in gaps.items()) or "none"},
    )


def reject_ratio(lake: LakeResource) -> dg.AssetCheckResult:
    """Malformed lines (uuids repeated within an hour aside) stay under `max_reject_ratio`."""
    with _views(lake) as con:
        over = _rows(
            con,
            f"""
            SELECT project_id, upload_hour, rejects, lines_read FROM (
                SELECT *, rejects - coalesce((extra->>'duplicates_in_hour')::BIGINT, 0)
                       AS malformed
                FROM amplitude.load_log WHERE table_name = 'events' AND lines_read > 0
            ) WHERE malformed / lines_read > {lake.settings().max_reject_ratio}
            ORDER BY upload_hour
            """,
        )
        total = _rows(con, "SELECT sum(rejects), sum(lines_read) FROM amplitude.load_log")
    rejects, lines = (int(v or 0) for v in total[0])
    return dg.AssetCheckResult(
        passed=not over,
        metadata={
            "threshold": lake.max_reject_ratio,
            "hours_over": len(over),
            "rejects": rejects,
            "lines_read": lines,
            "examples": "; ".join(f"{p} {h:%Y-%m-%dT%H}: {r} of {n}" for p, h, r, n in over[:5])
            or "none",
        },
    )


#: Each check: its function, whether it blocks the asset's downstream, and what it ensures.
CHECKS: list[tuple[Callable[[LakeResource], dg.AssetCheckResult], bool, str]] = [
    (
        uuid_unique,
        True,
        "uuid is unique within each hour, and across all loaded hours in amplitude.events.",
    ),
    (
        rows_match_manifests,
        False,
        "Every manifest's rows equal its lines read minus rejects and erased lines, and its"
        " file's rows.",
    ),
    (no_gaps, False, "No hour is missing between the first and last loaded hour."),
    (reject_ratio, False, "The share of malformed lines of every hour is under the threshold."),
]


def build_event_checks(names: Names) -> list[dg.AssetChecksDefinition]:
    """The checks on the events asset; each reads the whole lake, so none is partitioned.

    Args:
        names: The code location's names.

    Returns:
        The checks.
    """
    return [
        dg.asset_check(
            asset=names.events, name=check.__name__, blocking=blocking, description=text
        )(check)
        for check, blocking, text in CHECKS
    ]
