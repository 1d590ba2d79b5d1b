"""The emulator's Amplitude Experiment over HTTP: flag configurations, evaluation, no-track."""

from __future__ import annotations

import json
from collections import Counter

import requests

from loader.emulator import EmulatorServer, SyntheticProject

SERVER, CLIENT = "server-100001", "client-100001"


def _get(server: EmulatorServer, path: str, key: str, **params: str) -> requests.Response:
    headers = {"Authorization": f"Api-Key {key}", "X-Amp-Exp-Track": "no-track"}
    return requests.get(f"{server.url}{path}", params=params, headers=headers, timeout=10)


def test_each_deployment_serves_its_flags_in_the_local_evaluation_format() -> None:
    with EmulatorServer([SyntheticProject()]) as server:
        flags = _get(server, "/sdk/v2/flags", SERVER).json()
        client = _get(server, "/sdk/v2/flags", CLIENT).json()
        refused = _get(server, "/sdk/v2/flags", "not-a-deployment")
    assert [f["key"] for f in flags] == [
        "new-onboarding",
        "dark-mode",
        "checkout-experiment",
        "pricing-page-test",
    ]
    assert [f["key"] for f in client] == ["new-onboarding", "dark-mode"]
    experiment = flags[2]
    assert experiment["metadata"]["flagType"] == "experiment"
    assert experiment["variants"]["treatment"]["payload"] == {"cta": "Buy now", "colour": "#ff6600"}
    assert experiment["segments"][0]["conditions"][0][0]["values"] == ["Germany"]
    assert refused.status_code == 401


def test_evaluation_follows_segments_and_buckets_and_counts_calls_that_would_track() -> None:
    with EmulatorServer([SyntheticProject()]) as server:
        truth = server.experiment
        answers = {}
        for n in range(400):
            user = {"user_id": f"user_{n}", "device_id": f"device-{n}"}
            answer = _get(server, "/v1/vardata", SERVER, **user)
            assert answer.status_code == 200
            answers[n] = answer.json()
            assert answers[n] == truth.assign(SERVER, user), n
        german = _get(
            server,
            "/v1/vardata",
            SERVER,
            user_id="user_1",
            context=json.dumps({"country": "Germany"}),
        ).json()
        only = _get(
            server, "/v1/vardata", SERVER, device_id="device-1", flag_keys="dark-mode"
        ).json()
        bad_context = _get(server, "/v1/vardata", SERVER, user_id="user_1", context="{not json")
        assert truth.tracked == 0 and truth.evaluations == 403
        tracked = requests.get(
            f"{server.url}/v1/vardata",
            params={"user_id": "user_1"},
            headers={"Authorization": f"Api-Key {SERVER}"},
            timeout=10,
        )
        assert tracked.status_code == 200 and truth.tracked == 1
    # Buckets split users as configured: about half see the new onboarding, 80% are in the
    # checkout experiment (split evenly), 90% in the pricing test (a twice as often as b or c).
    onboarding = sum("new-onboarding" in a for a in answers.values())
    checkout = Counter(
        a["checkout-experiment"]["key"] for a in answers.values() if "checkout-experiment" in a
    )
    pricing = Counter(
        a["pricing-page-test"]["key"] for a in answers.values() if "pricing-page-test" in a
    )
    assert 160 < onboarding < 240
    assert all(a["dark-mode"] == {"key": "on"} for a in answers.values())
    assert (
        280 < sum(checkout.values()) < 360 and abs(checkout["control"] - checkout["treatment"]) < 60
    )
    assert 330 < sum(pricing.values()) < 390 and pricing["a"] > max(pricing["b"], pricing["c"])
    assert german["checkout-experiment"]["key"] == "treatment"
    assert only == {"dark-mode": {"key": "on"}}
    assert bad_context.status_code == 400
