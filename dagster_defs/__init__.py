"""The Dagster code location; built in the Dagster issue on top of `loader`."""

__all__: list[str] = []
