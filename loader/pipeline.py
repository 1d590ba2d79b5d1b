"""Overlapping work between threads, for stages that release the GIL (ISA-L, numpy, DuckDB)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import Future
from typing import Generic, TypeVar

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


class Cancelled(Exception):
    """Raised inside a call made ahead whose result is no longer wanted."""


class Ahead(Generic[T]):
    """One call started early, on a thread of its own, whose result is taken later.

    It overlaps work that waits (a download) with work that computes (staging the one before).
    The call gets an event that is set when its result is no longer wanted; it should check it
    where it can stop (between chunks) and raise `Cancelled`. The thread is a daemon and is
    never waited for when cancelled: a call blocked on a server that takes minutes to answer
    must not hold up an error's way out, or the process's exit.

    Args:
        call: The work; takes the cancel event.
        name: The thread's name, for logs.
    """

    def __init__(self, call: Callable[[threading.Event], T], name: str) -> None:
        self.cancelled = threading.Event()
        self._future: Future[T] = Future()
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[threading.Event], T]) -> None:
        try:
            self._future.set_result(call(self.cancelled))
        except BaseException as exc:  # raised in the taker's thread, by result()
            self._future.set_exception(exc)

    def result(self) -> T:
        """Wait for the call and return its result, or raise what it raised."""
        return self._future.result()

    def wait(self) -> None:
        """Wait for the call to end, without taking its result or its error."""
        futures.wait([self._future])

    def cancel(self) -> None:
        """Tell the call its result is not wanted; do not wait for it."""
        self.cancelled.set()
