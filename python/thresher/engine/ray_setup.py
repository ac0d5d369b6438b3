"""Run in every Ray worker before it deserializes anything (``worker_process_setup_hook``)."""

from __future__ import annotations


def setup_worker() -> None:
    """Register thresher's Arrow extension types and quiet the worker's logs."""
    import logging
    import warnings

    import thresher.datatypes  # noqa: F401 - registers the extension types

    warnings.filterwarnings("ignore")
    logging.getLogger("ray").setLevel(logging.ERROR)
