"""Overlapping work between threads, for stages that release the GIL (ISA-L, numpy, DuckDB)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def background(items: Iterable[T], maxsize: int = 2) -> Iterator[T]:
    """Produce `items` in a background thread while the caller consumes them.

    At most `maxsize` items wait between the two, so memory stays bounded. An exception in the
    producer is raised in the consumer; a consumer that stops early stops the producer.

    Args:
        items: What to produce (a generator doing the slow reading).
        maxsize: Items that may wait.

    Yields:
        The items, in order.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failure(exc))
            return
        put(_END)

    thread = threading.Thread(target=produce, daemon=True, name="loader-producer")
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
