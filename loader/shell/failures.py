"""Failures at the command line: one line on stderr, and an exit code that says what kind."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from loader.errors import (
    ConfigError,
    LoaderError,
    Terminated,
    explain_unexpected,
    note_stop,
    stop_behind,
)
from loader.secrets import redact

log = logging.getLogger("loader")


def fail(message: str, code: int, *, scrub: bool = True) -> None:
    """Print one line and exit; `scrub` masks secrets (a LoaderError has masked its own)."""
    click.echo(f"amplitude-loader: {redact(message) if scrub else message}", err=True)
    sys.exit(code)


def terminate_like_an_interrupt() -> None:
    """Make SIGTERM stop a command as Ctrl-C does, and both be told as what they are.

    The run's outcome is recorded, the commit in progress completes or is discarded whole
    (commits are atomic), and the exit code is 143 (130 for Ctrl-C), whatever error the
    interrupted code made of the interrupt. A second signal while the first is handled ends the
    process at once. Only the main thread may set handlers (a command run from another thread
    keeps Python's).
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise note_stop(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors into a one-line reason and a non-zero exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            _exit_for(exc)

    return wrapper


def _exit_for(exc: Exception | KeyboardInterrupt) -> None:
    """Exit with the reason and code of a failure (a stop first, whatever error it caused)."""
    stop = stop_behind(exc)
    if stop is not None:
        terminated = isinstance(stop, Terminated)
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        fail(f"{what}; what was published stays, a rerun resumes", 143 if terminated else 130)
    if isinstance(exc, ConfigError):
        fail(exc.describe(), 2, scrub=False)
    if isinstance(exc, LoaderError):
        fail(exc.describe(), 1, scrub=False)
    if isinstance(exc, BrokenPipeError):  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    if log.isEnabledFor(logging.DEBUG):
        raise exc
    fail(explain_unexpected(exc, project=None, hours=None).describe(), 1)
