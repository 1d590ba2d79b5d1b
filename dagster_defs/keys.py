"""Asset keys and pools, shared by the assets and checks so that each is named once."""

import dagster as dg

from loader.amplitude.taxonomy import TABLES

#: The asset group of everything here, the dbt models included.
GROUP = "amplitude"
EVENTS = dg.AssetKey(["amplitude", "events"])
CATALOG = dg.AssetKey(["amplitude", "catalog"])
#: Which snapshot fills each snapshot table.
KIND_OF_TABLE = {
    "cohorts": "cohorts",
    "cohort_members": "cohorts",
    "event_types": "events-list",
    "annotations": "annotations",
    **{table: "taxonomy" for table in TABLES if table.startswith("taxonomy_")},
}
SNAPSHOT_KEYS = {table: dg.AssetKey(["amplitude", table]) for table in KIND_OF_TABLE}

#: Runs that call Amplitude's APIs; its limit is the number of concurrent requests.
API_POOL = "amplitude_api"
#: The catalog is rebuilt by one step at a time.
CATALOG_POOL = "amplitude_catalog"
