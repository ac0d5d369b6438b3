"""Helpers for tests, demos and benchmarks (media generators live in :mod:`thresher.testing.media`)."""
