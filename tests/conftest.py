"""Shared fixtures: an emulator on loopback, settings in a temporary folder, fast retries."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.amplitude.sync_report import SyncReport
from loader.emulator import EmulatorServer, SyntheticProject
from loader.http import RetryPolicy
from loader.secrets import Secret

START = datetime(2024, 3, 1, tzinfo=UTC)
#: The tests' clock: with the default lag of 3 hours, the newest ready hour is 2024-03-03T23.
NOW = datetime(2024, 3, 4, 2, 30, tzinfo=UTC)
LAST = datetime(2024, 3, 3, 23, tzinfo=UTC)

FAST_RETRY = RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=2.0, deadline_seconds=30)


@pytest.fixture(autouse=True)
def _no_amplitude_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set what they need: a developer's own AMPLITUDE_* variables must not leak in."""
    for name in [n for n in os.environ if n.startswith("AMPLITUDE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that tries to reach an address other than loopback."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in {"127.0.0.1", "localhost", "::1"}
            and not (host.startswith("127.") or host.startswith("/"))
        ):
            raise AssertionError(f"a test tried to reach {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


#: Credentials of the loopback S3 server; the tests that use it grep every output for them.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIALOOPBACKTESTKEY1",
    "AWS_SECRET_ACCESS_KEY": "loopback/Test+Secret/9f3c2a7e5b1d",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """An S3 server on loopback (moto's, real HTTP), and the `AWS_*` environment pointing at it.

    s3fs finds the endpoint and the credentials through the standard AWS chain, as it would on
    a machine that reaches AWS; child processes inherit them with the environment. The server
    (a `tests.s3_server.LoopbackS3`) tells which requests it served.
    """
    from tests.s3_server import LoopbackS3

    saved = {k: os.environ.get(k) for k in [*S3_CREDENTIALS, "AWS_ENDPOINT_URL"]}
    with LoopbackS3() as server:
        os.environ.update(S3_CREDENTIALS, AWS_ENDPOINT_URL=server.endpoint)
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: Any) -> str:
    """The loopback S3 server's URL (see `s3_server`)."""
    return str(s3_server.endpoint)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the loopback S3 server; its lake is `s3://<bucket>/lake`."""
    import uuid

    import s3fs

    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return name


@pytest.fixture
def synthetic() -> SyntheticProject:
    """A small synthetic project with several parts per busy hour."""
    return SyntheticProject(events_per_hour=60, part_events=40)


@pytest.fixture
def emulator(synthetic: SyntheticProject) -> Iterator[EmulatorServer]:
    """The emulator, on a free loopback port, with the tests' clock."""
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        yield server


def config_for(
    synthetic: SyntheticProject, server: EmulatorServer, **changes: Any
) -> ProjectConfig:
    """A synthetic project's configuration, with its own keys, going to an emulator."""
    return ProjectConfig(
        synthetic.project_id,
        Secret(synthetic.api_key),
        Secret(synthetic.secret_key),
        base_url=server.url,
        **changes,
    )


def settings_in(folder: Path) -> LoaderSettings:
    """Settings with the lake and the catalog in `folder`, the tests' start and fast retries."""
    return LoaderSettings(
        lake_root=str(folder / "lake"),
        catalog_path=str(folder / "catalog.duckdb"),
        start=START,
        retry=FAST_RETRY,
        threads=2,
    )


@dataclass
class Loaded:
    """A three-day sync of the synthetic project, made once per test process.

    Tests that only read a clean load share it instead of repeating the sync (a few seconds
    each); they must not write to its lake or catalog. A test that changes a lake makes its own.

    Attributes:
        settings: Where the lake and the catalog are.
        synthetic: The project that was loaded (the ground truth).
        reports: What the sync reported.
        export_requests: The export requests the emulator received.
    """

    settings: LoaderSettings
    synthetic: SyntheticProject
    reports: list[SyncReport]
    export_requests: list[dict[str, Any]]


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The synthetic project's three days, loaded once and shared by tests that only read."""
    synthetic = SyntheticProject(events_per_hour=60, part_events=40)
    settings = settings_in(tmp_path_factory.mktemp("loaded"))
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as server:
        reports = sync_projects([config_for(synthetic, server)], settings, now=NOW)
        requests = server.export_requests()
    return Loaded(settings, synthetic, reports, requests)


@pytest.fixture
def project(emulator: EmulatorServer, synthetic: SyntheticProject) -> ProjectConfig:
    """The synthetic project, configured to go to the emulator."""
    return config_for(synthetic, emulator)


@pytest.fixture
def settings(tmp_path: Path) -> LoaderSettings:
    """Settings with a lake and a catalog in a temporary folder, and fast retries."""
    return settings_in(tmp_path)


def catalog_rows(settings: LoaderSettings, view: str = "events") -> list[dict[str, Any]]:
    """Read every row of a catalog view."""
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        result = con.execute(f"SELECT * FROM amplitude.{view}")
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def count(settings: LoaderSettings, sql: str) -> int:
    """Run a count on the catalog."""
    with duckdb.connect(settings.catalog_path, read_only=True) as con:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0


def with_retry(settings: LoaderSettings, **changes: Any) -> LoaderSettings:
    """Return settings with another retry policy."""
    return replace(settings, retry=replace(settings.retry, **changes))
