"""The clock of the source a project was loaded from, where it is not the real one.

The demo loads from an emulator whose clock stands at its own moment (2024-03-04): measured
against today, every hour since would count as missing. The demo records that clock beside the
project's events, and `status` judges the project's hours against it. A project loaded from
Amplitude records none, and is judged against the real clock.
"""

from __future__ import annotations

import json
from datetime import datetime

from loader.snapshot.layout import TableLayout

CLOCK_FILE = "source_clock.json"


def record_source_clock(layout: TableLayout, now: datetime) -> None:
    """Record that the project's source stands at `now`.

    Args:
        layout: The project's events table.
        now: The source's clock (aware, UTC).
    """
    layout.lake.write_bytes(
        layout.lake.join(layout.state_file(CLOCK_FILE)),
        json.dumps({"now": now.isoformat()}).encode(),
    )


def source_now(layout: TableLayout, now: datetime) -> datetime:
    """The moment to judge the project's hours against: its source's clock, if it has one.

    Args:
        layout: The project's events table.
        now: The real moment.

    Returns:
        The earlier of `now` and the recorded clock.
    """
    path = layout.lake.join(layout.state_file(CLOCK_FILE))
    if not layout.lake.exists(path):
        return now
    recorded = datetime.fromisoformat(json.loads(layout.lake.read_bytes(path))["now"])
    return min(now, recorded)
