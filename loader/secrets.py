"""Secrets that never show up in output.

A `Secret` hides its value from `repr` and `str`. Every secret is also registered so that
`redact` and the logging filter can scrub it from text that came from elsewhere (an exception
message, a server's error body), which is the last line of defence for invariant 6.
"""

from __future__ import annotations

import logging
import threading

_MASK = "***"
_registered: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A string value that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= 4:  # shorter strings would mask ordinary words in messages
            with _lock:
                _registered.add(value)

    def reveal(self) -> str:
        """Return the real value, for the one place that must send it (the auth header).

        Returns:
            The secret's value.
        """
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str) -> str:
    """Replace every registered secret in `text` with a mask.

    Args:
        text: Any text about to be shown or stored.

    Returns:
        The text with secret values masked.
    """
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, _MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message with secrets masked.

        Args:
            record: The log record.

        Returns:
            Always True: records are rewritten, never dropped.
        """
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to a logger's handlers (the root logger by default).

    Args:
        logger: The logger whose handlers get the filter.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
