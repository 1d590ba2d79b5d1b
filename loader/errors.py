"""Errors that explain themselves: what happened, to which project and hours, and what to do."""

from __future__ import annotations

from loader.secrets import redact


class LoaderError(Exception):
    """Base class of every error the loader raises on purpose.

    Attributes:
        what: What happened, in one sentence.
        remedy: What the user can do about it.
        project: The project concerned, if any.
        hours: A human-readable description of the hours concerned, if any.
    """

    def __init__(
        self,
        what: str,
        *,
        remedy: str = "",
        project: str | int | None = None,
        hours: str | None = None,
    ) -> None:
        self.what = redact(what)
        self.remedy = redact(remedy)
        self.project = project
        self.hours = hours
        super().__init__(self.describe())

    def describe(self) -> str:
        """Return the whole explanation on one line.

        Returns:
            `project P, hours H: what. remedy`, with the parts that are known.
        """
        where = []
        if self.project is not None:
            where.append(f"project {self.project}")
        if self.hours:
            where.append(f"hours {self.hours}")
        prefix = (", ".join(where) + ": ") if where else ""
        text = prefix + self.what.rstrip(".") + "."
        if self.remedy:
            text += " " + self.remedy.rstrip(".") + "."
        return text


class ConfigError(LoaderError):
    """The configuration is missing or inconsistent."""


class HttpError(LoaderError):
    """An HTTP call failed in a way that retrying did not fix.

    Attributes:
        status: The HTTP status, or None for a transport failure.
        body: The start of the response body (redacted).
    """

    def __init__(self, what: str, *, status: int | None, body: str = "", **kwargs: object) -> None:
        self.status = status
        self.body = redact(body[:2000])
        super().__init__(what, **kwargs)  # type: ignore[arg-type]


class AuthError(HttpError):
    """The server refused the credentials (401/403)."""


class ArchiveError(LoaderError):
    """A downloaded archive is not what it should be (not a zip, truncated, over a guard)."""


class CorruptArchiveError(ArchiveError):
    """A member of a downloaded archive does not decompress or fails its checksum."""


class RejectThresholdError(LoaderError):
    """Too many lines of one hour were malformed."""


class ExportTooLargeError(LoaderError):
    """One hour alone is over the Export API's size limit."""
