"""Fault injection for crash tests: kill the process, or fail as a full disk, at a named point.

Set `LOADER_CRASH_AT=<point>[:<n>]` to have the process SIGKILL itself the n-th time
(default the first) it reaches `<point>`, or `LOADER_DISK_FULL_AT=<point>[:<n>]` to
have it raise the `OSError` of a full disk there. Unset, a point costs two dictionary lookups.
This is how the tests prove that a crash at any step leaves readers a consistent lake, and that
an unexpected failure still explains and records itself.
"""

from __future__ import annotations

import errno
import os
import signal

_CRASH = "LOADER_CRASH_AT"
_DISK_FULL = "LOADER_DISK_FULL_AT"
_seen: dict[tuple[str, str], int] = {}


def _reached(variable: str, name: str) -> bool:
    wanted = os.environ.get(variable)
    if not wanted:
        return False
    point, _, nth = wanted.partition(":")
    if point != name:
        return False
    _seen[variable, name] = _seen.get((variable, name), 0) + 1
    return _seen[variable, name] >= int(nth or 1)


def crash_point(name: str) -> None:
    """Kill this process here, or fail as a full disk, if the environment asks for it.

    Args:
        name: The point's name, for example `publish.before_manifest`.

    Raises:
        OSError: ENOSPC, when `LOADER_DISK_FULL_AT` names this point.
    """
    if _reached(_CRASH, name):
        os.kill(os.getpid(), signal.SIGKILL)
    if _reached(_DISK_FULL, name):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"<{name}>")
