"""A deletion sync killed mid-erasure leaves each table as it was or erased, and a rerun finishes.

The erasure is one Delta commit per table: the requests are recorded first, then each table is
erased, then the audit row is written. A kill before the record leaves everything as it was; a
kill after it leaves the user in some tables, and the next sync finishes the erasure.
"""

from __future__ import annotations

import pytest

from loader.lake import Lake
from loader.pinned import PinnedLake
from tests.privacy.lakes import PrivacyLake, choose_users, live_files
from tests.privacy.scan import holders, patterns
from tests.privacy.test_commands import _run


@pytest.mark.parametrize(
    "point", ["delta.before_commit:1", "delta.after_commit:1", "delta.after_commit:2"]
)
def test_a_sigkill_during_the_erasure_then_a_rerun_leaves_no_trace_of_the_user(
    privacy_lake: PrivacyLake, tmp_path: object, point: str
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    root = Lake(lake.settings.lake_root)
    before = PinnedLake.newest(root)
    lake.request_deletion([users.member], [])
    killed = _run(lake, "deletions", cwd=tmp_path, LOADER_CRASH_AT=point)  # type: ignore[arg-type]
    assert killed.returncode == -9, killed.stderr
    after = PinnedLake.newest(root)
    wanted = patterns([users.member], ["user_14"])
    held = {k: t.files for k, t in after.tables.items() if t.files}
    if point == "delta.before_commit:1":  # nothing committed: every table's files as they were
        assert held == {k: t.files for k, t in before.tables.items() if t.files}
    else:  # recorded, and perhaps some tables erased: the user is still in the others
        assert after.versions() != before.versions()
    assert holders(live_files(lake), wanted)
    again = _run(lake, "deletions", cwd=tmp_path)  # type: ignore[arg-type]
    assert again.returncode == 0, again.stderr
    expected = "1 new id(s)" if point == "delta.before_commit:1" else "0 new id(s)"
    assert expected in again.stdout
    assert not holders(live_files(lake), wanted)
    assert not [r for r in lake.rows("events_all", "uuid") if r["amplitude_id"] == users.member]
