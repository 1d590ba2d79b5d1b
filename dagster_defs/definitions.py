"""This repository's code location: the factory on the environment's settings."""

from dagster_defs.factory import amplitude_definitions

defs = amplitude_definitions()
