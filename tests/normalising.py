"""Normalising one batch of lines at once, as the tests do (a load streams them)."""

from __future__ import annotations

import pyarrow as pa

from loader.amplitude.normalise import LINES_SCHEMA, NormalisedBatch, Normaliser


def normalise(
    normaliser: Normaliser, lines: pa.Array, line_numbers: pa.Array, parts: pa.Array
) -> NormalisedBatch:
    """Normalise one batch of lines through the streaming query.

    Args:
        normaliser: The normaliser.
        lines: The lines (a trailing newline is allowed).
        line_numbers: Each line's number within its member.
        parts: Each line's tag (int32).

    Returns:
        The events and the rejects of the batch.
    """
    batch = pa.record_batch(
        [line_numbers, parts, lines.cast(pa.large_string())], schema=LINES_SCHEMA
    )
    results = list(normaliser.stream([batch]))
    return NormalisedBatch(
        events=pa.concat_tables([r.events for r in results]),
        rejects=pa.concat_tables([r.rejects for r in results]),
    )
