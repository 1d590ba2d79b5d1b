"""The library's log lines (plan, export requests, retries, splits) in the run's event log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from loader.secrets import redact

#: The library logs under `loader.*`; `loader.http` says when and why a call is retried.
LIBRARY_LOGGER = "loader"


class _ToRunLog(logging.Handler):
    """Hands each record to the run's logger at its own level, with secrets masked."""

    def __init__(self, log: dg.DagsterLogManager) -> None:
        super().__init__(logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.log(record.levelno, f"{record.name}: {redact(record.getMessage())}")
        except Exception:  # a log line must never fail a run
            self.handleError(record)


@contextmanager
def library_logs(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Iterator[None]:
    """Send the library's INFO and higher lines to the run's event log while the block runs.

    Dagster can also capture named loggers for every run (`python_logs:
    managed_python_loggers` in `dagster.yaml`), but that is the instance's setting, not the
    code location's: this works with any instance, `dagster dev`'s included.
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler = _ToRunLog(context.log)
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
