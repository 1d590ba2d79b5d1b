"""Showing progress and results on a terminal (rich), and nothing when output is not one."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

console = Console(stderr=True)


def _megabytes(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


class _Amount(ProgressColumn):
    """What a bar counts, in its own unit: hours of the plan, bytes downloaded, events parsed."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        speed = task.finished_speed or task.speed
        if unit in ("hours", "items"):
            return Text(f"{task.completed:,.0f}/{task.total or 0:,.0f} {task.fields['noun']}")
        if unit == "bytes":
            rate = f" {_megabytes(speed)}/s" if speed else ""
            return Text(f"{_megabytes(task.completed)}{rate}")
        rate = f" {speed:,.0f}/s" if speed else ""
        return Text(f"{task.completed:,.0f} events{rate}")


#: Room for an amount (`1,234,567 events 123,456/s`), and for a clock (`0:00:00`).
_AMOUNT_WIDTH, _CLOCK_WIDTH = 24, 7


def bar_columns(width: int) -> list[ProgressColumn]:
    """The columns of the bars for a terminal `width` characters wide, on one line each.

    The numbers never shrink: the label is cut short (with an ellipsis) to what is left, and
    a narrow terminal drops the bar, then the elapsed time; the time left always shows.

    Args:
        width: The terminal's width.

    Returns:
        The columns.
    """
    bar = 12 if width >= 72 else 8 if width >= 60 else 0
    elapsed = width >= 96
    amount = min(_AMOUNT_WIDTH, width - _CLOCK_WIDTH - 10)
    fixed = [amount, _CLOCK_WIDTH] + ([bar] if bar else []) + ([_CLOCK_WIDTH] * elapsed)
    label = max(6, width - sum(fixed) - len(fixed) - 1)  # a space between columns
    columns: list[ProgressColumn] = [
        TextColumn(
            "{task.description}",
            table_column=Column(no_wrap=True, overflow="ellipsis", max_width=label),
        )
    ]
    if bar:
        columns.append(BarColumn(bar_width=bar, table_column=Column(no_wrap=True)))
    columns.append(_Amount(table_column=Column(no_wrap=True, min_width=amount)))
    if elapsed:
        columns.append(TimeElapsedColumn(table_column=Column(no_wrap=True)))
    columns.append(_Remaining(table_column=Column(no_wrap=True)))
    return columns


class _Remaining(TimeRemainingColumn):
    """The time left, for the bars with a known end (hours, counted steps), not the others."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") not in ("hours", "items"):
            return Text("")
        return super().render(task)


class TerminalProgress:
    """Bars for the hours of the plan (with the time left), the download and the events parsed.

    Silent when stderr is not a terminal.

    Args:
        enabled: Show bars (default: when stderr is a terminal).
        output: Where to draw them (default: stderr).
    """

    def __init__(self, enabled: bool | None = None, output: Console | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.console = output or console
        self._bars = Progress(
            *bar_columns(self.console.width),
            console=self.console,
            transient=True,
            disable=not self.enabled,
        )
        self._hours: TaskID | None = None
        self._download: TaskID | None = None
        self._normalised: TaskID | None = None
        self._steps: TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        self._bars.start()
        self._normalised = self._bars.add_task("parsed", total=None, visible=False, unit="events")
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def planned(self, hours: int) -> None:
        """Start the bar of a project's hours (a new project starts a new bar)."""
        if self._hours is not None:
            self._bars.remove_task(self._hours)
        self._hours = self._bars.add_task("hours", total=hours, unit="hours", noun="hours")

    def published(self, hours: int) -> None:
        """Advance the bar of hours."""
        if self._hours is not None:
            self._bars.advance(self._hours, hours)

    def window(self, description: str, total_bytes: int | None) -> None:
        """Start a download bar."""
        if self._download is not None:
            self._bars.remove_task(self._download)
        self._download = self._bars.add_task(f"↓ {description}", total=total_bytes, unit="bytes")

    def downloaded(self, nbytes: int) -> None:
        """Advance the download bar."""
        if self._download is not None:
            self._bars.advance(self._download, nbytes)

    def normalised(self, events: int) -> None:
        """Count parsed events."""
        if self._normalised is not None:
            self._bars.update(self._normalised, visible=True)
            self._bars.advance(self._normalised, events)

    def steps(self, description: str, total: int, unit: str) -> None:
        """Start the bar of a counted piece of work, with its time left."""
        if self._steps is not None:
            self._bars.remove_task(self._steps)
        self._steps = self._bars.add_task(description, total=total, unit="items", noun=unit)

    def stepped(self, count: int = 1) -> None:
        """Advance the bar of counted work."""
        if self._steps is not None:
            self._bars.advance(self._steps, count)

    def note(self, message: str) -> None:
        """Print a note above the bars."""
        if self.enabled:
            self.console.print(f"[yellow]{message}[/yellow]")


def print_rows(
    columns: list[str], rows: Iterable[Sequence[object]], *, table: bool, out: Console | None = None
) -> None:
    """Print query results: an aligned table for a person, tab-separated lines for a pipe.

    Args:
        columns: The column names.
        rows: The rows.
        table: Draw a table (a terminal); otherwise print a header line and one line per row.
        out: Where to print (default: stdout).
    """
    shown = [["NULL" if v is None else str(v) for v in row] for row in rows]
    if not table:
        click.echo("\t".join(columns))
        for row in shown:
            click.echo("\t".join(row))
        return
    grid = Table(*columns, box=box.SIMPLE_HEAD, show_edge=False)
    for row in shown:
        grid.add_row(*row)
    (out or Console()).print(grid)
