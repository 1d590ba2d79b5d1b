"""Showing progress and results on a terminal (rich), and nothing when output is not one."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

console = Console(stderr=True)


class TerminalProgress:
    """Progress bars for bytes downloaded and events normalised; silent off a terminal.

    Args:
        enabled: Show bars (default: when stderr is a terminal).
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not self.enabled,
        )
        self._download: TaskID | None = None
        self._normalised: TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        self._bars.start()
        self._normalised = self._bars.add_task("normalised", total=None, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def window(self, description: str, total_bytes: int | None) -> None:
        """Start a download bar."""
        if self._download is not None:
            self._bars.remove_task(self._download)
        self._download = self._bars.add_task(f"downloading {description}", total=total_bytes)

    def downloaded(self, nbytes: int) -> None:
        """Advance the download bar."""
        if self._download is not None:
            self._bars.advance(self._download, nbytes)

    def normalised(self, events: int) -> None:
        """Count normalised events."""
        if self._normalised is not None:
            self._bars.update(self._normalised, visible=True)
            self._bars.advance(self._normalised, events)

    def note(self, message: str) -> None:
        """Print a note above the bars."""
        if self.enabled:
            console.print(f"[yellow]{message}[/yellow]")
