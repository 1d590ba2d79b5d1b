"""The deletion sync as a Dagster asset, and its check that no erased user is left."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import requests
from deltalake import write_deltalake

from dagster_defs.definitions import defs
from loader.amplitude.privacy.records import DELETIONS, DELETIONS_SCHEMA
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.generator import amplitude_id_of
from loader.lake import Lake
from loader.privacy.digests import IdDigests
from loader.snapshot_tables import SnapshotWriter
from tests.conftest import NOW, config_for, settings_in
from tests.dagster.parts import privacy, privacy_check
from tests.lake_tables import delta_table


def _materialize(
    resources: dict[str, object], instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    return dg.materialize([privacy, privacy_check], resources=resources, instance=instance)


def test_the_privacy_asset_erases_the_jobs_users_and_its_check_finds_any_left(
    resources: dict[str, object],
    instance: dg.DagsterInstance,
    emulator: EmulatorServer,
    synthetic: SyntheticProject,
    tmp_path: Path,
) -> None:
    settings = settings_in(tmp_path)
    sync_projects([config_for(synthetic, emulator)], settings, now=NOW)
    member = amplitude_id_of(14, 0)
    answer = requests.post(
        f"{emulator.url}/api/2/deletions/users",
        json={"amplitude_ids": [member], "user_ids": ["user_12"], "requester": "dpo@x.io"},
        auth=(synthetic.api_key, synthetic.secret_key),
        timeout=10,
    )
    assert answer.status_code == 200

    result = _materialize(resources, instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("amplitude__privacy_deletions")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["jobs_listed"], meta["new_ids"], meta["ids_erased"]) == (1, 2, 4)
    assert meta["rows_removed"]["events.rows"] > 0
    assert meta["erasure_retention_hours"] == 168
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["rows_left"].value == 0
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        left = con.execute(
            "SELECT count(*) FROM amplitude.events_all WHERE amplitude_id IN (?, ?, ?)",
            [member, amplitude_id_of(12, 0), amplitude_id_of(12, 1)],
        ).fetchone()
    assert left == (0,)

    # A deletion recorded without its erasure (a sync killed between its commits, a lake
    # restored from a backup): the next sync finishes the erasure, and the check passes.
    lake = Lake(settings.lake_root)
    other = amplitude_id_of(11, 0)
    row = {
        "job": "restored/1",
        "status": "local",
        "id_kind": "amplitude_id",
        "id_sha256": IdDigests.of_lake(lake).digest("amplitude_id", other),
        "erase_before": datetime(2030, 1, 1),
        "seen_at": datetime(2024, 3, 4),
    }
    writer = SnapshotWriter(lake, "amplitude", str(synthetic.project_id), NOW, tmp_path)
    writer.write(DELETIONS, pa.Table.from_pylist([row], DELETIONS_SCHEMA), DELETIONS_SCHEMA)
    healed = _materialize(resources, instance)
    (check,) = healed.get_asset_check_evaluations()
    assert check.passed
    events = delta_table(settings.lake_root).to_pyarrow_table()
    assert not [a for a in events["amplitude_id"].to_pylist() if a == other]

    # An erased user's rows written back by another engine (the audit says they went): the
    # check fails, and says where, naming no id.
    again = events.slice(0, 2)
    again = again.set_column(
        again.schema.get_field_index("amplitude_id"), "amplitude_id", pa.array([other] * 2)
    )
    write_deltalake(
        delta_table(settings.lake_root), again, mode="append", partition_by=["upload_date"]
    )
    failed = _materialize(resources, instance)
    (check,) = failed.get_asset_check_evaluations()
    assert not check.passed
    assert check.metadata["rows_left"].value == 2
    assert f"{synthetic.project_id}/events.rows" in check.metadata["where"].value
    assert str(other) not in str(check.metadata)


def test_the_deletion_sync_runs_daily_before_the_vacuum_once_turned_on() -> None:
    schedule = defs.resolve_schedule_def("amplitude_privacy_daily")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    vacuum = defs.resolve_schedule_def("amplitude_vacuum_daily")
    assert schedule.cron_schedule == "0 5 * * *" < vacuum.cron_schedule
