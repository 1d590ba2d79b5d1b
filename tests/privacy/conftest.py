"""The privacy tests' lake: see `tests.privacy.lakes`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.privacy.lakes import PrivacyLake, build_template, privacy_lake_in


@pytest.fixture(scope="session")
def privacy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days loaded (each member with one line cut in half) and a cohort, made once."""
    return build_template(tmp_path_factory.mktemp("privacy-template"))


@pytest.fixture
def privacy_lake(tmp_path: Path, privacy_template: Path) -> Iterator[PrivacyLake]:
    """A lake of its own for each test, copied from the template."""
    with privacy_lake_in(tmp_path, privacy_template) as lake:
        yield lake
