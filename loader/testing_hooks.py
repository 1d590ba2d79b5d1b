"""Fault injection for crash tests: kill the process at a named point.

Set `AMPLITUDE_LOADER_CRASH_AT=<point>[:<n>]` to have the process SIGKILL itself the n-th time
(default the first) it reaches `<point>`. Unset, a crash point costs one dictionary lookup. This is
how the tests prove that a crash at any step leaves readers a consistent lake.
"""

from __future__ import annotations

import os
import signal

_ENV = "AMPLITUDE_LOADER_CRASH_AT"
_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill this process here if the environment asks for it.

    Args:
        name: The point's name, for example `publish.before_manifest`.
    """
    wanted = os.environ.get(_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
