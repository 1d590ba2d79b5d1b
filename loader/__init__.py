"""amplitude-loader: Amplitude's raw export, cohorts and taxonomy into Parquet and DuckDB."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("amplitude-loader")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
