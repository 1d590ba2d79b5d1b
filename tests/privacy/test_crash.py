"""A deletion sync killed mid-erasure leaves the lake as it was or erased, and a rerun finishes."""

from __future__ import annotations

import pytest

from loader.lake import Lake
from loader.snapshot.log import CommitLog
from tests.privacy.lakes import PrivacyLake, choose_users, live_files
from tests.privacy.scan import holders, patterns
from tests.privacy.test_commands import _run


@pytest.mark.parametrize("point", ["commit.before_record", "commit.after_record"])
def test_a_sigkill_during_the_erasure_then_a_rerun_leaves_no_trace_of_the_user(
    privacy_lake: PrivacyLake, tmp_path: object, point: str
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    log = CommitLog(Lake(lake.settings.lake_root))
    before = log.latest()
    lake.request_deletion([users.member], [])
    killed = _run(lake, "deletions", cwd=tmp_path, LOADER_CRASH_AT=point)  # type: ignore[arg-type]
    assert killed.returncode == -9, killed.stderr
    after = log.latest()
    wanted = patterns([users.member], ["user_14"])
    if point == "commit.before_record":  # the snapshot before, whole: the member is still there
        assert after == before
        assert holders(live_files(lake), wanted)
    else:  # the erasure is committed; the catalog is one snapshot behind until the next command
        assert after.version == before.version + 1 and after.erasure
    again = _run(lake, "deletions", cwd=tmp_path)  # type: ignore[arg-type]
    assert again.returncode == 0, again.stderr
    expected = "1 new id(s)" if point == "commit.before_record" else "0 new id(s)"
    assert expected in again.stdout
    assert not holders(live_files(lake), wanted)
    assert not [r for r in lake.rows("events_all", "uuid") if r["amplitude_id"] == users.member]
