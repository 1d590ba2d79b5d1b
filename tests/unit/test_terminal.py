"""The terminal's bars: hours of the plan and the time left, megabytes, events, each its unit."""

from __future__ import annotations

import io

from rich.console import Console

from loader.shell.terminal import TerminalProgress


def test_the_bars_show_hours_bytes_and_events_in_their_own_units() -> None:
    screen = Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)
    progress = TerminalProgress(enabled=True, output=screen)
    with progress:
        progress.planned(72)
        progress.published(24)
        progress.window("project 100001 2024-03-01T00..2024-03-01T23", None)
        progress.downloaded(2_500_000)
        progress.normalised(28_000)
        screen.print(progress._bars.get_renderable())
    text = screen.file.getvalue()  # type: ignore[attr-defined]
    assert "24/72 hours" in text
    assert "2.5 MB" in text and "kB" not in text
    assert "28,000 events" in text and "bytes" not in text
