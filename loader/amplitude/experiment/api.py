"""Amplitude Experiment's two read endpoints, for one deployment, over the one HTTP client.

- `GET /sdk/v2/flags`: the deployment's flag configurations, as local-evaluation SDKs download
  them (path and format from `flag/flag_config_api.py` and `evaluation/types.py` of
  amplitude/experiment-python-server): a JSON array of `{key, variants, segments, metadata,
  dependencies}`.
- `GET /v1/vardata`: remote evaluation of every flag for one user (the Evaluation API): a map of
  flag key to `{key, payload}`, without the flags the user is not targeted by.

Every request carries `X-Amp-Exp-Track: no-track`. Without it Amplitude records an
`[Experiment] Assignment` event for each evaluation: the loader would write into the very event
stream it loads, and inflate the experiment's assignments.
"""

from __future__ import annotations

from typing import Any

from loader.amplitude.clients import RETRY_HINT
from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.experiment_keys import ENV, Deployment, experiment_hosts
from loader.errors import HttpError
from loader.http import HttpClient

FLAGS_PATH = "/sdk/v2/flags"
EVALUATE_PATH = "/v1/vardata"
#: Sent with every request: evaluating for a snapshot must not track assignments.
NO_TRACK = {"X-Amp-Exp-Track": "no-track"}
#: In flight at once per deployment (Amplitude documents no limit; the rate limit is a setting).
MAX_CONCURRENT_REQUESTS = 4


class ExperimentApi:
    """One deployment's flag configurations and evaluations.

    Args:
        project: The project.
        deployment: The deployment.
        settings: Timeouts and retries.
    """

    def __init__(
        self, project: ProjectConfig, deployment: Deployment, settings: LoaderSettings
    ) -> None:
        self.deployment = deployment.name
        flags_host, evaluation_host = experiment_hosts(project.region, project.base_url)
        hint = (
            f"check the deployment key of {deployment.name!r} (Experiment > Deployments) in"
            f" {ENV}, or in the variable the projects file's experiment_keys_env names"
        )

        def client(host: str, what: str) -> HttpClient:
            return HttpClient(
                host,
                token=("Api-Key", deployment.key),
                headers=NO_TRACK,
                timeouts=settings.timeouts,
                retry=settings.retry,
                max_concurrency=MAX_CONCURRENT_REQUESTS,
                auth_hint=hint,
                retry_hint=RETRY_HINT,
                name=f"Amplitude Experiment {what} (project {project.label},"
                f" deployment {deployment.name})",
            )

        self._flags = client(flags_host, "flags")
        self._evaluation = client(evaluation_host, "evaluation")

    def flags(self) -> list[dict[str, Any]]:
        """The deployment's flag configurations.

        Returns:
            One object per flag or experiment.

        Raises:
            AuthError: If the key is refused.
            HttpError: If the answer is not a list of objects.
        """
        body = self._flags.get(FLAGS_PATH, {"v": "0"}).json_body
        if not isinstance(body, list) or not all(isinstance(f, dict) and "key" in f for f in body):
            raise HttpError(
                f"{self._flags.name} answered {FLAGS_PATH} with something other than a list of"
                " flags",
                status=200,
                remedy="check that the base URL points at Amplitude Experiment",
            )
        return body

    def evaluate(self, user_id: str | None, device_id: str | None) -> dict[str, Any]:
        """Every flag's variant for one user, as Experiment assigns it now (not tracked).

        Args:
            user_id: The user id, or None.
            device_id: The device id, or None.

        Returns:
            Flag key to `{key, payload}`; `{}` when no flag targets the user.

        Raises:
            AuthError: If the key is refused.
            HttpError: If the answer is not a JSON object.
        """
        params = {
            name: value for name, value in (("user_id", user_id), ("device_id", device_id)) if value
        }
        body = self._evaluation.get(EVALUATE_PATH, params).json_body
        if not isinstance(body, dict):
            raise HttpError(
                f"{self._evaluation.name} answered {EVALUATE_PATH} with something other than"
                " an object",
                status=200,
                remedy="check that the base URL points at Amplitude Experiment",
            )
        return body
