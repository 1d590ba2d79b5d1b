"""One way to build an HTTP client for an Amplitude project."""

from __future__ import annotations

from dataclasses import replace

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.export_api import AUTH_HINT
from loader.amplitude.setting_names import named
from loader.http import HttpClient

#: Amplitude allows 5 concurrent requests per project across its analytics APIs.
MAX_CONCURRENT_REQUESTS = 4
RETRY_HINT = f"{named('retry_minutes')} (Dagster: the amplitude resource's retry_minutes)"


def project_client(
    project: ProjectConfig, settings: LoaderSettings, api: str, *, read_seconds: float | None = None
) -> HttpClient:
    """Build the HTTP client of one project for one API.

    Args:
        project: The project.
        settings: Timeouts and retries.
        api: The API's name, for messages.
        read_seconds: A read timeout other than the settings' (the export needs minutes; the
            metadata APIs do not).

    Returns:
        The client.

    Raises:
        ConfigError: If the project's keys are not set.
    """
    project.require_keys()
    timeouts = settings.timeouts
    if read_seconds is not None:
        timeouts = replace(timeouts, read_seconds=read_seconds)
    return HttpClient(
        project.api_url,
        auth=(project.api_key.reveal(), project.secret_key),
        timeouts=timeouts,
        retry=settings.retry,
        max_concurrency=MAX_CONCURRENT_REQUESTS,
        auth_hint=AUTH_HINT,
        retry_hint=RETRY_HINT,
        name=f"Amplitude {api} (project {project.label})",
    )
