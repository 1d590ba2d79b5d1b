"""Deterministic synthetic Amplitude events.

Every event is a pure function of (project, seed, upload hour, index), so any hour's export can
be produced, and checked, on its own and in any order. The data is deliberately awkward: all 55
fields, nulls and empty strings, unicode and emoji, nested arrays and objects in properties, big
integers, zipf-distributed event types, sessions (and `session_id` -1), events uploaded days after
they happened, timestamps without a fraction, fields whose JSON type varies, unknown top-level
fields, repeated `$insert_id` with distinct `uuid`, events sent twice by the SDK (two uuids), and
events exported again in a later hour with the same `uuid`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loader.hours import HOUR, floor_hour

EVENT_TYPES = [
    "Page Viewed",
    "session_start",
    "Button Clicked",
    "session_end",
    "[Amplitude] Page Viewed",
    "Search",
    "Añadir al carrito 🛒",
    "Checkout Started",
    "[Experiment] Exposure",
    "[Experiment] Assignment",
    "Purchase Completed",
    "Sign Up",
    'Quote "it" \\ back',
    "Video Played",
    "Share",
    "Settings Changed",
    "Error Shown",
    "Notification Opened",
    "Logout",
    "Invite Sent",
]
#: The flags experiment events report, with the two variants each reports (the emulator's
#: Experiment serves these flags; `legacy` is a variant dark-mode no longer has).
FLAGS = {
    "checkout-experiment": ["control", "treatment"],
    "dark-mode": ["on", "legacy"],
    "pricing-page-test": ["a", "b"],
}
PLATFORMS = [
    ("iOS", "ios", "Apple", "Apple iPhone"),
    ("Android", "android", "Samsung", "Galaxy"),
    ("Web", "Chrome", None, None),
]
CITIES = [
    ("San Francisco", "United States", "California", 37.7749, -122.4194),
    ("München", "Germany", "Bavaria", 48.1351, 11.582),
    ("東京", "Japan", "Tokyo", 35.6762, 139.6503),
    (None, None, None, None, None),
]
_ZIPF = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(EVENT_TYPES))))
_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "screen": lambda r: r.choice(["checkout", "home", "пример", "🏠"]),
    "cart_value": lambda r: round(r.uniform(0, 500), 2),
    "item_skus": lambda r: [f"sku-{r.randint(1, 9)}" for _ in range(r.randint(0, 3))],
    "is_first": lambda r: r.random() < 0.5,
    "count": lambda r: r.randint(-5, 10**6),
    "ratio": lambda r: r.random(),
    "nested": lambda r: {"a": [1, [2, 3]], "b": {"c": None}},
    "note": lambda r: r.choice(["line\nbreak", "tab\there", 'quote " and \\', "", None]),
    "price.usd": lambda r: r.choice([9.99, 0, -1.5]),
    "clé": lambda r: "valeur",
    "emoji 🎉": lambda r: "🎉🎉",
    "big": lambda r: r.choice([2**63 - 1, -(2**63), 2**64 + 1]),
    "empty": lambda r: r.choice([[], {}, ""]),
}
_PROPERTY_KEYS = list(_VALUES)
_RETRY_KEYS = (
    "event_id",
    "device_id",
    "client_event_time",
    "event_time",
    "user_id",
    "amplitude_id",
    "event_type",
    "event_properties",
    "session_id",
    "$insert_id",
)


@functools.lru_cache(maxsize=256)
def _cached_events(project: SyntheticProject, hour: datetime) -> list[dict[str, Any]]:
    return project._generate(hour)


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def amplitude_id_of(user_number: int, index: int) -> int:
    """The Amplitude id of one event of a synthetic user.

    Most users have one id. Every 89th user has two, as a user does whose second device was
    seen before Amplitude merged it into the first: half of their events carry the other id.
    """
    if user_number % 89 == 12 and index % 2:
        return 3 * 10**11 + user_number
    return 2**53 + user_number if user_number % 97 == 0 else 10**11 + user_number


def _ts(moment: datetime, rng: random.Random) -> str:
    # A few timestamps come without a fraction, as some exports have them.
    if rng.random() < 0.02:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class SyntheticProject:
    """A synthetic Amplitude project.

    Attributes:
        project_id: The project (app) id.
        api_key: The key the emulator accepts for it.
        secret_key: The secret the emulator accepts for it.
        seed: Varies all the data.
        events_per_hour: Mean events per upload hour (the diurnal curve varies it).
        part_events: Most events per `#N` member; busier hours get several parts.
        empty_hour_ratio: Share of hours with no events at all.
        first_hour: No events are uploaded before this hour.
        drift_from: Hours from this one on carry an unknown top-level field on some events.
        late_arrivals: Upload hours whose export later gained a few events (as when Amplitude
            finishes ingesting an hour late); a re-check should pick them up.
    """

    project_id: int = 100001
    api_key: str = "demo-api-key"
    secret_key: str = "demo-secret-key"  # noqa: S105  (the emulator's public demo key)
    seed: int = 7
    events_per_hour: int = 300
    part_events: int = 250
    empty_hour_ratio: float = 0.04
    first_hour: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    drift_from: datetime | None = datetime(2024, 3, 2, tzinfo=UTC)
    late_arrivals: tuple[datetime, ...] = ()

    def count(self, hour: datetime) -> int:
        """Return how many original events are uploaded in an hour.

        Args:
            hour: The upload hour.

        Returns:
            The number of events (re-exports not included).
        """
        hour = floor_hour(hour)
        if hour < self.first_hour:
            return 0
        rng = random.Random(_seed(self.project_id, self.seed, "count", hour.isoformat()))
        if rng.random() < self.empty_hour_ratio:
            return 0
        daily = 0.55 + 0.45 * math.sin((hour.hour - 9) / 24 * 2 * math.pi)
        late = 5 if hour in self.late_arrivals else 0
        return max(1, round(self.events_per_hour * daily * rng.uniform(0.7, 1.3))) + late

    def reexports(self, hour: datetime) -> list[tuple[datetime, int]]:
        """Return the (original hour, index) of events exported again in this hour.

        Args:
            hour: The upload hour.

        Returns:
            Which earlier events this hour repeats, with the same uuid.
        """
        hour = floor_hour(hour)
        if self.count(hour) == 0:
            return []
        rng = random.Random(_seed(self.project_id, self.seed, "again", hour.isoformat()))
        picks = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            source = hour - rng.randint(1, 30) * HOUR
            available = self.count(source)
            if available:
                picks.append((source, rng.randrange(available)))
        return picks

    def events(self, hour: datetime) -> list[dict[str, Any]]:
        """Return the events exported for an upload hour, in export order.

        Args:
            hour: The upload hour.

        Returns:
            The events as the export's JSON objects (shared: do not modify them).
        """
        return _cached_events(self, floor_hour(hour))

    def _generate(self, hour: datetime) -> list[dict[str, Any]]:
        events = [self.event(hour, i) for i in range(self.count(hour))]
        for source, index in self.reexports(hour):
            again = dict(self.event(source, index))
            rng = random.Random(_seed(self.project_id, self.seed, "again-at", hour, source, index))
            moment = hour + timedelta(seconds=rng.uniform(0, 3599))
            again["server_upload_time"] = _ts(moment, rng)
            again["processed_time"] = _ts(moment + timedelta(seconds=1), rng)
            events.insert(rng.randrange(len(events) + 1), again)
        return events

    def parts(self, hour: datetime) -> list[tuple[str, list[dict[str, Any]]]]:
        """Split an hour's events into members named as the export names them.

        Args:
            hour: The upload hour.

        Returns:
            (member name, events) per part; no member for an empty hour.
        """
        hour = floor_hour(hour)
        events = self.events(hour)
        if not events:
            return []
        rng = random.Random(_seed(self.project_id, self.seed, "parts", hour.isoformat()))
        number = rng.choice([0, 1])
        result = []
        for offset in range(0, len(events), self.part_events):
            name = (
                f"{self.project_id}/{self.project_id}_{hour:%Y-%m-%d}_{hour.hour}#{number}.json.gz"
            )
            result.append((name, events[offset : offset + self.part_events]))
            number += rng.choice([1, 1, 1, 2])  # numbering need not be contiguous
        return result

    def event(self, hour: datetime, index: int) -> dict[str, Any]:
        """Return one original event.

        Args:
            hour: Its upload hour.
            index: Its index within the hour.

        Returns:
            The event as an export JSON object.
        """
        rng = random.Random(_seed(self.project_id, self.seed, hour.isoformat(), index))
        uploaded = hour + timedelta(seconds=rng.uniform(0, 3598))
        delay = timedelta(seconds=rng.uniform(0.5, 90))
        if rng.random() < 0.03:  # an offline device uploads days later
            delay = timedelta(days=rng.randint(1, 10), seconds=rng.uniform(0, 86000))
        received = uploaded - timedelta(seconds=rng.uniform(0.05, 1.0))
        client_upload = received - timedelta(seconds=rng.uniform(0.05, 0.5))
        client_event = client_upload - delay
        event_time = client_event
        user_number = int(rng.paretovariate(1.2) * 10) % 5000
        user_id: str | None = f"user_{user_number}"
        roll = rng.random()
        if roll < 0.10:
            user_id = None
        elif roll < 0.12:
            user_id = ""
        elif roll < 0.14:
            user_id = f"用户_{user_number}"
        device = uuid.UUID(int=_seed(self.project_id, "device", user_number) << 64 | user_number)
        platform, os_name, brand, family = PLATFORMS[user_number % len(PLATFORMS)]
        city, country, region, lat, lng = CITIES[user_number % len(CITIES)]
        session_start = event_time.replace(
            minute=(event_time.minute // 30) * 30, second=0, microsecond=0
        )
        session_id = -1 if rng.random() < 0.05 else int(session_start.timestamp() * 1000)
        event_type = rng.choices(EVENT_TYPES, cum_weights=_ZIPF)[0]
        insert_index = index - 1 if index and rng.random() < 0.01 else index
        event: dict[str, Any] = {
            "$insert_id": str(uuid.UUID(int=_seed(self.project_id, hour, insert_index, "ins"))),
            "$insert_key": None,
            "$schema": rng.choice([None, None, 12, "12"]),
            "adid": None if platform != "Android" else str(device),
            "amplitude_attribution_ids": rng.choice([None, None, "abc123", ["h1", "h2"]]),
            "amplitude_event_type": None,
            "amplitude_id": amplitude_id_of(user_number, index),
            "app": self.project_id,
            "city": city,
            "client_event_time": _ts(client_event, rng),
            "client_upload_time": _ts(client_upload, rng),
            "country": country,
            "data": {
                "path": "/batch",
                "user_properties_updated": rng.random() < 0.3,
                "group_first_event": {},
                "group_ids": {},
            },
            "data_type": "event",
            "device_brand": brand,
            "device_carrier": rng.choice([None, "Verizon", "T-Mobile", ""]),
            "device_family": family,
            "device_id": str(device),
            "device_manufacturer": brand,
            "device_model": rng.choice([None, "iPhone15,2", "SM-G991B"]),
            "device_type": family,
            "dma": "San Francisco-Oakland-San Jose, CA" if city == "San Francisco" else None,
            "event_id": rng.randint(1, 5000),
            "event_properties": self._event_properties(event_type, rng),
            "event_time": _ts(event_time, rng),
            "event_type": event_type,
            "global_user_properties": None,
            "group_properties": {}
            if rng.random() < 0.8
            else {"org id": {"acme-123": {"plan": "pro"}}},
            "groups": {} if rng.random() < 0.8 else {"org id": ["acme-123"]},
            "idfa": str(device).upper() if platform == "iOS" else None,
            "ip_address": f"203.0.113.{user_number % 250}",
            "is_attribution_event": rng.choice([False, False, None, True]),
            "language": rng.choice(["English", "Deutsch", "日本語", None]),
            "library": rng.choice(["amplitude-swift/1.4.3", "amplitude-ts/2.1.0", "http/2.0"]),
            "location_lat": lat,
            "location_lng": lng,
            "os_name": os_name,
            "os_version": rng.choice(["17.3.1", "14", "120.0.0"]),
            "partner_id": None,
            "paying": rng.choice([None, True, False, "true", "(none)"]),
            "plan": {}
            if rng.random() < 0.5
            else {"branch": "main", "source": os_name, "version": "12"},
            "platform": platform,
            "processed_time": _ts(uploaded + timedelta(seconds=1), rng),
            "region": region,
            "sample_rate": None if rng.random() < 0.9 else 0.5,
            "server_received_time": _ts(received, rng),
            "server_upload_time": _ts(uploaded, rng),
            "session_id": session_id,
            "source_id": None,
            "start_version": "5.3.1",
            "user_creation_time": rng.choice([None, "", _ts(event_time - timedelta(days=30), rng)]),
            "user_id": user_id,
            "user_properties": self._user_properties(user_number, rng),
            "uuid": str(
                uuid.UUID(int=_seed(self.project_id, self.seed, hour, index, "uuid") << 64 | index)
            ),
            "version_name": rng.choice(["5.12.0", "5.13.0", None]),
        }
        if self.drift_from and hour >= self.drift_from and rng.random() < 0.05:
            event["ingestion_metadata"] = {"source_name": "émulateur", "batch": [1, 2]}
        if index and rng.random() < 0.005:
            # The SDK sent the previous event again (a retry after a timeout) and Amplitude gave
            # the copy its own uuid: the same event id, device, client time and user.
            first = self.event(hour, index - 1)
            for key in _RETRY_KEYS:
                event[key] = first[key]
        return event

    def _event_properties(self, event_type: str, rng: random.Random) -> dict[str, Any]:
        if event_type == "[Experiment] Exposure":
            flag = rng.choice(list(FLAGS))
            return {"flag_key": flag, "variant": rng.choice(FLAGS[flag])}
        if event_type == "[Experiment] Assignment":
            flag = rng.choice(list(FLAGS))
            return {
                f"{flag}.variant": rng.choice(FLAGS[flag]),
                f"{flag}.details": "v1 rule:All Other Users",
            }
        props: dict[str, Any] = {}
        for _ in range(rng.randint(3, 30)):
            key = rng.choice(_PROPERTY_KEYS)
            props[key] = _VALUES[key](rng)
        return props

    @staticmethod
    def _user_properties(user_number: int, rng: random.Random) -> dict[str, Any]:
        props: dict[str, Any] = {
            "plan": ["free", "pro", "enterprise"][user_number % 3],
            "initial_utm_source": rng.choice(["EMPTY", "google", "newsletter"]),
            "cohort": f"c{user_number % 5}",
        }
        if user_number % 4 == 0:
            props["[Experiment] new-checkout"] = rng.choice(["control", "treatment"])
        return props
