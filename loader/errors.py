"""Errors that explain themselves: what happened, to which project and hours, and what to do."""

from __future__ import annotations

import errno

from loader.secrets import excerpt, redact


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
        self.remedy = remedy  # the loader's own words, never a server's: not scrubbed
        self.project = project
        self.hours = hours
        super().__init__(self.describe())

    def locate(self, *, project: str | int | None, hours: str | None) -> LoaderError:
        """Fill in the project and the hours that the code raising the error did not know.

        Args:
            project: The project concerned.
            hours: The hours concerned.

        Returns:
            This error, its message updated.
        """
        self.project = self.project if self.project is not None else project
        self.hours = self.hours or hours
        self.args = (self.describe(),)
        return self

    @staticmethod
    def together(errors: list[LoaderError]) -> LoaderError:
        """One error for several projects' failures: the one itself, or all on one line.

        Args:
            errors: At least one error.

        Returns:
            The error to raise.
        """
        if len(errors) == 1:
            return errors[0]
        return LoaderError(" | ".join(e.describe() for e in errors))

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
        self.body = excerpt(body, 2000)
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


class Terminated(KeyboardInterrupt):
    """The process was asked to stop with SIGTERM.

    Docker, systemd, Kubernetes and run terminations stop processes so; it is handled as an
    interrupt, so the run's outcome is recorded the same way.
    """


#: The stop a signal handler of the front door raised, if any (`note_stop`).
_stop: KeyboardInterrupt | None = None


def note_stop(stop: KeyboardInterrupt) -> KeyboardInterrupt:
    """Remember that the process is stopping, from the signal handler that raises `stop`.

    The code a signal interrupts may turn the interrupt into an error of its own (DuckDB
    answers "Query interrupted"): the stop is still what happened, and it is told as such.

    Args:
        stop: The interrupt the handler raises.

    Returns:
        The same interrupt, to raise.
    """
    global _stop
    _stop = stop
    return stop


def stop_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt that `exc` is, or that made the interrupted code raise it (None if none).

    Args:
        exc: What was raised.

    Returns:
        The interrupt, or None.
    """
    return exc if isinstance(exc, KeyboardInterrupt) else _stop


class UnexpectedError(LoaderError):
    """A failure the loader did not raise on purpose (a full disk, a bug), explained."""


def explain_unexpected(
    exc: BaseException, *, project: str | int | None, hours: str | None
) -> UnexpectedError:
    """Turn any exception into an explanation with the project, the hours and a remedy.

    Args:
        exc: What was raised.
        project: The project being loaded.
        hours: The hours being loaded, if known.

    Returns:
        The explanation, ready to record and raise.
    """
    rerun = "what was published stays; a rerun resumes from there"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return UnexpectedError(
            f"the disk is full{where}",
            project=project,
            hours=hours,
            remedy=f"free space where the lake and its scratch folder are, then run again; {rerun}",
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UnexpectedError(
            f"cannot write {exc.filename or 'a file'}: {exc.strerror}",
            project=project,
            hours=hours,
            remedy=f"make the folder writable, or choose another; {rerun}",
        )
    stop = stop_behind(exc)
    if stop is not None:
        what = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
        return UnexpectedError(what, project=project, hours=hours, remedy=rerun)
    return UnexpectedError(
        f"unexpected {type(exc).__name__}: {exc}",
        project=project,
        hours=hours,
        remedy=f"run again with -v for the details, and report it if it repeats; {rerun}",
    )
