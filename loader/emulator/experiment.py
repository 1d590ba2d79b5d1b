"""The emulator's Amplitude Experiment: flag configurations and remote evaluation per deployment.

Each synthetic project has two deployments, a server one (`server-<project>`, every flag) and a
client one (`client-<project>`, the two release flags), whose key is the only credential
(`Authorization: Api-Key <key>`; anything else is a 401), as in Amplitude Experiment:

- `GET /sdk/v2/flags` answers the deployment's flag configurations, the list that
  local-evaluation SDKs download (`key`, `variants` of `key`, `value`, `payload`, `segments` with
  `conditions` and `bucket` allocations, `metadata`), as Amplitude's Python server SDK reads it
  (`flag/flag_config_api.py`, `evaluation/types.py` of amplitude/experiment-python-server);
- `GET /v1/vardata?user_id&device_id&flag_keys&context` evaluates the flags for one user and
  answers `{flag key: {"key", "payload"}}`, leaving out flags the user is not targeted by; a
  `context` that is not a JSON object is a 400. Amplitude tracks an `[Experiment] Assignment`
  event for every call without `X-Amp-Exp-Track: no-track`: here such calls are counted
  (`tracked`), and tests assert there are none.

Assignment is deterministic but is not Amplitude's (which hashes with murmur3): a SHA-256 of the
bucket's salt and the user's id picks the allocation and the variant. `assign` is the ground
truth.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

Answer = tuple[int, bytes, str, dict[str, str]]

FLAGS_PATH = "/sdk/v2/flags"
EVALUATE_PATH = "/v1/vardata"
#: Distribution ranges are out of this, allocation ranges out of 100, as Amplitude's are.
_DISTRIBUTION = 42949672


def _bucket(
    salt: str, by: str, allocations: list[tuple[int, list[tuple[str, int]]]]
) -> dict[str, Any]:
    """A bucket on the user's `by` id: each allocation takes `percent` of users, split by weight."""
    out = []
    for percent, weights in allocations:
        total, start = sum(w for _, w in weights), 0
        distributions: list[dict[str, Any]] = []
        for number, (variant, weight) in enumerate(weights, 1):
            end = (
                _DISTRIBUTION if number == len(weights) else start + _DISTRIBUTION * weight // total
            )
            distributions.append({"variant": variant, "range": [start, end]})
            start = end
        out.append({"range": [0, percent], "distributions": distributions})
    return {"selector": ["context", "user", by], "salt": salt, "allocations": out}


def _flags(project_id: int) -> list[dict[str, Any]]:
    """The flags of a project: two release flags and two experiments."""
    on = {"key": "on", "value": "on"}
    return [
        {
            "key": "new-onboarding",
            "variants": {"on": {**on, "payload": {"steps": 3}}, "off": {"key": "off"}},
            "segments": [
                {"bucket": _bucket("nob", "device_id", [(50, [("on", 1)])]), "variant": "off"}
            ],
            "metadata": {"flagType": "release", "deployed": True, "flagVersion": 4},
        },
        {
            "key": "dark-mode",
            "variants": {"on": on, "off": {"key": "off"}},
            "segments": [
                {"bucket": _bucket("dm", "device_id", [(100, [("on", 1)])]), "variant": "off"}
            ],
            "metadata": {"flagType": "release", "deployed": True, "flagVersion": 1},
        },
        {
            "key": "checkout-experiment",
            "variants": {
                "control": {"key": "control", "value": "control", "payload": {"cta": "Buy"}},
                "treatment": {
                    "key": "treatment",
                    "value": "treatment",
                    "payload": {"cta": "Buy now", "colour": "#ff6600"},
                },
                "off": {"key": "off"},
            },
            "segments": [
                {
                    "conditions": [
                        [
                            {
                                "selector": ["context", "user", "country"],
                                "op": "is",
                                "values": ["Germany"],
                            }
                        ]
                    ],
                    "variant": "treatment",
                    "metadata": {"segmentName": "Germany"},
                },
                {
                    "bucket": _bucket("co", "user_id", [(80, [("control", 1), ("treatment", 1)])]),
                    "variant": "off",
                },
            ],
            "metadata": {"flagType": "experiment", "deployed": True, "flagVersion": 7},
        },
        {
            "key": "pricing-page-test",
            "variants": {
                **{
                    k: {"key": k, "value": k, "payload": {"price": p}}
                    for k, p in (("a", 9), ("b", 12), ("c", 15))
                },
                "off": {"key": "off"},
            },
            "segments": [
                {
                    "bucket": _bucket("pp", "user_id", [(90, [("a", 2), ("b", 1), ("c", 1)])]),
                    "variant": "off",
                }
            ],
            "metadata": {"flagType": "experiment", "deployed": True, "project": project_id},
        },
    ]


