"""A lake with users to erase: three days of events, rejects that hold ids, cohort members.

The users, as the acceptance asks:

- `merged`: user 12, whose events carry two Amplitude ids (the emulator gives every 89th user a
  second device); erased by user id;
- `member`: user 14, a member of the `c0power` cohort; erased by Amplitude id;
- `rejected`: the user of the most lines cut in half by the export (rejects holding their
  Amplitude id); erased by Amplitude id.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import requests

from loader.amplitude.cohorts import CohortOptions
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import refresh_catalog, sync_projects
from loader.amplitude.snapshot_runner import snapshot_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultPlan, FaultRule
from loader.emulator.generator import amplitude_id_of
from loader.lake import Lake
from loader.pinned import PinnedLake
from loader.snapshot.layout import STATE
from tests.conftest import NOW, config_for, settings_in


@dataclass
class PrivacyLake:
    """A loaded lake and the emulator that served it."""

    server: EmulatorServer
    synthetic: SyntheticProject
    project: ProjectConfig
    settings: LoaderSettings

    def rows(self, view: str, order: str) -> list[dict[str, Any]]:
        """Every row of a catalog view, in an order that does not depend on the files."""
        with duckdb.connect(self.settings.catalog_path, read_only=True) as con:
            result = con.execute(f"SELECT * FROM amplitude.{view} ORDER BY {order}")
            columns = [d[0] for d in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]

    def request_deletion(self, amplitude_ids: list[int], user_ids: list[str]) -> None:
        """Ask the emulator to delete users, as Amplitude's UI or API would be asked."""
        answer = requests.post(
            f"{self.server.url}/api/2/deletions/users",
            json={"amplitude_ids": amplitude_ids, "user_ids": user_ids, "requester": "dpo@x.io"},
            auth=(self.synthetic.api_key, self.synthetic.secret_key),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text


@dataclass(frozen=True)
class Users:
    """The users a test erases, and every id that names them."""

    merged: tuple[int, int]
    member: int
    rejected: int

    @property
    def amplitude_ids(self) -> set[int]:
        """Every Amplitude id of the three users."""
        return {*self.merged, self.member, self.rejected}

    def user_ids(self) -> set[str]:
        """Every user id the three users' events carry."""
        numbers = [12, 14, self.rejected % 10**11]
        return {form.format(n) for n in numbers for form in ("user_{}", "用户_{}")}


def _emulator() -> tuple[SyntheticProject, EmulatorServer]:
    """The project, served with one line of each member cut in half (rejects with ids)."""
    synthetic = SyntheticProject(events_per_hour=60, part_events=40)
    faults = FaultPlan([FaultRule("cut_lines", times=None, params={"lines": 1})])
    return synthetic, EmulatorServer([synthetic], now=NOW, gzip_level=1, faults=faults)


def _settings(folder: Path) -> LoaderSettings:
    return replace(settings_in(folder), max_reject_ratio=0.25)


def build_template(folder: Path) -> Path:
    """Load three days and snapshot a cohort into a folder once; tests copy it (see below)."""
    synthetic, emulator = _emulator()
    settings = _settings(folder)
    with emulator as server:
        project = config_for(synthetic, server)
        sync_projects([project], settings, now=NOW)
        fast = CohortOptions(include=("c0power",), poll_seconds=0.01)
        snapshot_projects([project], settings, ("cohorts",), cohort_options=fast, now=NOW)
    return Path(settings.lake_root)


@contextlib.contextmanager
def privacy_lake_in(tmp_path: Path, template: Path) -> Iterator[PrivacyLake]:
    """A copy of the template lake (snapshots name files relative to the lake: a copy is a
    lake of its own), its own catalog, and an emulator with no deletion job yet."""
    settings = _settings(tmp_path)
    shutil.copytree(template, settings.lake_root)
    refresh_catalog(settings, force=True)
    synthetic, emulator = _emulator()
    with emulator as server:
        yield PrivacyLake(server, synthetic, config_for(synthetic, server), settings)


def choose_users(lake: PrivacyLake) -> Users:
    """The three users, checked to be where the test expects them."""
    merged = (amplitude_id_of(12, 0), amplitude_id_of(12, 1))
    member = amplitude_id_of(14, 0)
    rejected_ids = [
        int(m)
        for r in lake.rows("rejects", "upload_hour, line_no")
        for m in re.findall(r'"amplitude_id": (\d+)', r["line"] or "")
    ]
    rejected = max(set(rejected_ids) - {*merged, member}, key=rejected_ids.count)
    events = lake.rows("events_all", "uuid, upload_hour")
    seen = {r["amplitude_id"] for r in events}
    assert {*merged, member, rejected} <= seen, "a chosen user has no events: the test is void"
    assert any(r["amplitude_id"] == member for r in lake.rows("cohort_members", "amplitude_id"))
    return Users(merged, member, rejected)


def live_files(lake: PrivacyLake) -> list[Path]:
    """The files of each table's newest version, every Delta log, every file that is not a
    table's, and the catalog."""
    root = Path(lake.settings.lake_root)
    latest = PinnedLake.newest(Lake(lake.settings.lake_root))
    listed = {root / p for table in latest.tables.values() for p in table.files}
    other = [  # the Delta logs, the loader's notes, the digest key
        p
        for p in root.rglob("*")
        if p.is_file()
        and (
            "_delta_log" in p.parts
            or STATE in p.parts
            or not any(part.startswith("project_") for part in p.parts)
        )
    ]
    catalog = Path(lake.settings.catalog_path)
    return sorted({*listed, *other, catalog, *catalog.parent.glob(catalog.name + ".*")})
