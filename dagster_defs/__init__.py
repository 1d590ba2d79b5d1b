"""The Dagster code location: a thin layer that runs `loader` per partition."""
