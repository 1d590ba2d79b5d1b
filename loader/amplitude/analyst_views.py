"""Views for analysts and for dbt packages, defined over `amplitude.events` in `sql/`.

Each view's SQL file opens with the definition of its terms, which the catalog keeps as the
view's comment. `amplitude_fivetran` holds Fivetran's Amplitude schema (`event`,
`event_type`) so that dbt packages written for it run unchanged.
"""

from __future__ import annotations

from loader.amplitude.typed_views import typed_event_views
from loader.catalog import View
from loader.pinned import PinnedLake
from loader.sqlfiles import read_sql

FIVETRAN_SCHEMA = "amplitude_fivetran"

ANALYST_VIEWS = (
    "sessions",
    "daily_active_users",
    "experiment_exposures",
    "experiment_exposure_variants",
    "event_properties_long",
)
FIVETRAN_VIEWS = ("event", "event_type")


def _view(schema: str, name: str, folder: str) -> View:
    sql = read_sql(f"{folder}/{name}.sql")
    # The comment block that opens the file defines the view's terms: analysts see it as the
    # view's comment in `duckdb_views()`.
    header = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        header.append(line.removeprefix("-- ").removeprefix("--"))
    return View(schema, name, sql, "\n".join(header).strip())


def analyst_views(pinned: PinnedLake) -> list[View]:
    """Return the views built on `amplitude.events` for analysts and dbt packages.

    Sessions, active users, experiment exposures, property long form, the Fivetran-compatible
    schema and the typed event views.

    Args:
        pinned: The snapshot of the lake (the typed views follow its latest taxonomy).

    Returns:
        The views, after which nothing else depends on them.
    """
    return [
        *(_view("amplitude", name, "amplitude") for name in ANALYST_VIEWS),
        *(_view(FIVETRAN_SCHEMA, name, "amplitude_fivetran") for name in FIVETRAN_VIEWS),
        *typed_event_views(pinned),
    ]
