"""The loader's command line in a child process that starts with its imports already done.

The crash tests run the loader about fifty times; each `python -m loader` spends most of a
second of CPU importing pyarrow, DuckDB and the loader before it does anything. Here children
are forked from a fork server that imported the command line once. They are real processes all
the same: they read their own environment, write the lake and the catalog, and SIGKILL (their
own, at a crash point, or the test's) ends them where they stand.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["loader.shell.cli"])


@dataclass
class Finished:
    """How a child ended, as `subprocess.run` tells it.

    Attributes:
        returncode: The exit status, or minus the signal that killed it.
        stdout: What it printed.
        stderr: What it printed on stderr.
    """

    returncode: int
    stdout: str
    stderr: str


class LoaderProcess:
    """One run of `amplitude-loader <args>` in a child process.

    Args:
        args: The command line after the program's name.
        env: The child's whole environment.
        folder: Where its stdout and stderr are kept.
        cwd: Its working folder (default: this process's).
    """

    def __init__(
        self, args: list[str], env: dict[str, str], folder: Path, cwd: Path | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout = folder / f"stdout-{os.getpid()}-{id(self)}"
        self.stderr = folder / f"stderr-{os.getpid()}-{id(self)}"
        self.process: BaseProcess = _CONTEXT.Process(
            target=_run, args=(args, env, str(self.stdout), str(self.stderr), cwd)
        )
        self.process.start()

    def wait(self, timeout: float) -> Finished:
        """Wait for the child to end.

        Raises:
            TimeoutError: If it is still running after `timeout` seconds (it is killed).
        """
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise TimeoutError(f"the loader ran for more than {timeout} s")
        finished = Finished(
            self.process.exitcode,
            self.stdout.read_text(errors="replace"),
            self.stderr.read_text(errors="replace"),
        )
        self.stdout.unlink()
        self.stderr.unlink()
        return finished

    def kill(self) -> None:
        """SIGKILL the child."""
        self.process.kill()


def run_loader(
    args: list[str],
    env: dict[str, str],
    folder: Path,
    *,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Finished:
    """Run `amplitude-loader <args>` in a child process to its end."""
    return LoaderProcess(args, env, folder, cwd).wait(timeout)


def _run(args: list[str], env: dict[str, str], stdout: str, stderr: str, cwd: Path | None) -> None:
    """The child: its own environment, folder and output files, then the command line."""
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    from loader.shell.cli import main

    code = 0
    try:
        main(args, prog_name="amplitude-loader")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
