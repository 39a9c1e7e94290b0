"""Logging setup for the processes that run steps: the CLI and an orchestrator's step process.

Why explicit: `ml` logs through the standard `logging` module and never configures it at import.
Whoever runs a step decides, once, that the `ml` lines (progress, row counts, decisions) go to
stderr, which Airflow's task log and Dagster's compute logs both capture.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET = ("urllib3", "botocore", "git", "filelock", "httpx")


def configure(verbose: bool = False) -> None:
    """Root logging to stderr (CLI processes, which own their whole process)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT, stream=sys.stderr)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def attach_to_stderr() -> None:
    """Only the `ml` logger to stderr at INFO (inside a process someone else configures); idempotent."""
    logger = logging.getLogger("ml")
    if any(getattr(h, "_ml_stderr", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._ml_stderr = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
