"""Finding the SQL files under `sql/`, in a source checkout or an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sql_root() -> Path:
    """Return the folder holding the project's SQL files.

    Returns:
        `loader/sql` inside an installed wheel, else `sql/` of the source checkout.
    """
    packaged = Path(str(resources.files("loader"))) / "sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "sql"


def read_sql(relative: str) -> str:
    """Read one SQL file.

    Args:
        relative: Its path below the SQL folder, for example `amplitude/events.sql`.

    Returns:
        Its text.
    """
    return (sql_root() / relative).read_text()
