"""Progress reporting, decoupled from how it is shown (a terminal bar, a Dagster log, nothing)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress from a load."""

    def window(self, description: str, total_bytes: int | None) -> None:
        """A new download begins."""

    def downloaded(self, nbytes: int) -> None:
        """Bytes of the current download arrived."""

    def normalised(self, events: int) -> None:
        """Events were normalised."""

    def note(self, message: str) -> None:
        """Something worth telling the user happened."""


class NoProgress:
    """Reports nothing."""

    def window(self, description: str, total_bytes: int | None) -> None:
        """Ignore."""

    def downloaded(self, nbytes: int) -> None:
        """Ignore."""

    def normalised(self, events: int) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""
