"""The privacy tests' lake: see `tests.privacy.lakes`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.privacy.lakes import PrivacyLake, privacy_lake_in


@pytest.fixture
def privacy_lake(tmp_path: Path) -> Iterator[PrivacyLake]:
    """Three days loaded (each member with one line cut in half), and a cohort snapshot."""
    with privacy_lake_in(tmp_path) as lake:
        yield lake
