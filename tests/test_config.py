"""Configuration from the environment and from a projects file."""

from __future__ import annotations

from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, projects_from_env
from loader.errors import ConfigError
from loader.http import check_base_url


def test_one_project_from_the_environment() -> None:
    env = {
        "AMPLITUDE_PROJECT_ID": "187520",
        "AMPLITUDE_API_KEY": "key-1234",
        "AMPLITUDE_SECRET_KEY": "secret-5678",
        "AMPLITUDE_REGION": "eu",
    }
    [project] = projects_from_env(env)
    assert project.project_id == 187520
    assert project.api_url == "https://analytics.eu.amplitude.com"
    assert "secret-5678" not in repr(project) and "key-1234" not in repr(project)


def test_several_projects_from_a_file_name_their_key_variables(tmp_path: Path) -> None:
    path = tmp_path / "projects.toml"
    path.write_text(
        '[[project]]\nid = 1\nname = "web"\n'
        'api_key_env = "WEB_KEY"\nsecret_key_env = "WEB_SECRET"\n'
        '[[project]]\nid = 2\napi_key_env = "APP_KEY"\nsecret_key_env = "APP_SECRET"\n'
        'region = "eu"\nstart = "2024-02-01"\n'
    )
    env = {
        "AMPLITUDE_PROJECTS_FILE": str(path),
        "WEB_KEY": "wk-1234",
        "WEB_SECRET": "ws-1234",
        "APP_KEY": "ak-1234",
        "APP_SECRET": "as-1234",
    }
    web, app = projects_from_env(env)
    assert (web.label, web.region, app.region) == ("1 (web)", "us", "eu")
    assert web.api_key.reveal() == "wk-1234" and app.start is not None
    del env["APP_SECRET"]
    with pytest.raises(ConfigError, match="APP_SECRET is not set"):
        projects_from_env(env)


def test_missing_configuration_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="AMPLITUDE_PROJECT_ID"):
        projects_from_env({})


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://amplitude.com", True),
        ("http://127.0.0.1:8787", True),
        ("http://localhost:1", True),
        ("http://[::1]:1", True),
        ("http://amplitude.com", False),
        ("http://10.0.0.5", False),
        ("ftp://x", False),
    ],
)
def test_plain_http_is_refused_off_loopback(url: str, ok: bool) -> None:
    if ok:
        assert check_base_url(url + "/") == url
    else:
        with pytest.raises(ConfigError):
            check_base_url(url)


def test_a_catalog_named_like_a_schema_is_refused() -> None:
    with pytest.raises(ConfigError, match="ambiguous"):
        LoaderSettings(catalog_path="x/amplitude.duckdb")
