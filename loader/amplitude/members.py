"""Names of the members inside an Export API zip.

Members are named `<project>/<project>_<YYYY-MM-DD>_<H>#<N>.json.gz`: the hour is the UTC
`server_upload_time` hour and is not zero-padded, and parts are numbered from 0 or 1 with no
promise of contiguity. A plain sort would put `_10` before `_2`, so members are ordered by the
parsed (date, hour, part). The name is used to group rows by hour, never as data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loader.errors import ArchiveError

_NAME = re.compile(
    r"(?:^|/)(?P<project>\d+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<hour>\d{1,2})#(?P<part>\d+)\.json\.gz$"
)
SUFFIX = ".json.gz"


@dataclass(frozen=True, order=True)
class MemberName:
    """The parsed name of one member.

    Attributes:
        hour: The UTC upload hour the member holds.
        part: The part number within the hour.
        project: The project id in the name.
        name: The member's full name.
    """

    hour: datetime
    part: int
    project: int
    name: str


def parse_member_name(name: str) -> MemberName:
    """Parse a member name.

    Args:
        name: The member's name inside the zip.

    Returns:
        The parsed name.

    Raises:
        ArchiveError: If the name does not follow the export's pattern.
    """
    match = _NAME.search(name)
    if match is None:
        raise ArchiveError(
            f"member {name!r} does not follow the export's naming pattern"
            " <project>_<YYYY-MM-DD>_<H>#<N>.json.gz, so its hour is unknown",
            remedy="report this archive; the loader will not guess which hour it belongs to",
        )
    hour = int(match["hour"])
    if hour > 23:
        raise ArchiveError(f"member {name!r} names hour {hour}, which does not exist")
    day = datetime.strptime(match["date"], "%Y-%m-%d").replace(tzinfo=UTC)
    return MemberName(
        hour=day + timedelta(hours=hour),
        part=int(match["part"]),
        project=int(match["project"]),
        name=name,
    )
