"""The dbt project under `sql/dbt`, downstream of the loader's assets."""

import fcntl
import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_defs.automation import AFTER_ANY_LOAD
from dagster_defs.keys import CATALOG, GROUP
from dagster_defs.resources import LakeResource

DBT_DIR = Path(__file__).resolve().parent.parent / "sql" / "dbt"
DBT_POOL = "amplitude_dbt"

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def _manifest_is_stale(project: DbtProject) -> bool:
    """Whether the manifest is missing or older than a file of the project (a model, a test)."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [*DBT_DIR.glob("*.yml"), *(DBT_DIR / "models").rglob("*")]
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


def _prepare(project: DbtProject) -> None:
    """Parse the project if its manifest is stale, one process at a time.

    `dagster dev` would parse on its own, but `dg check defs`, tests and runs need the manifest
    too, and one older than the models would name tests that are gone or miss new ones; parsing
    reads no database and takes a few seconds. Several processes load the definitions at once
    (a code server and a run, parallel test workers): the lock keeps them from writing the same
    manifest together, and the second finds it fresh.
    """
    target = project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".prepare.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _manifest_is_stale(project):
            project.preparer.prepare(project)


_prepare(dbt_project)


class LoaderTranslator(DagsterDbtTranslator):
    """dbt models read the catalog's views, so they also depend on the catalog asset."""

    def get_asset_spec(self, manifest: Any, unique_id: str, project: Any) -> dg.AssetSpec:
        """Every model depends on the catalog, is in the amplitude group and refreshes after it."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("model."):
            spec = spec.merge_attributes(deps=[CATALOG]).replace_attributes(
                group_name=GROUP, automation_condition=AFTER_ANY_LOAD
            )
        return spec


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LoaderTranslator(),
    pool=DBT_POOL,
)
def amplitude_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource
) -> Any:
    """Build the dbt models on the catalog (attached read-only) into their own DuckDB file."""
    catalog = Path(lake.settings().catalog_path).resolve()
    # The profile reads these; absolute paths because dbt runs inside the project folder.
    os.environ["AMPLITUDE_CATALOG"] = str(catalog)
    os.environ["AMPLITUDE_DBT_DATABASE"] = str(catalog.with_name("dbt.duckdb"))
    yield from dbt.cli(["build"], context=context).stream()


dbt_resource = DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_DIR))
