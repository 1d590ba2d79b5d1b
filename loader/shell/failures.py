"""Failures at the command line: one line on stderr, and an exit code that says what kind."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from loader.errors import ConfigError, LoaderError, explain_unexpected
from loader.secrets import redact

log = logging.getLogger("loader")


def fail(message: str, code: int, *, scrub: bool = True) -> None:
    """Print one line and exit; `scrub` masks secrets (a LoaderError has masked its own)."""
    click.echo(f"amplitude-loader: {redact(message) if scrub else message}", err=True)
    sys.exit(code)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors into a one-line reason and a non-zero exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            fail(exc.describe(), 2, scrub=False)
        except LoaderError as exc:
            fail(exc.describe(), 1, scrub=False)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            fail("interrupted; what was published stays, a rerun resumes", 130)
        except Exception as exc:
            if log.isEnabledFor(logging.DEBUG):
                raise
            fail(explain_unexpected(exc, project=None, hours=None).describe(), 1)

    return wrapper
