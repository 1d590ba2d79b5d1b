"""Progress reporting, decoupled from how it is shown (a terminal bar, a Dagster log, nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Receives progress from a load."""

    def planned(self, hours: int) -> None:
        """A project's sync will load this many hours."""

    def published(self, hours: int) -> None:
        """This many more hours were published (or failed and were set aside)."""

    def window(self, description: str, total_bytes: int | None) -> None:
        """A new download begins."""

    def downloaded(self, nbytes: int) -> None:
        """Bytes of the current download arrived."""

    def normalised(self, events: int) -> None:
        """Events were normalised."""

    def note(self, message: str) -> None:
        """Something worth telling the user happened."""

    def steps(self, description: str, total: int, unit: str) -> None:
        """A counted piece of work begins: `total` `unit` (cohort downloads, evaluations)."""

    def stepped(self, count: int = 1) -> None:
        """Steps of the current counted work were done."""


class NoProgress:
    """Reports nothing."""

    def planned(self, hours: int) -> None:
        """Ignore."""

    def published(self, hours: int) -> None:
        """Ignore."""

    def window(self, description: str, total_bytes: int | None) -> None:
        """Ignore."""

    def downloaded(self, nbytes: int) -> None:
        """Ignore."""

    def normalised(self, events: int) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""

    def steps(self, description: str, total: int, unit: str) -> None:
        """Ignore."""

    def stepped(self, count: int = 1) -> None:
        """Ignore."""


def counted(items: Iterable[T], progress: Progress) -> Iterator[T]:
    """Yield the items, counting a step once each has been dealt with (whatever the loop did).

    Args:
        items: The work.
        progress: Where the steps are counted.

    Yields:
        Each item.
    """
    for item in items:
        yield item
        progress.stepped()
