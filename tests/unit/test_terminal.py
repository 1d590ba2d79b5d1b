"""The terminal's bars: hours of the plan and the time left, megabytes, events, each its unit."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from loader.shell.terminal import TerminalProgress, print_rows


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


def test_query_results_are_a_table_on_a_terminal_and_tab_separated_in_a_pipe(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [("Page Viewed", 1200, None), ("Signed Up", 7, "web")]
    screen = Console(file=io.StringIO(), force_terminal=True, width=80, color_system=None)
    print_rows(["event_type", "events", "platform"], rows, table=True, out=screen)
    lines = screen.file.getvalue().splitlines()  # type: ignore[attr-defined]
    header = next(line for line in lines if "event_type" in line)
    first = next(line for line in lines if "Page Viewed" in line)
    assert header.index("events") == first.index("1200")  # aligned columns
    assert "NULL" in first

    print_rows(["event_type", "events", "platform"], rows, table=False)
    assert capsys.readouterr().out.splitlines() == [
        "event_type\tevents\tplatform",
        "Page Viewed\t1200\tNULL",
        "Signed Up\t7\tweb",
    ]
