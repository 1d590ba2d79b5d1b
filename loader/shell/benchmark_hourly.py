"""The hourly mode's cost: what 24 hourly publishes of one day, and its compaction, write.

An hourly schedule publishes each hour of a day on its own. Every byte those publishes put into
the lake is counted (hour files, duplicate indexes, the compacted day file, manifests, commit
records: files are never overwritten, so without a vacuum the lake holds all of them) and
compared with the day's Parquet bytes. The figure of the design before the commit log, which
rewrote the day's read copy from all its hours at every publish, is computed from the same hour
files: publish n rewrote hours 1 to n.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.runner import sync_projects
from loader.delta.tables import DeltaTables
from loader.emulator import EmulatorServer, SyntheticProject
from loader.hours import parse_hour
from loader.lake import Lake
from loader.pinned import pin
from loader.secrets import Secret
from loader.snapshot.layout import TableLayout


@dataclass
class HourlyResult:
    """What a day of hourly publishes wrote.

    Attributes:
        lake_bytes: Bytes of every file the publishes and the compaction put into the lake.
        hour_bytes: Bytes of the day's hour files (the day's Parquet).
        day_bytes: Bytes of the compacted day file.
        rewrite_bytes: What rewriting the day at every publish wrote (the design before).
        publish_seconds: Wall time of each hourly sync, in order.
        compaction_seconds: Wall time of the sync that compacted the day.
    """

    lake_bytes: int = 0
    hour_bytes: int = 0
    day_bytes: int = 0
    rewrite_bytes: int = 0
    publish_seconds: list[float] = field(default_factory=list)
    compaction_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        """Bytes written over the day's Parquet bytes."""
        return self.lake_bytes / self.hour_bytes if self.hour_bytes else 0.0

    @property
    def rewrite_ratio(self) -> float:
        """The same ratio for the design that rewrote the day at every publish."""
        return self.rewrite_bytes / self.hour_bytes if self.hour_bytes else 0.0

    def summary(self) -> dict[str, float]:
        """The figures, for the benchmark's JSON."""
        return {
            "lake_mb": round(self.lake_bytes / 1e6, 2),
            "hour_files_mb": round(self.hour_bytes / 1e6, 2),
            "day_file_mb": round(self.day_bytes / 1e6, 2),
            "ratio": round(self.ratio, 2),
            "rewrite_every_publish_ratio": round(self.rewrite_ratio, 2),
            "first_publish_seconds": round(self.publish_seconds[0], 2),
            "last_publish_seconds": round(self.publish_seconds[-1], 2),
            "compaction_seconds": round(self.compaction_seconds, 2),
        }

    def text(self) -> str:
        """One line for people."""
        return (
            f"hourly mode       24 publishes + compaction wrote {self.lake_bytes / 1e6:,.1f} MB"
            f" for {self.hour_bytes / 1e6:,.1f} MB of hour files: {self.ratio:.2f}x"
            f" (rewriting the day at every publish: {self.rewrite_ratio:.2f}x);"
            f" publishes {self.publish_seconds[0]:.1f} s first, {self.publish_seconds[-1]:.1f} s"
            f" last; compaction {self.compaction_seconds:.1f} s"
        )


def hour_zips(day_zip: Path, folder: Path) -> dict[tuple[str, str], Path]:
    """Split a one-day export into one export per hour (members copied, not recompressed).

    Args:
        day_zip: The day's export, members named `<id>_<date>_<hour>#<n>.json.gz`.
        folder: Where the hour zips go (reused if present).

    Returns:
        The emulator's static exports: (start, end) of each hour's request to its zip.
    """
    folder.mkdir(parents=True, exist_ok=True)
    exports = {}
    with zipfile.ZipFile(day_zip) as archive:
        names = archive.namelist()
        day = names[0].rsplit("_", 2)[1].replace("-", "")
        for hour in range(24):
            target = folder / f"{day_zip.stem}-h{hour:02d}.zip"
            if not target.exists():
                building = target.with_suffix(".building")
                with zipfile.ZipFile(building, "w", zipfile.ZIP_STORED) as out:
                    for name in names:
                        if name.rsplit("_", 1)[1].split("#")[0] == str(hour):
                            out.writestr(archive.getinfo(name), archive.read(name))
                building.replace(target)
            exports[(f"{day}T{hour:02d}", f"{day}T{hour:02d}")] = target
    return exports


def measure_hourly(day_zip: Path, work: Path, project: SyntheticProject) -> HourlyResult:
    """Publish one day hour by hour, as the hourly schedule does, then let it be compacted.

    Args:
        day_zip: The day's export (from `loader.emulator.bulk`).
        work: A folder for the lake and the catalog (must not exist yet).
        project: The synthetic project (its keys and id).

    Returns:
        What was written.
    """
    exports = hour_zips(day_zip, day_zip.parent / "hours")
    day = parse_hour(min(exports)[0])
    settings = LoaderSettings(
        lake_root=str(work / "lake"), catalog_path=str(work / "catalog.duckdb"), start=day
    )
    result = HourlyResult()
    with EmulatorServer([project], static_exports=exports) as server:
        config = ProjectConfig(
            project.project_id,
            Secret(project.api_key),
            Secret(project.secret_key),
            base_url=server.url,
        )
        for hour in range(24):  # the schedule's run at hh:15 after the lag
            now = day + timedelta(hours=hour + settings.lag_hours, minutes=15)
            started = time.monotonic()
            sync_projects([config], settings, start=day, now=now)
            result.publish_seconds.append(time.monotonic() - started)
        finished = day + timedelta(days=1, hours=settings.lag_hours + settings.recheck_hours)
        started = time.monotonic()
        sync_projects([config], settings, start=day, end=day + timedelta(hours=23), now=finished)
        result.compaction_seconds = time.monotonic() - started
    lake = Lake(settings.lake_root)
    events = pin(
        DeltaTables(lake), TableLayout(lake, "amplitude", str(project.project_id), "events").key
    )
    current = {lake.join(p) for p in events.files}
    table_folder = Path(lake.join(events.key))
    # Before a vacuum, the hour files the compaction removed are still in the table's folder.
    written = [p for p in table_folder.rglob("*.parquet") if "_delta_log" not in p.parts]
    sizes = [p.stat().st_size for p in sorted(written) if str(p) not in current]
    result.hour_bytes = sum(sizes)
    result.day_bytes = sum(Path(p).stat().st_size for p in current)
    result.lake_bytes = sum(
        p.stat().st_size
        for p in Path(lake.root).rglob("*")
        if p.is_file() and "_scratch" not in p.parts
    )
    result.rewrite_bytes = result.hour_bytes + sum(sum(sizes[: n + 1]) for n in range(len(sizes)))
    return result
