"""Which staged hours are too broken to load, and how their failure reads.

An hour fails when too many of its lines are malformed, or when it repeats a uuid so often that
the export itself must be broken; its rows are dropped and its rejects quarantined.
"""

from __future__ import annotations

from datetime import datetime

from loader.amplitude.config import LoaderSettings
from loader.amplitude.setting_names import named
from loader.errors import RejectThresholdError
from loader.hours import describe_hours, hour_key
from loader.manifest import HourManifest
from loader.publish import StagedHour

#: Fewer repeated uuids than this never fail an hour, whatever their share of a tiny hour.
MIN_REPEATS_TO_FAIL = 1000


def _counts(manifest: HourManifest) -> tuple[int, int]:
    """(malformed lines, repeated uuids) of an hour: the manifest counts both as rejects."""
    repeated = int(manifest.extra.get("duplicates_in_hour", 0))
    return manifest.rejects - repeated, repeated


def judge(
    staged: list[StagedHour], settings: LoaderSettings
) -> tuple[list[StagedHour], list[StagedHour]]:
    """Split staged hours into those to publish and those that failed.

    Args:
        staged: The hours of one export window.
        settings: The reject and repeat ratios.

    Returns:
        (good, failed), each in the order given.
    """
    good, failed = [], []
    for item in staged:
        lines = item.manifest.lines_read
        malformed, repeated = _counts(item.manifest)
        # Exports repeat a uuid within an hour now and then (a few percent of a quiet hour),
        # so repeats have a guard of their own: an export that repeats one line millions of
        # times is broken, and must not load as "1 event".
        too_many_repeats = (
            repeated >= MIN_REPEATS_TO_FAIL and repeated / lines > settings.max_repeat_ratio
        )
        if lines and (malformed / lines > settings.max_reject_ratio or too_many_repeats):
            failed.append(item)
        else:
            good.append(item)
    return good, failed


def failure(
    failed: list[StagedHour], settings: LoaderSettings, project: str
) -> RejectThresholdError:
    """The error that explains which hours failed, by how much, and what to do.

    Args:
        failed: The hours that failed.
        settings: The ratios they failed.
        project: The project's label.

    Returns:
        The error, to raise once the window's good hours are published.
    """
    return RejectThresholdError(
        f"too many rejected lines (over {settings.max_reject_ratio:.2%} of lines malformed, or"
        f" over {settings.max_repeat_ratio:.0%} repeating a uuid): "
        + ", ".join(_describe(s.hour, s.manifest) for s in failed),
        project=project,
        hours=describe_hours(s.hour for s in failed),
        remedy="these hours were not loaded; their rejected lines are in amplitude.rejects"
        f" (WHERE NOT loaded); if they are acceptable, raise {named('max_reject_ratio')}"
        f" or {named('max_repeat_ratio')} and load them again",
    )


def _describe(hour: datetime, manifest: HourManifest) -> str:
    """`hour M malformed and R repeated uuid(s) of L lines`, the parts that are not zero."""
    malformed, repeated = _counts(manifest)
    parts = [f"{malformed:,} malformed"] if malformed or not repeated else []
    if repeated:
        parts.append(f"{repeated:,} repeated uuid(s)")
    return f"{hour_key(hour)} {' and '.join(parts)} of {manifest.lines_read:,} lines"
