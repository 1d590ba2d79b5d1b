"""Producing items on a thread of its own (`loader.pipeline.background`)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest

from loader.pipeline import background


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loader-producer"]


def test_background_keeps_order_raises_the_producers_error_and_can_stop_early() -> None:
    items = list(range(50))
    assert list(background(iter(items), maxsize=8)) == items

    def broken() -> Iterator[int]:
        yield 0
        raise OSError("the hour file went away")

    read = background(broken())
    assert next(read) == 0
    with pytest.raises(OSError, match="went away"):
        next(read)
    # A consumer that stops early (an error while writing) leaves no producer behind it,
    # blocked on a full queue or still reading.
    before = set(_producers())
    endless = background(itertools.repeat(1), maxsize=8)
    assert next(endless) == 1
    assert len(set(_producers()) - before) == 1
    endless.close()
    assert not set(_producers()) - before
