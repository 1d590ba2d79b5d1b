"""The erased ids of one project, and which rows, records and lines they match.

A row is erased when one of its id columns holds an erased id and its time column is before
that id's cutoff: the moment after which the source accepts the user's data again (Amplitude
keeps events uploaded after a deletion job ran). Ids are matched by digest (`digests`), so the
list holds no id itself.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from loader.privacy.digests import IdDigests

#: Candidate ids in free text (a rejected line): quoted strings, runs of digits, and runs of
#: characters that are neither space nor JSON punctuation (the tail of a line cut mid-string).
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_BARE = re.compile(r"[^\s\"',:{}\[\]]+")


@dataclass
class ErasedIds:
    """Erased ids, as (kind, digest) to the cutoff before which their rows go.

    Attributes:
        digests: The lake's digests.
        cutoffs: (kind, digest) to a naive UTC moment; rows at or after it stay.
    """

    digests: IdDigests
    cutoffs: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.cutoffs)

    def add(self, kind: str, digest: str, cutoff: datetime) -> None:
        """Add an id; of two cutoffs for one id the later wins (it erases more)."""
        key = (kind, digest)
        if key not in self.cutoffs or self.cutoffs[key] < cutoff:
            self.cutoffs[key] = cutoff

    def token(self) -> tuple[tuple[str, str, str], ...]:
        """A value that changes whenever the list does."""
        return tuple(sorted((k, d, c.isoformat()) for (k, d), c in self.cutoffs.items()))

    def cutoff(self, kind: str, value: object) -> datetime | None:
        """The cutoff of one id, or None if it was not erased."""
        if value is None:
            return None
        return self.cutoffs.get((kind, self.digests.digest(kind, value)))

    def _column_cutoffs(self, kind: str, column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
        """Each row's cutoff for one id column (null where its id was not erased)."""
        values = pc.unique(column).drop_null()
        hits = {}
        for value in values.to_pylist():
            found = self.cutoff(kind, value)
            if found is not None:
                hits[value] = found
        if not hits:
            return None
        keys = pa.array(list(hits), column.type)
        stamps = pa.array(list(hits.values()), pa.timestamp("us"))
        return pc.take(stamps, pc.index_in(column, value_set=keys))

    def row_mask(self, table: pa.Table, ids: Mapping[str, str], time: str) -> pa.Array | None:
        """Which rows of a table are erased.

        Args:
            table: Rows with at least the id columns and the time column.
            ids: Kind of id to the column that holds it.
            time: The column compared with the cutoffs (a null time counts as before).

        Returns:
            A boolean mask, or None if no row is erased.
        """
        cutoffs = [
            found
            for kind, column in ids.items()
            if column in table.column_names
            and (found := self._column_cutoffs(kind, table.column(column))) is not None
        ]
        if not cutoffs:
            return None
        latest = cutoffs[0]
        for other in cutoffs[1:]:
            latest = pc.max_element_wise(latest, other)
        moment = table.column(time).cast(pa.timestamp("us"))
        mask = pc.fill_null(pc.less(moment, latest), True)  # a null time: erased
        mask = pc.and_(pc.is_valid(latest), mask)
        return mask if pc.any(mask).as_py() else None

    def text_cutoff(self, text: str, kinds: Iterable[str]) -> datetime | None:
        """The latest cutoff of any erased id that a piece of text names (None if none does).

        Args:
            text: Free text, for example a line that could not be parsed.
            kinds: The kinds of id to look for.
        """
        candidates = set(_BARE.findall(text))
        for quoted in _QUOTED.findall(text):
            candidates.add(quoted)
            with contextlib.suppress(ValueError):
                candidates.add(json.loads(f'"{quoted}"'))
        found = [
            cutoff
            for candidate in candidates
            for kind in kinds
            if (cutoff := self.cutoff(kind, candidate)) is not None
        ]
        return max(found) if found else None
