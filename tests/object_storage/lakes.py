"""Helpers for tests of lakes on the loopback S3 server (the server is in `tests.conftest`)."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import s3fs

from loader.amplitude.config import LoaderSettings
from loader.catalog import open_catalog
from loader.lake import Lake
from tests.conftest import S3_CREDENTIALS
from tests.truth import comparable

T = TypeVar("T")


def separate_lake(url: str) -> Lake:
    """A lake with a filesystem of its own, as a writer on another machine has."""
    lake = Lake(url)
    lake.fs = s3fs.S3FileSystem(skip_instance_cache=True)
    return lake


def race(workers: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(i)` in `workers` threads released together; their results (or errors) by worker."""
    results: list[T | BaseException | None] = [None] * workers
    start = threading.Barrier(workers)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # the test reads it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results  # type: ignore[return-value]


def bucket_files(url: str) -> dict[str, bytes]:
    """Every object below a lake URL, by path relative to it, with its bytes."""
    lake = separate_lake(url)
    return {
        info.path[len(lake.root) + 1 :]: lake.read_bytes(info.path)
        for info in lake.files(lake.root)
    }


def catalog_events(settings: LoaderSettings) -> tuple[int, dict[str, dict[str, Any]]]:
    """The events version the catalog reads, and its `events` rows by uuid, as the truth has them.

    The catalog is read as `amplitude-loader query` reads it: with the lake's filesystem
    registered in the session, DuckDB downloading no extension.
    """
    lake = Lake(settings.lake_root)
    with open_catalog(settings.catalog_path, lake.duckdb_filesystem) as con:
        pinned = con.execute(
            "SELECT version FROM amplitude.lake_snapshot WHERE table_name = 'events'"
        ).fetchone()
        result = con.execute("SELECT * FROM amplitude.events")
        columns = [d[0] for d in result.description]
        rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
    assert pinned is not None
    return int(pinned[0]), {row["uuid"]: comparable(row) for row in rows}


def _forms(value: str) -> set[bytes]:
    raw = value.encode()
    return {
        raw,
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        quote(value, safe="").encode(),
        quote_plus(value).encode(),
    }


def credential_leaks(data: bytes) -> list[str]:
    """Which of the loopback S3 server's credentials `data` holds, and in which encoding."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    return [
        f"{name} as {form[:6]!r}..."
        for name in names
        for form in _forms(S3_CREDENTIALS[name])
        if form in data
    ]
