"""Keys never appear in logs, errors, repr or any file the loader writes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from loader.errors import LoaderError
from loader.secrets import Secret, redact
from tests.conftest import LAST, NOW

API_KEY = "api-key-7f3a9c1e"
SECRET_KEY = "secret-key-0b5d2e88"


def test_keys_never_reach_logs_errors_or_files(
    tmp_path: Path, settings: LoaderSettings, caplog: pytest.LogCaptureFixture
) -> None:
    synthetic = SyntheticProject(api_key=API_KEY, secret_key=SECRET_KEY, events_per_hour=20)
    caplog.set_level(logging.DEBUG)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        good = ProjectConfig(
            synthetic.project_id, Secret(API_KEY), Secret(SECRET_KEY), base_url=server.url
        )
        server.faults.set([FaultRule(kind="503", times=1), FaultRule(kind="corrupt_member")])
        sync_projects([good], settings, start=LAST, now=NOW)
        bad = ProjectConfig(
            synthetic.project_id, Secret(API_KEY), Secret(SECRET_KEY + "x"), base_url=server.url
        )
        with pytest.raises(LoaderError) as error:
            sync_projects([bad], settings, start=LAST, now=NOW, reload=True)

    texts = [caplog.text, str(error.value), repr(good), repr(bad), str(good.api_key)]
    for text in texts:
        assert API_KEY not in text and SECRET_KEY not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert API_KEY.encode() not in data and SECRET_KEY.encode() not in data, path


def test_redact_masks_registered_secrets_in_any_text() -> None:
    Secret("very-secret-value-123")
    assert redact("failed with very-secret-value-123 in it") == "failed with *** in it"
