"""Switchable faults for the emulator, deterministic by seed.

A rule applies to the requests of one endpoint; `skip` lets requests pass before it starts,
`times` bounds how many it hits (None: all), `probability` draws from the plan's seeded random
generator, and `start`/`end` restrict it to one export range. Rules are set per server (in code or
with `POST /_emulator/faults`) or per request with the `X-Emulator-Fault` header.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset(
    {
        "429",  # throttled; `retry_after` seconds in a Retry-After header if given
        "500",
        "502",
        "503",
        "504",
        "slow_first_byte",  # wait `seconds` before answering
        "drop_mid_body",  # close the connection halfway through the body
        "truncated_zip",  # a complete response whose zip is cut short
        "non_zip_body",  # a 200 whose body is an HTML error page
        "corrupt_member",  # a byte of a member's data flipped after its checksum was taken
        "bad_lines",  # `lines` malformed lines added to each member
        "bad_bytes",  # `lines` lines that are not UTF-8 added to each member
        "cut_lines",  # `lines` events of each member cut in the middle (ids in the rejects)
        "plan_gated",  # a 403 as for an endpoint the plan does not include
        # an error (`status`, default 400) whose body echoes the credentials; with `pad`, a
        # plain-text one that names them after `pad` characters (where a client cuts a body)
        "echo_headers",
    }
)


@dataclass
class FaultRule:
    """One fault and when it applies.

    Attributes:
        kind: One of `KINDS`.
        endpoint: `export` (or another endpoint's name).
        times: How many matching requests it hits; None for all.
        skip: Matching requests to let through first.
        probability: Chance of hitting a matching request.
        start: Only export requests with this `start` parameter.
        end: Only export requests with this `end` parameter.
        params: Extra settings (`retry_after`, `seconds`, `lines`).
        hits: How many requests it has hit.
    """

    kind: str
    endpoint: str = "export"
    times: int | None = 1
    skip: int = 0
    probability: float = 1.0
    start: str | None = None
    end: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {sorted(KINDS)}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FaultRule:
        """Build a rule from its JSON form.

        Args:
            raw: The rule's fields; unknown ones go to `params`.

        Returns:
            The rule.
        """
        known = {k: raw[k] for k in raw if k in cls.__dataclass_fields__ and k != "params"}
        params = {k: v for k, v in raw.items() if k not in cls.__dataclass_fields__}
        params.update(raw.get("params", {}))
        return cls(**known, params=params)


class FaultPlan:
    """The faults of one server.

    Args:
        rules: Initial rules.
        seed: Seed of the random draws.
    """

    def __init__(self, rules: list[FaultRule] | None = None, seed: int = 0) -> None:
        self._rules = list(rules or [])
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def set(self, rules: list[FaultRule], seed: int | None = None) -> None:
        """Replace the rules.

        Args:
            rules: The new rules.
            seed: A new seed, if given.
        """
        with self._lock:
            self._rules = list(rules)
            if seed is not None:
                self._random = random.Random(seed)

    def rules(self) -> list[FaultRule]:
        """Return the current rules (with their hit counts)."""
        with self._lock:
            return list(self._rules)

    def draw(self, endpoint: str, params: dict[str, str]) -> list[FaultRule]:
        """Decide which faults hit one request.

        Args:
            endpoint: The endpoint's name.
            params: The request's query parameters.

        Returns:
            The rules that apply to this request.
        """
        hit = []
        with self._lock:
            for rule in self._rules:
                if rule.endpoint != endpoint:
                    continue
                if rule.start and params.get("start") != rule.start:
                    continue
                if rule.end and params.get("end") != rule.end:
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                hit.append(rule)
        return hit
