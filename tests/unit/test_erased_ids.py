"""Matching rows and free text against erased ids, by digest and cutoff."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from loader.privacy.digests import IdDigests
from loader.privacy.erased import ErasedIds

CUTOFF = datetime(2024, 3, 15)


def _erased() -> ErasedIds:
    digests = IdDigests(b"k" * 32)
    erased = ErasedIds(digests)
    erased.add("amplitude_id", digests.digest("amplitude_id", 100000000011), CUTOFF)
    erased.add("user_id", digests.digest("user_id", "用户_12"), CUTOFF)
    return erased


def test_rows_go_when_an_id_matches_and_they_arrived_before_the_cutoff() -> None:
    table = pa.table(
        {
            "amplitude_id": [100000000011, 100000000011, 7, None, 8],
            "user_id": [None, "x", "用户_12", "用户_12", "用户_123"],
            "upload_hour": [
                datetime(2024, 3, 1),
                datetime(2024, 3, 15),  # at the cutoff: new data, kept
                datetime(2024, 3, 14, 23),
                None,  # no time: erased
                datetime(2024, 3, 1),
            ],
        }
    )
    mask = _erased().row_mask(
        table, {"amplitude_id": "amplitude_id", "user_id": "user_id"}, "upload_hour"
    )
    assert mask is not None and mask.to_pylist() == [True, False, True, True, False]


def test_text_names_an_id_quoted_escaped_bare_or_cut_but_not_inside_a_longer_one() -> None:
    erased = _erased()
    kinds = ("amplitude_id", "user_id")
    assert erased.text_cutoff('{"amplitude_id": 100000000011, "x"', kinds) == CUTOFF
    assert erased.text_cutoff('{"user_id": "\\u7528\\u6237_12"}', kinds) == CUTOFF
    assert erased.text_cutoff('{"user_id": "用户_12', kinds) == CUTOFF  # cut mid-string
    assert erased.text_cutoff('{"amplitude_id": 1000000000112}', kinds) is None
    assert erased.text_cutoff('{"user_id": "用户_123"}', kinds) is None
    assert not ErasedIds(IdDigests(b"k" * 32))


def test_a_digest_depends_on_the_lake_key_and_the_kind_of_id() -> None:
    one, other = IdDigests(b"a" * 32), IdDigests(b"b" * 32)
    assert one.digest("user_id", "42") != other.digest("user_id", "42")
    assert one.digest("user_id", "42") != one.digest("amplitude_id", 42)
    assert one.digest("amplitude_id", 42) == one.digest("amplitude_id", "42")
    assert "a" * 8 not in repr(one)
