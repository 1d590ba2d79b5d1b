"""The dbt project under `sql/dbt`, downstream of the loader's assets."""

import fcntl
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_defs.automation import AFTER_ANY_LOAD
from dagster_defs.keys import Names
from dagster_defs.resources import LakeResource
from loader.lake import Lake


def _manifest_is_stale(project: DbtProject) -> bool:
    """Whether the manifest is missing or older than a file of the project (a model, a test)."""
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    folder = Path(project.project_dir)
    sources = [
        *folder.glob("*.yml"),
        *(path for part in ("models", "tests", "macros") for path in (folder / part).rglob("*")),
    ]
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


def prepare(project: DbtProject) -> None:
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


class LoaderTranslator(DagsterDbtTranslator):
    """Keys and group from the location's names; models depend on the catalog and follow it."""

    def __init__(self, names: Names) -> None:
        super().__init__()
        self.names = names

    def get_asset_spec(self, manifest: Any, unique_id: str, project: Any) -> dg.AssetSpec:
        """A source is the loader's asset it names; a model is `<prefix>/<model>`."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source."):
            # sources.yml names the default location's keys (`amplitude/events`): the last part
            # is the table, whatever this location's prefix.
            return spec.replace_attributes(key=self.names.key(spec.key.path[-1]))
        if unique_id.startswith("model."):
            spec = spec.replace_attributes(
                key=self.names.key(spec.key.path[-1]),
                group_name=self.names.group,
                automation_condition=AFTER_ANY_LOAD,
            ).merge_attributes(deps=[self.names.catalog])
        return spec


def build_dbt_models(names: Names, project_dir: Path) -> dg.AssetsDefinition:
    """The dbt models, built on the catalog after any load.

    Args:
        names: The code location's names.
        project_dir: The dbt project (its `profiles.yml` reads the catalog from the run).

    Returns:
        The dbt assets; they need the `dbt` resource of `dbt_resource(project_dir)`.
    """
    _dbt_on_path()
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    prepare(project)
    on_sources = source_tests(project.manifest_path)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name=names.name("dbt_models"),
        dagster_dbt_translator=LoaderTranslator(names),
        pool=names.dbt_pool,
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeResource
    ) -> Any:
        """Build the dbt models on the catalog (attached read-only) into their own DuckDB file."""
        catalog = Path(lake.settings().catalog_path).resolve()
        # The profile reads these; absolute paths because dbt runs inside the project folder.
        os.environ["AMPLITUDE_CATALOG"] = str(catalog)
        os.environ["AMPLITUDE_DBT_DATABASE"] = str(dbt_database(catalog))
        # A lake on S3: the profile's `s3` target reads the views' files through s3fs.
        on_s3 = Lake(lake.settings().lake_root).protocol in {"s3", "s3a"}
        os.environ["AMPLITUDE_DBT_TARGET"] = "s3" if on_s3 else "local"
        with _source_tests_as_observations(on_sources):
            yield from dbt.cli(["build"], context=context).stream()

    return dbt_models


def source_tests(manifest_path: Path) -> frozenset[str]:
    """The dbt tests that read only dbt sources (the loader's tables), by name."""
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return frozenset(
        node["name"]
        for node in nodes
        if node["resource_type"] == "test"
        and node["depends_on"]["nodes"]
        and all(d.startswith("source.") for d in node["depends_on"]["nodes"])
    )


class _SourceTestNotice(logging.Filter):
    """Drops dagster-dbt's warning that a test of the loader's tables became an observation."""

    def __init__(self, tests: frozenset[str]) -> None:
        super().__init__()
        self.tests = tests

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith("Logging an `AssetObservation` instead of an `AssetCheckResult`"):
            return True
        named = message.partition("for dbt test `")[2].partition("`")[0]
        return named not in self.tests


@contextmanager
def _source_tests_as_observations(tests: frozenset[str]) -> Iterator[None]:
    """Let the tests of the loader's tables (dbt sources) be observations, without a warning each.

    Those tests read the catalog's views, so they belong to the dbt run after the catalog, not
    to the loader's assets: as asset checks of `events` they would join every load's run and
    run dbt there, before the catalog is refreshed (or built). Their results are observations
    of the loader's assets, on purpose; dagster-dbt warns of each (31 a run in this project),
    and only those warnings go. Every other test is an asset check of its model.
    """
    target = logging.getLogger("dagster.builtin")
    notice = _SourceTestNotice(tests)
    target.addFilter(notice)
    try:
        yield
    finally:
        target.removeFilter(notice)


def dbt_database(catalog: Path) -> Path:
    """The DuckDB file the dbt models are built into, beside the catalog and named after it.

    `dbt.duckdb` beside `catalog.duckdb`; `lake-eu-dbt.duckdb` beside `lake-eu-catalog.duckdb`,
    so that two locations whose catalogs share a folder never build into one file.

    Args:
        catalog: The catalog file.

    Returns:
        The dbt database file.
    """
    stem = catalog.stem
    base = stem.removesuffix("catalog") if stem.endswith("catalog") else f"{stem}-"
    return catalog.with_name(f"{base}dbt.duckdb")


def dbt_resource(project_dir: Path) -> DbtCliResource:
    """The resource the dbt models run with.

    Args:
        project_dir: The dbt project.

    Returns:
        The resource.
    """
    return DbtCliResource(project_dir=str(project_dir), profiles_dir=str(project_dir))


def _dbt_on_path() -> None:
    """Put this interpreter's scripts folder on PATH when `dbt` is not found there.

    dagster-dbt runs `dbt` from PATH: to parse the project at load, and in every run. A code
    server or run started as `/venv/bin/python -m dagster ...`, its venv not activated, could not
    load the definitions ("the dbt executable 'dbt' was not found on PATH").
    """
    scripts = Path(sys.executable).parent
    if shutil.which("dbt") is None and (scripts / "dbt").exists():
        os.environ["PATH"] = os.pathsep.join((str(scripts), os.environ.get("PATH", "")))
