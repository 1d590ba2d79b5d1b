"""Progress on a real terminal (tmux): one line per bar at 80 columns and narrower, numbers whole.

A load and an Experiment snapshot run in tmux panes of 80 and 60 columns against a slow
emulator; the screen is read while the bars show.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loader.emulator import EmulatorServer, SyntheticProject
from loader.emulator.faults import FaultRule
from tests.conftest import LAST, NOW

CLOCK = r"(\d+:\d\d:\d\d|-:--:--)"

if shutil.which("tmux") is None:  # .ci/run installs it
    pytest.fail("tmux is not installed: apt-get install tmux", pytrace=False)


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    synthetic = SyntheticProject(events_per_hour=10)
    with EmulatorServer([synthetic], now=NOW, gzip_level=1) as emulator:
        emulator.faults.set(
            [FaultRule(kind="slow_first_byte", times=None, params={"seconds": 1.5})]
        )
        yield emulator


def _pane(folder: Path, width: int, env: dict[str, str], *args: str) -> str:
    """Start `amplitude-loader <args>` in a detached tmux session `width` columns wide."""
    name = f"loader-{uuid.uuid4().hex[:8]}"
    script = folder / f"{name}.sh"
    # Only the pane's own TERM and the test's variables: an inherited COLUMNS (set by CI
    # runners and some shells) would tell the program a width other than the pane's.
    command = shlex.join(
        [*(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "loader", *args]
    )
    script.write_text(
        f'cd {shlex.quote(str(folder))}\nenv -i TERM="$TERM" LANG=C.UTF-8 {command}\nsleep 60\n'
    )
    session = ["new-session", "-d", "-s", name, "-x", str(width), "-y", "20"]
    subprocess.run(
        [*_tmux(name), *session, "sh", str(script)],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    return name


def _tmux(name: str) -> list[str]:
    """tmux on a server of the pane's own, with no configuration: sessions of one server share
    a size, so a narrower pane would resize a wider one under the program drawing in it."""
    return ["tmux", "-L", name, "-f", "/dev/null"]


def _screen_until(
    name: str, pattern: re.Pattern[str], seconds: float = 60, joined: bool = False
) -> list[str]:
    """The pane's lines (`joined`: wrapped lines joined up), once a line matches `pattern`."""
    deadline = time.monotonic() + seconds
    lines: list[str] = []
    while time.monotonic() < deadline:
        shown = subprocess.run(
            [*_tmux(name), "capture-pane", "-p", *(["-J"] if joined else []), "-t", name],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = shown.stdout.splitlines()
        if any(pattern.search(line) for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"never showed {pattern.pattern!r}; the screen was:\n" + "\n".join(lines))


def test_bars_fit_one_line_each_with_whole_numbers_and_a_time_left(
    tmp_path: Path, server: EmulatorServer
) -> None:
    synthetic = next(iter(server.projects.values()))
    env = {
        "AMPLITUDE_PROJECT_ID": str(synthetic.project_id),
        "AMPLITUDE_API_KEY": synthetic.api_key,
        "AMPLITUDE_SECRET_KEY": synthetic.secret_key,
        "AMPLITUDE_BASE_URL": server.url,
        "AMPLITUDE_START": f"{LAST:%Y-%m-%d}",
        "AMPLITUDE_EXPERIMENT_DEPLOYMENT_KEYS": f"server-{synthetic.project_id}",
        "AMPLITUDE_LAKE": str(tmp_path / "lake"),
        "PATH": os.environ["PATH"],
    }
    users = tmp_path / "users.txt"
    users.write_text("".join(f"user_{n}\n" for n in range(1, 21)))
    hours = ("--start", f"{LAST:%Y-%m-%d}", "--end", f"{LAST:%Y-%m-%d}")
    panes = {width: _pane(tmp_path, width, env, "backfill", *hours) for width in (80, 60)}
    experiment = _pane(
        tmp_path,
        80,
        env,
        "snapshot",
        "experiment",
        "--experiment-users",
        str(users),
        "--experiment-requests-per-second",
        "10",
    )
    try:
        for width, name in panes.items():
            hours_bar = re.compile(rf"^hours\s.*\b\d+/24 hours\s+{CLOCK}\s*$")
            screen = _screen_until(name, re.compile(r"^↓ .*\bMB\b"))
            screen = _screen_until(name, hours_bar)
            assert all(len(line) <= width for line in screen)
            bars = [line for line in screen if line.strip()]
            assert any(hours_bar.search(line) for line in bars), screen
            download = [line for line in bars if line.startswith("↓ ")]
            assert download and re.search(r"\d MB", download[0]), screen
            # Nothing wrapped: every line is a whole bar (a wrapped one leaves a stub below).
            assert all(re.match(r"^(hours|↓|parsed)\s", line) for line in bars), screen
        evaluations = re.compile(rf"\b\d+/20 evaluations\s+{CLOCK}\s*$")
        screen = _screen_until(experiment, evaluations)
        assert all(len(line) <= 80 for line in screen), screen
        said = re.compile(r"assignments of 20 users in 20 evaluations")
        done = _screen_until(experiment, said, joined=True)
        assert any("experiment" in line for line in done), done
    finally:
        for name in [*panes.values(), experiment]:
            subprocess.run([*_tmux(name), "kill-server"], check=False)
