"""An Amplitude-compatible local server with deterministic synthetic projects and fault switches.

Users test their own pipelines offline with it; this project's demo, tests and benchmark run
against it over real HTTP on loopback.
"""

from loader.emulator.generator import SyntheticProject
from loader.emulator.server import EmulatorServer

__all__ = ["EmulatorServer", "SyntheticProject"]
