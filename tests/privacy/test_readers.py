"""Analysts' sessions open while users are erased see the lake before or after, never an error."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from loader.amplitude.privacy.sync import sync_deletions
from loader.amplitude.runner import refresh_catalog
from tests.catalog_reader import QUERY, reading
from tests.conftest import NOW
from tests.privacy.lakes import PrivacyLake, choose_users


def _counts(lake: PrivacyLake) -> tuple[int, ...]:
    with duckdb.connect(lake.settings.catalog_path, read_only=True) as con:
        return tuple(con.execute(QUERY).fetchone() or ())


def test_sessions_open_during_erasures_see_one_side_of_each(
    privacy_lake: PrivacyLake, tmp_path: Path
) -> None:
    lake = privacy_lake
    users = choose_users(lake)
    allowed = [_counts(lake)]
    with reading(
        lake.settings.catalog_path, tmp_path / "stop", ("long", "fresh", "attach")
    ) as answers:
        time.sleep(1.5)  # every reader has answered once
        for amplitude_ids, user_ids in (([users.member], []), ([users.rejected], ["user_12"])):
            lake.request_deletion(amplitude_ids, user_ids)
            sync_deletions(lake.project, lake.settings, now=NOW)
            refresh_catalog(lake.settings)
            allowed.append(_counts(lake))
            time.sleep(1.0)

    assert len(set(allowed)) == 3, allowed  # each erasure removed rows
    for mode, lines in answers.items():
        errors = [a["error"] for a in lines if "error" in a]
        assert not errors, (mode, errors[:3])
        counts = [tuple(a["counts"]) for a in lines]
        assert counts and set(counts) <= set(allowed), (mode, set(counts), allowed)
    # A session kept open keeps its snapshot; new ones end on the newest.
    assert {tuple(a["counts"]) for a in answers["long"]} == {allowed[0]}
    for mode in ("fresh", "attach"):
        seen = [allowed.index(tuple(a["counts"])) for a in answers[mode]]
        assert seen == sorted(seen) and seen[-1] == 2, (mode, seen)
