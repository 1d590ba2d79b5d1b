"""The factory: a second loader with its own prefix, group, projects and settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_defs.factory import amplitude_definitions
from loader.amplitude.settings import AmplitudeSettings


def test_a_second_location_names_everything_from_its_prefix_and_keeps_its_settings(
    tmp_path: Path,
) -> None:
    projects = tmp_path / "eu.toml"
    projects.write_text(
        '[[project]]\nid = 111\napi_key_env = "WEB_KEY"\nsecret_key_env = "WEB_SECRET"\n'
        '[[project]]\nid = 222\napi_key_env = "APP_KEY"\nsecret_key_env = "APP_SECRET"\n'
    )
    settings = AmplitudeSettings.read(
        projects_file=str(projects), lake=str(tmp_path / "lake"), start="2025-01-01", region="eu"
    )
    defs = amplitude_definitions(settings, key_prefix="eu/amplitude", group="amplitude_eu")
    dg.Definitions.validate_loadable(defs)

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"eu/amplitude/events", "eu/amplitude/catalog", "eu/amplitude/cohorts"} <= keys
    assert "eu/amplitude/amplitude__users" in keys  # the dbt models too
    assert all(k.startswith("eu/amplitude/") for k in keys), keys
    assert {graph.get(k).group_name for k in graph.materializable_asset_keys} == {"amplitude_eu"}
    events = graph.get(dg.AssetKey(["eu", "amplitude", "events"]))
    assert isinstance(events.partitions_def, dg.MultiPartitionsDefinition)
    assert events.partitions_def.get_partition_keys()[0].startswith("2025-01-01-00:00")
    assert events.pools == {"eu_amplitude_api"}
    names = {d.name for d in [*defs.jobs, *defs.schedules, *defs.sensors]}  # type: ignore[misc]
    assert names and all(n.startswith("eu_amplitude_") for n in names), names
    # The automation sensor looks after this loader's group only, not another loader's.
    [automation] = [s for s in defs.sensors or [] if s.name == "eu_amplitude_automation"]
    assert automation.asset_selection == dg.AssetSelection.groups("amplitude_eu")

    lake = defs.resources["lake"]
    assert (lake.lake_root, lake.start) == (str(tmp_path / "lake"), "2025-01-01T00")
    assert defs.resources["amplitude"].region == "eu"


def test_keys_given_to_the_factory_never_enter_the_definitions(tmp_path: Path) -> None:
    secret = "factory-secret-0123456789"
    settings = AmplitudeSettings.read(
        project_id="187520",
        api_key="factory-key-0123",
        secret_key=secret,
        lake=str(tmp_path),
        experiment_deployment_keys="server=server-factory-deployment-key",
    )
    defs = amplitude_definitions(settings, dbt_project_dir=None)
    amplitude = defs.resources["amplitude"]
    assert amplitude.secret_key == dg.EnvVar("AMPLITUDE_SECRET_KEY")
    assert amplitude.api_key == dg.EnvVar("AMPLITUDE_API_KEY")
    assert amplitude.experiment_deployment_keys == dg.EnvVar("AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS")
    assert secret not in repr(defs.resources) and "factory-key" not in repr(defs.resources)
    assert "factory-deployment-key" not in repr(defs.resources)
    # Without deployment keys the field stays unset: an unset `dg.EnvVar` would fail every run.
    plain = amplitude_definitions(
        AmplitudeSettings.read(project_id="187520", lake=str(tmp_path)), dbt_project_dir=None
    )
    assert plain.resources["amplitude"].experiment_deployment_keys is None
    assert not any("stg_amplitude" in k.to_user_string() for k in defs.resolve_all_asset_keys())


def test_two_locations_with_lakes_in_one_folder_share_no_catalog_and_no_dbt_file(
    tmp_path: Path,
) -> None:
    from dagster_defs.dbt import dbt_database

    files = set()
    for region in ("eu", "us"):
        settings = AmplitudeSettings.read(
            project_id="187520", lake=str(tmp_path / f"lake-{region}")
        )
        defs = amplitude_definitions(
            settings, key_prefix=f"{region}/amplitude", dbt_project_dir=None
        )
        catalog = Path(defs.resources["lake"].catalog_path)
        files |= {catalog, dbt_database(catalog)}
    assert files == {
        tmp_path / "lake-eu-catalog.duckdb",
        tmp_path / "lake-eu-dbt.duckdb",
        tmp_path / "lake-us-catalog.duckdb",
        tmp_path / "lake-us-dbt.duckdb",
    }
    assert dbt_database(Path("warehouse/catalog.duckdb")) == Path("warehouse/dbt.duckdb")