def _hash(salt: str, value: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}/{value}".encode()).digest()[:8], "big")


def _variant(flag: dict[str, Any], user: dict[str, Any]) -> str | None:
    """The variant of one flag for one user: the first segment that matches decides."""
    for segment in flag["segments"]:
        conditions = segment.get("conditions") or []
        if conditions and not any(
            all(str(user.get(c["selector"][-1])) in c["values"] for c in group)
            for group in conditions
        ):
            continue
        bucket = segment.get("bucket")
        if bucket is None:
            return str(segment["variant"])
        identity = user.get(bucket["selector"][-1])
        if not identity:
            return str(segment["variant"])
        hashed = _hash(bucket["salt"], str(identity))
        for allocation in bucket["allocations"]:
            if hashed % 100 < allocation["range"][1]:
                spot = (hashed // 100) % _DISTRIBUTION
                for share in allocation["distributions"]:
                    if share["range"][0] <= spot < share["range"][1]:
                        return str(share["variant"])
        return str(segment["variant"])
    return None


@dataclass
class Experiment:
    """Every project's deployments, and the evaluation calls that would have tracked events.

    Attributes:
        deployments: Deployment key to (project id, flags it serves).
        tracked: Evaluation calls without `X-Amp-Exp-Track: no-track`.
        evaluations: Evaluation calls answered.
        calls: Each evaluation call with a valid key: (monotonic time, deployment key, user id,
            device id), for tests of rate limits and of who was asked about.
    """

    deployments: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)
    tracked: int = 0
    evaluations: int = 0
    calls: list[tuple[float, str, str | None, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, project_ids: list[int]) -> Experiment:
        """The deployments of some projects: a server one and a client one each."""
        deployments = {}
        for pid in project_ids:
            flags = _flags(pid)
            deployments[f"server-{pid}"] = (pid, flags)
            deployments[f"client-{pid}"] = (
                pid,
                [f for f in flags if f["metadata"]["flagType"] == "release"],
            )
        return cls(deployments)

    def assign(
        self, deployment: str, user: dict[str, Any], keys: list[str] | None = None
    ) -> dict[str, Any]:
        """The ground truth: what `/v1/vardata` answers for one user (`{}` if not targeted)."""
        out = {}
        for flag in self.deployments[deployment][1]:
            if keys and flag["key"] not in keys:
                continue
            variant = _variant(flag, user)
            if variant is None or variant == "off":
                continue
            chosen = flag["variants"][variant]
            out[flag["key"]] = {
                "key": chosen["key"],
                **({"payload": chosen["payload"]} if "payload" in chosen else {}),
            }
        return out

    def answer(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer | None:
        """Answer a request to one of the Experiment endpoints (None for any other path)."""
        if path not in (FLAGS_PATH, EVALUATE_PATH):
            return None
        headers = {name.lower(): value for name, value in headers.items()}
        key = (headers.get("authorization") or "").removeprefix("Api-Key ").strip()
        if key not in self.deployments:
            return _json(401, {"error": "Invalid api key"})
        if path == FLAGS_PATH:
            return _json(200, self.deployments[key][1])
        with self._lock:
            self.evaluations += 1
            self.calls.append(
                (time.monotonic(), key, params.get("user_id"), params.get("device_id"))
            )
            if (headers.get("x-amp-exp-track") or "").lower() != "no-track":
                self.tracked += 1
        try:
            context = json.loads(params.get("context") or "{}")
        except ValueError:
            context = None
        if not isinstance(context, dict):
            return _json(400, {"error": "context is not a JSON object"})
        user = {**context, "user_id": params.get("user_id"), "device_id": params.get("device_id")}
        keys = [k for k in (params.get("flag_keys") or "").split(",") if k]
        return _json(200, self.assign(key, user, keys or None))


def _json(status: int, body: Any) -> Answer:
    return status, json.dumps(body).encode(), "json", {}
