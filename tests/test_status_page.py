"""The status page, rendered by a real headless Chromium: one cell per hour, in its state.

Chromium comes from the system (Debian's `chromium` package; `.ci/run` installs it); without
it the test is skipped with that reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loader.amplitude.config import LoaderSettings, ProjectConfig
from loader.amplitude.hour_status import HourStatus, hour_statuses
from loader.amplitude.runner import sync_projects
from loader.emulator import EmulatorServer
from loader.emulator.faults import FaultRule
from loader.errors import LoaderError
from loader.hours import hour_key, hours_between
from loader.shell.status_page import status_page
from tests.conftest import NOW, START
from tests.loader_process import run_loader

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cells(dom: str) -> dict[str, set[str]]:
    """Hour -> the classes of its cell, from the DOM the browser built."""
    return {
        hour: set(classes.split())
        for classes, hour in re.findall(r'<td class="([^"]+)"[^>]*data-hour="([^"]+)"', dom)
    }


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine: apt-get install chromium"
)
def test_the_page_has_one_cell_per_hour_in_its_state_in_a_real_browser(
    tmp_path: Path, emulator: EmulatorServer, project: ProjectConfig, settings: LoaderSettings
) -> None:
    lenient = replace(settings, max_reject_ratio=0.5)
    emulator.faults.set([FaultRule(kind="bad_lines", times=1, params={"lines": 1})])
    sync_projects([project], lenient, end=START + timedelta(hours=5), now=NOW)  # a few rejects
    emulator.faults.set([FaultRule(kind="bad_lines", times=None, params={"lines": 30})])
    with pytest.raises(LoaderError):  # these hours fail and are quarantined
        sync_projects(
            [project],
            settings,
            start=START + timedelta(hours=6),
            end=START + timedelta(hours=7),
            now=NOW,
        )
    emulator.faults.set([])
    sync_projects([project], settings, start=START + timedelta(hours=10), now=NOW)  # 08, 09 missing

    hours = hour_statuses(project, settings, now=NOW)
    page = tmp_path / "status.html"
    page.write_text(status_page([(project.label, hours)], generated=NOW), encoding="utf-8")
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    cells = _cells(dom.stdout)

    assert len(cells) == len(hours) == 72  # every wanted hour, once
    expected = {hour_key(s.hour): s for s in hours}
    assert {h for h, c in cells.items() if c & {"loaded", "empty"}} == {
        h for h, s in expected.items() if s.state in ("loaded", "empty")
    }
    missing = {h for h, c in cells.items() if "missing" in c}
    assert {"2024-03-01T08", "2024-03-01T09"} <= missing
    failed = {h for h, c in cells.items() if "failed" in c}
    assert failed and failed <= {"2024-03-01T06", "2024-03-01T07"}
    with_rejects = {h for h, c in cells.items() if "rejects" in c}
    assert with_rejects and all(h < "2024-03-01T06" for h in with_rejects)
    assert all(expected[h].rejects > 0 for h in with_rejects)
    assert 'title="2024-03-01 00:00 UTC: ' in dom.stdout  # the numbers on hover

    shot = tmp_path / "status.png"
    drawn = _chromium("--window-size=900,420", f"--screenshot={shot}", page.as_uri())
    assert drawn.returncode == 0 and shot.stat().st_size > 10_000, drawn.stderr[-2000:]

    # The command writes the same page (with today's clock, so more hours are missing; the
    # hours of the chosen days).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env.update(
        AMPLITUDE_PROJECT_ID=str(project.project_id),
        AMPLITUDE_LAKE=settings.lake_root,
        AMPLITUDE_CATALOG=settings.catalog_path,
    )
    chosen = [
        "--hours-from",
        f"{START:%Y-%m-%d}",
        "--hours-to",
        f"{START + timedelta(days=2):%Y-%m-%d}",
    ]
    done = run_loader(
        ["status", "--html", str(tmp_path / "cli.html"), *chosen], env, tmp_path / "out"
    )
    assert done.returncode == 0, done.stderr
    from_cli = _cells((tmp_path / "cli.html").read_text())
    assert {h for h, c in from_cli.items() if c & {"loaded", "empty"}} == {
        h for h, c in cells.items() if c & {"loaded", "empty"}
    }


def _years() -> list[HourStatus]:
    """Nearly three years wanted: three days loaded, then nothing until the last three weeks."""
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2026, 12, 5, 22, tzinfo=UTC)
    hours = []
    for hour in hours_between(start, end):
        recent = hour > end - timedelta(days=20)
        if hour < start + timedelta(days=3) or (recent and hour.day != 25):
            hours.append(HourStatus(hour, "loaded", 100 + hour.hour, 1 if hour.hour == 3 else 0))
        elif recent and hour.hour == 7:
            hours.append(HourStatus(hour, "failed"))
        else:
            hours.append(HourStatus(hour, "missing"))
    return hours


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine: apt-get install chromium"
)
def test_years_of_hours_fit_a_small_page_of_days_with_the_recent_hours(tmp_path: Path) -> None:
    hours = _years()
    page = tmp_path / "years.html"
    text = status_page([("100001", hours)], generated=hours[-1].hour)
    page.write_text(text, encoding="utf-8")
    assert len(text) < 120_000  # 24,000 hours: 3 MB when every hour had a cell
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The hours of the last 14 days only, each day's row linked from its day cell.
    cells = _cells(dom.stdout)
    last = hours[-1].hour.date()
    assert {h[:10] for h in cells} == {f"{last - timedelta(days=n):%Y-%m-%d}" for n in range(14)}
    days = dict(re.findall(r'data-day="([^"]+)" data-missing="(\d+)"', dom.stdout))
    by_day: dict[str, int] = {}
    for status in hours:
        key = f"{status.hour:%Y-%m-%d}"
        by_day[key] = by_day.get(key, 0) + (status.state == "missing")
    shown = {d: int(n) for d, n in days.items()}
    assert shown == {d: n for d, n in by_day.items() if d in shown}
    assert len(shown) < 130  # the months with nothing loaded share one row
    assert re.search(r"nothing loaded: \d+ months, [\d,]+ hours missing", dom.stdout)
    for day in {h[:10] for h in cells}:
        assert f'href="#p100001-{day}"' in dom.stdout and f'id="p100001-{day}"' in dom.stdout
    assert 'class="h partial' in dom.stdout and 'class="h failed' in dom.stdout

    # Laid out in a wide and a narrow window, nothing runs off the side, and it is short.
    measured = tmp_path / "measured.html"
    probe = (
        "<script>addEventListener('load', () => { document.body.dataset.layout ="
        " [document.documentElement.scrollWidth, innerWidth,"
        " document.documentElement.scrollHeight].join(','); });</script>"
    )
    measured.write_text(text.replace("</body>", probe + "</body>"), encoding="utf-8")
    for width in (1400, 800):
        laid = _chromium(
            f"--window-size={width},900",
            "--virtual-time-budget=2000",
            "--dump-dom",
            measured.as_uri(),
        )
        found = re.search(r'data-layout="(\d+),(\d+),(\d+)"', laid.stdout)
        assert found, laid.stderr[-2000:]
        scroll_width, inner, height = map(int, found.groups())
        assert scroll_width <= inner == width and height < 1200, (width, found.groups())
