"""The Export API (`GET /api/2/export`) and what its answers mean.

* `start` and `end` are `YYYYMMDDTHH` in UTC and both are included.
* 200: a zip of gzipped JSON-lines members. A 200 can also carry an error page or a cut-off zip,
  so the body is checked and downloaded again if it is not a complete zip.
* 404 with `Raw data files were not found.`: no data in the range. Another 404 means the URL is
  wrong, and is an error: treating it as "empty" would silently record hours as loaded.
* 400: over the 4 GB limit, **or** a malformed request. The size error's exact body is not
  documented, so a 400 counts as the size limit unless its body is a structured error that names
  another problem.
* 504: the export timed out because there was too much data; shorter windows help, retries don't.
* 403: invalid keys, or keys of the other data region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loader.archive import Guards, verify_zip
from loader.errors import HttpError
from loader.hours import format_hour
from loader.http import Fetched, HttpClient
from loader.planner import Window
from loader.secrets import excerpt

EXPORT_PATH = "/api/2/export"
EMPTY_MARKER = "Raw data files were not found"
AUTH_HINT = (
    "the API key or secret key is wrong, or the keys belong to the other data region: is the"
    " project in the EU? set AMPLITUDE_REGION=eu"
)
_SIZE_WORDS = ("too large", "exceed", "4gb", "4 gb", "size", "limit")

Outcome = Literal["zip", "empty", "too_large", "timeout"]


@dataclass
class ExportResult:
    """What one export request produced.

    Attributes:
        outcome: `zip`, `empty` (404), `too_large` (400 size limit) or `timeout` (504).
        fetched: The HTTP outcome (the zip's path, bytes, digest, timings).
    """

    outcome: Outcome
    fetched: Fetched


def _is_size_limit(body: str) -> bool:
    lowered = body.lower()
    if any(word in lowered for word in _SIZE_WORDS):
        return True
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return True  # not a structured error: the size limit is the documented 400
    return not (isinstance(error, dict) and error.get("message"))


def _amplitude_message(body: str) -> str:
    try:
        error = json.loads(body)["error"]
        details = (error.get("metadata") or {}).get("details")
        return "; ".join(str(p) for p in (error.get("message"), details) if p)
    except (ValueError, KeyError, TypeError, AttributeError):
        return excerpt(body.strip(), 300)


class ExportApi:
    """Downloads export windows of one project.

    Args:
        client: An HTTP client for the project's host and keys.
        project: The project's label, for messages.
        guards: Archive size limits.
    """

    def __init__(self, client: HttpClient, project: str, guards: Guards) -> None:
        self.client = client
        self.project = project
        self.guards = guards

    def export(self, window: Window, dest: Path, progress: object = None) -> ExportResult:
        """Download one window to a file.

        Args:
            window: The hours to export.
            dest: Where to write the zip.
            progress: Called with the size of each chunk written.

        Returns:
            The outcome; only `zip` has a file.

        Raises:
            HttpError: For a malformed-request 400, an unexpected 404, or a failure that
                retrying did not fix.
        """
        params = {"start": format_hour(window.first), "end": format_hour(window.last)}
        try:
            fetched = self.client.download(
                EXPORT_PATH,
                params,
                dest,
                accept=frozenset({400, 404, 504}),
                retry_statuses=frozenset({429, 500, 502, 503}),  # a 504 is answered by splitting
                validate=verify_zip,
                max_bytes=self.guards.max_archive_bytes,
                progress=progress if callable(progress) else None,
            )
        except HttpError as exc:
            raise exc.locate(project=self.project, hours=str(window)) from None
        if fetched.status == 200:
            return ExportResult("zip", fetched)
        if fetched.status == 404:
            if EMPTY_MARKER.lower() in fetched.body.lower():
                return ExportResult("empty", fetched)
            raise HttpError(
                f"the Export API answered 404 without saying the range is empty (body:"
                f" {excerpt(fetched.body.strip(), 200)!r})",
                status=404,
                body=fetched.body,
                project=self.project,
                hours=str(window),
                remedy="check AMPLITUDE_BASE_URL: it must be the API host, with no path",
            )
        if fetched.status == 504:
            return ExportResult("timeout", fetched)
        if _is_size_limit(fetched.body):
            return ExportResult("too_large", fetched)
        raise HttpError(
            f"Amplitude rejected the export request: {_amplitude_message(fetched.body)}",
            status=400,
            body=fetched.body,
            project=self.project,
            hours=str(window),
            remedy="this is not the size limit; check the project id and the date range",
        )
