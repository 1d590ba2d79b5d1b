"""The User Privacy API client against the emulator: listings by six months, paced requests."""

from __future__ import annotations

from datetime import date

from loader.amplitude.clients import project_client
from loader.amplitude.config import LoaderSettings
from loader.amplitude.privacy.deletion_api import DeletionApi, IdRequest, ranges
from loader.emulator import EmulatorServer
from loader.ratelimit import SlidingWindow
from tests.conftest import config_for
from tests.fake_clock import FakeClock


def test_requests_carry_at_most_100_ids_one_a_second_and_listings_span_six_months(
    emulator: EmulatorServer, synthetic: object, settings: LoaderSettings
) -> None:
    clock = FakeClock()
    pace = SlidingWindow(1, 1.0, clock=clock, sleep=clock.sleep)
    client = project_client(config_for(synthetic, emulator), settings, "User Privacy API")  # type: ignore[arg-type]
    api = DeletionApi(client, pace)
    ids = [IdRequest("amplitude_id", 10**12 + n) for n in range(230)]
    jobs = api.submit([*ids, IdRequest("user_id", "user_1")], "dpo@example.com")
    assert len(jobs) == 3 and sum(clock.slept) >= 2.0  # 231 ids: 100, 100, 31, a second apart
    assert len(jobs[-1].ids) == 231  # the emulator's job has every id, none refused
    # A listing over two years is cut in listings the API accepts (the emulator refuses more).
    assert len(list(ranges(date(2023, 1, 1), date(2024, 12, 31)))) == 5
    listed = api.jobs(date(2023, 1, 1), date(2024, 12, 31))
    assert [j.day for j in listed] == [jobs[0].day] and len(listed[0].ids) == 231
    assert "10000000000" not in repr(listed[0].ids[0])
