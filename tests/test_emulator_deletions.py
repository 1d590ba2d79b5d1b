"""The emulator's User Privacy API, over HTTP: batches, a status moving with the clock, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from loader.emulator import EmulatorServer, SyntheticProject

DAY = datetime(2024, 3, 4, 9, tzinfo=UTC)


def _post(server: EmulatorServer, project: SyntheticProject, **body: object) -> requests.Response:
    auth = (project.api_key, project.secret_key)
    return requests.post(f"{server.url}/api/2/deletions/users", json=body, auth=auth, timeout=10)


def _jobs(server: EmulatorServer, project: SyntheticProject, first: str, last: str) -> object:
    answer = requests.get(
        f"{server.url}/api/2/deletions/users",
        params={"start_day": first, "end_day": last},
        auth=(project.api_key, project.secret_key),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_deletion_requests_are_batched_into_jobs_whose_status_moves_with_the_clock() -> None:
    project = SyntheticProject()
    with EmulatorServer([project], now=DAY) as server:
        first = _post(server, project, amplitude_ids=[11, 12], requester="dpo@example.com")
        assert first.status_code == 200
        assert first.json() == {
            "day": "2024-03-14",
            "status": "staging",
            "amplitude_ids": [
                {
                    "amplitude_id": a,
                    "requester": "dpo@example.com",
                    "requested_on_day": "2024-03-04",
                }
                for a in (11, 12)
            ],
        }
        server.now = DAY + timedelta(days=6)  # the job still takes requests
        form = requests.post(
            f"{server.url}/api/2/deletions/users",
            data={"user_ids": ["user_7"], "requester": "dpo@example.com"},
            auth=(project.api_key, project.secret_key),
            timeout=10,
        )
        assert (
            form.json()["day"] == "2024-03-14" and form.json()["user_ids"][0]["user_id"] == "user_7"
        )
        server.now = DAY + timedelta(days=7)  # 3 days before it runs: a new batch
        third = _post(server, project, amplitude_ids=[13], requester="dpo@example.com")
        assert third.json()["day"] == "2024-03-21"
        jobs = _jobs(server, project, "2024-03-01", "2024-04-30")
        assert [(j["day"], j["status"]) for j in jobs] == [  # type: ignore[union-attr]
            ("2024-03-14", "submitted"),
            ("2024-03-21", "staging"),
        ]
        server.now = DAY + timedelta(days=11)  # the first job has run
        assert [j["status"] for j in _jobs(server, project, "2024-03-01", "2024-04-30")] == [  # type: ignore[union-attr]
            "done",
            "staging",
        ]
        assert _jobs(server, project, "2024-03-15", "2024-03-20") == []
        assert server.deletions.deleted(project.project_id) == ({11, 12, 13}, {"user_7"})


def test_the_deletion_api_refuses_what_amplitude_refuses() -> None:
    project = SyntheticProject()
    other = SyntheticProject(project_id=2, api_key="other-key", secret_key="other-secret")
    with EmulatorServer([project, other], now=DAY) as server:
        assert _post(server, project, amplitude_ids=list(range(101))).status_code == 400
        assert _post(server, project, requester="nobody").status_code == 400
        assert _post(server, project, amplitude_ids=["not a number"]).status_code == 400
        url = f"{server.url}/api/2/deletions/users"
        auth = (project.api_key, project.secret_key)
        too_long = {"start_day": "2024-01-01", "end_day": "2024-08-01"}
        assert requests.get(url, params=too_long, auth=auth, timeout=10).status_code == 400
        assert requests.get(url, auth=auth, timeout=10).status_code == 400
        assert (
            requests.get(url, params=too_long, auth=("bad", "keys"), timeout=10).status_code == 403
        )
        # Jobs are per project: another project's keys do not see them.
        assert _post(server, project, amplitude_ids=[11]).status_code == 200
        assert _jobs(server, other, "2024-03-01", "2024-04-30") == []
        assert server.deletions.deleted(other.project_id) == (set(), set())
