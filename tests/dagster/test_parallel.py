"""Two runs in separate processes on disjoint hours: no duplicates and no DuckDB lock error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb

from loader.emulator import EmulatorServer, SyntheticProject
from tests.conftest import LAST
from tests.truth import truth

RUN = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    from tests.dagster.parts import catalog, events
    from tests.dagster.parts import EVENT_CHECKS
    from dagster_defs.resources import AmplitudeResource, LakeResource
    url, lake, catalog_path, first, last = sys.argv[1:]
    resources = {
        "amplitude": AmplitudeResource(project_id="100001", api_key="demo-api-key",
                                       secret_key="demo-secret-key", base_url=url),
        "lake": LakeResource(lake_root=lake, catalog_path=catalog_path, start="2024-03-01"),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [events, catalog, *EVENT_CHECKS], resources=resources, instance=instance,
            tags={"dagster/asset_partition_range_start": first,
                  "dagster/asset_partition_range_end": last},
        )
    sys.exit(0 if result.success else 1)
    """
)


def test_parallel_runs_on_disjoint_hours(
    emulator: EmulatorServer, synthetic: SyntheticProject, tmp_path: Path
) -> None:
    lake, catalog = str(tmp_path / "lake"), str(tmp_path / "catalog.duckdb")
    middle = LAST - timedelta(hours=24)
    first = middle - timedelta(hours=23)
    ranges = [(first, middle - timedelta(hours=1)), (middle, LAST)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN,
                emulator.url,
                lake,
                catalog,
                f"{a:%Y-%m-%d-%H:%M}",
                f"{b:%Y-%m-%d-%H:%M}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for a, b in ranges
    ]
    outputs = [child.communicate(timeout=300)[0] for child in children]
    for child, output in zip(children, outputs, strict=True):
        assert child.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output
    with duckdb.connect(catalog, read_only=True) as con:
        rows = con.execute("SELECT uuid FROM amplitude.events").fetchall()
    assert len(rows) == len({r[0] for r in rows})
    assert {r[0] for r in rows} == set(truth(synthetic, first, LAST))
