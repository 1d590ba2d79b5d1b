"""Amplitude Experiment: flag configurations and users' current variants, as snapshot tables."""
