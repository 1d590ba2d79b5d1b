"""The built wheel, installed into a fresh virtual environment as a user installs it.

Without extras it is a command line that loads events and needs no Dagster and no dbt. With
`[dagster]` its code location loads (its dbt project included) and the factory builds another
location, with its own prefix, group and two projects, whose run loads one project's hour.
The dependencies are installed at the versions of `uv.lock`, from uv's cache, which fetches from
the package index what `uv sync` did not leave there (as installing any wheel does); the
emulator, the only service the runs talk to, is on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST, NOW

REPO = Path(__file__).resolve().parents[1]

#: Someone else's Dagster project: a second code location built with the factory.
SECOND_LOCATION = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    import dagster_defs, loader
    from dagster_defs.factory import amplitude_definitions
    from loader.amplitude.settings import AmplitudeSettings

    defs = amplitude_definitions(
        AmplitudeSettings.read(projects_file=sys.argv[1], lake=sys.argv[2], catalog=sys.argv[3]),
        key_prefix="eu/amplitude",
        group="amplitude_eu",
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("eu_amplitude_events_job")
    with dg.instance_for_test() as instance:
        run = job.execute_in_process(partition_key=sys.argv[4], instance=instance)
    print(json.dumps({
        "modules": [dagster_defs.__file__, loader.__file__],
        "keys": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "groups": sorted({graph.get(k).group_name for k in graph.materializable_asset_keys}),
        "dimensions": sorted(d.name for d in graph.get(dg.AssetKey(["eu", "amplitude", "events"]))
                             .partitions_def.partitions_defs),
        "jobs": sorted(j.name for j in defs.jobs),
        "sensors": sorted(s.name for s in defs.sensors),
        "run": run.success,
    }))
    """
)


def _run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=600, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    return done  # type: ignore[no-any-return]


def _install(venv: Path, tmp_path: Path, *extras: str) -> None:
    """Install the locked dependencies (with these extras)."""
    options = [f"--extra={e}" for e in extras]
    export = ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
    wanted = _run(*export, *options, cwd=REPO).stdout
    requirements = tmp_path / f"requirements{'-'.join(('', *extras))}.txt"
    requirements.write_text(wanted)
    _run("uv", "pip", "install", "--python", venv / "bin" / "python", "-r", requirements)


@pytest.mark.slow
def test_the_wheel_is_a_command_line_without_dagster_and_a_code_location_with_it(
    tmp_path: Path,
) -> None:
    _run("uv", "build", "--wheel", "--offline", "--out-dir", tmp_path / "dist", cwd=REPO)
    [wheel] = (tmp_path / "dist").glob("amplitude_loader-*.whl")
    venv = tmp_path / "venv"
    _run("uv", "venv", "--offline", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPLITUDE_", "PYTHON"))}
    # Nothing of the development environment: its `dbt` and scripts are on `uv run`'s PATH.
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO))
    )
    elsewhere = tmp_path / "user"  # not the checkout: only the installed packages can be imported
    elsewhere.mkdir()

    # The command line alone: no Dagster, no dbt, and it loads the emulator's demo project.
    _install(venv, tmp_path)
    _run("uv", "pip", "install", "--offline", "--no-deps", "--python", python, wheel)
    for absent in ("dagster", "dbt", "dagster_dbt"):
        probe = subprocess.run(
            [python, "-c", f"import {absent}"], capture_output=True, cwd=elsewhere
        )
        assert probe.returncode != 0, f"{absent} was installed without the [dagster] extra"
    demo_command = ["demo", "--days", "1", "--events-per-hour", "40"]
    demo = _run(venv / "bin" / "amplitude-loader", *demo_command, cwd=elsewhere, env=env)
    assert "matches" in demo.stdout and "DOES NOT MATCH" not in demo.stdout, demo.stdout

    # With the extra: this repository's code location loads from the wheel, dbt project and all.
    _install(venv, tmp_path, "dagster")
    loaded = _run(
        python,
        "-c",
        "import warnings; warnings.simplefilter('ignore');"
        "from dagster_defs.definitions import defs; import dagster as dg;"
        "dg.Definitions.validate_loadable(defs);"
        "graph = defs.resolve_asset_graph();"
        "print(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))",
        cwd=elsewhere,
        env=env,
    )
    assert "'amplitude/stg_amplitude__events'" in loaded.stdout, loaded.stdout

    # A second location from the factory: a prefix, another group, two projects; one run.
    projects = elsewhere / "projects.toml"
    projects.write_text(
        '[[project]]\nid = 111\napi_key_env = "WEB_KEY"\nsecret_key_env = "WEB_SECRET"\n'
        '[[project]]\nid = 222\napi_key_env = "APP_KEY"\nsecret_key_env = "APP_SECRET"\n'
    )
    web = SyntheticProject(project_id=111, api_key="web-key-1", secret_key="web-secret-1", seed=1)
    app = SyntheticProject(project_id=222, api_key="app-key-2", secret_key="app-secret-2", seed=2)
    script = elsewhere / "eu_location.py"
    script.write_text(SECOND_LOCATION)
    with EmulatorServer([web, app], now=NOW, gzip_level=1) as server:
        keys = {
            "WEB_KEY": web.api_key,
            "WEB_SECRET": web.secret_key,
            "APP_KEY": app.api_key,
            "APP_SECRET": app.secret_key,
        }
        second = _run(
            python,
            script,
            projects,
            elsewhere / "lake",
            elsewhere / "eu.duckdb",
            f"{LAST:%Y-%m-%d-%H:%M}|222",
            cwd=elsewhere,
            env={**env, **keys, "AMPLITUDE_BASE_URL": server.url},
        )
    facts = json.loads(second.stdout.strip().splitlines()[-1])
    assert all(str(venv) in module for module in facts["modules"]), facts["modules"]
    assert facts["run"] is True
    assert facts["groups"] == ["amplitude_eu"]
    assert all(key.startswith("eu/amplitude/") for key in facts["keys"]), facts["keys"]
    assert {
        "eu/amplitude/events",
        "eu/amplitude/catalog",
        "eu/amplitude/stg_amplitude__events",
    } <= set(facts["keys"])
    assert facts["dimensions"] == ["hour", "project"]
    assert (
        "eu_amplitude_events_job" in facts["jobs"] and "eu_amplitude_lake_state" in facts["sensors"]
    )
    lake = elsewhere / "lake" / "amplitude"
    assert {p.name for p in lake.iterdir()} == {"project_222"}
