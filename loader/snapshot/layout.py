"""Where tables live in the lake: the one place that names their folders.

```
<source>/project_<id>/<table>/                  a Delta table: its _delta_log/ and Parquet files
<source>/project_<id>/_state/<table>/...        the loader's own notes (readers never read them)
```

The project's folder is `project_<id>`, not a Hive-style `project=<id>`: Polars takes any
`k=v` folder on a table's path for a partition of the table, and then fails to read it.

Paths here are relative to the lake's root; `Lake.join` makes them absolute.
"""

from __future__ import annotations

from dataclasses import dataclass

from loader.lake import Lake
from loader.object_store import NOTES

#: The snapshot log's table: one row per snapshot run and kind.
SNAPSHOT_LOG = "snapshot_log"
#: The folder of the loader's own notes (last run, quotas): the vacuum never touches it.
STATE = NOTES
#: The prefix of a project's folder.
PROJECT_PREFIX = "project_"


def project_folder(project: str) -> str:
    """A project's folder name below its source."""
    return f"{PROJECT_PREFIX}{project}"


def project_of(folder: str) -> str | None:
    """The project id a folder of a source names, or None if it is no project's folder."""
    if folder.startswith(PROJECT_PREFIX) and folder[len(PROJECT_PREFIX) :].isdigit():
        return folder[len(PROJECT_PREFIX) :]
    return None


@dataclass(frozen=True)
class TableLayout:
    """Where one table of one project of one source lives in the lake.

    Attributes:
        lake: The lake.
        source: The source's name, for example `amplitude`.
        project: The project id.
        table: The table's name, for example `events`.
    """

    lake: Lake
    source: str
    project: str
    table: str

    @property
    def key(self) -> str:
        """The table's folder, relative to the lake: `<source>/project_<id>/<table>`."""
        return f"{self.project_root}/{self.table}"

    @property
    def project_root(self) -> str:
        """The project's folder, relative to the lake."""
        return f"{self.source}/{project_folder(self.project)}"

    def sibling(self, table: str) -> TableLayout:
        """Another table of the same project."""
        return TableLayout(self.lake, self.source, self.project, table)

    def state_file(self, name: str) -> str:
        """A note of the loader's own about this table (not data: readers never read it)."""
        return f"{self.project_root}/{STATE}/{self.table}/{name}"
