"""Logging setup for the processes that run steps: the CLI and an orchestrator's step process.

Why explicit: `ml` logs through the standard `logging` module and never configures it at import.
Whoever runs a step decides, once, that the `ml` lines (progress, row counts, decisions) go to
stderr, which Airflow's task log and Dagster's compute logs both capture.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from ml.core.terminal import SafeFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Under Airflow every captured line gets the task log's own timestamp: a second one is noise.
FORMAT_UNDER_AIRFLOW = "%(levelname)s %(name)s: %(message)s"
_QUIET = ("urllib3", "botocore", "git", "filelock", "httpx")


def line_format() -> str:
    """The record format: without a time of its own when Airflow's task log (which stamps each line) captures it.

    Read from the environment (the launchers set ML_ORCHESTRATOR), not the settings: logging is
    configured before the settings are validated. Dagster's compute logs keep raw lines, so they
    keep ml's time.
    """
    return FORMAT_UNDER_AIRFLOW if os.environ.get("ML_ORCHESTRATOR") == "airflow" else FORMAT


def _handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(line_format()))
    return handler


def configure(verbose: bool = False) -> None:
    """Root logging to stderr (CLI processes, which own their whole process); no control bytes reach it."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[_handler()])
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    _route_hub_logs_through_root()


def _route_hub_logs_through_root() -> None:
    """Drop the stderr handler huggingface_hub adds to its logger at import.

    Why: its logger also propagates to the root handler, so each Hub warning was printed twice.
    """
    import huggingface_hub.utils.logging  # noqa: F401  (adds the handler; importing first makes removal stick)

    hub = logging.getLogger("huggingface_hub")
    for handler in list(hub.handlers):
        if type(handler) is logging.StreamHandler:
            hub.removeHandler(handler)


class _DropMessages(logging.Filter):
    """Drops records whose message contains one of `fragments`."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


@contextlib.contextmanager
def dropped(logger_name: str, *fragments: str) -> Iterator[None]:
    """Within the block, records of `logger_name` containing a fragment are not emitted (a known, handled notice)."""
    logger = logging.getLogger(logger_name)
    drop = _DropMessages(fragments)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def attach_to_stderr() -> None:
    """Only the `ml` logger to stderr at INFO (inside a process someone else configures); idempotent."""
    logger = logging.getLogger("ml")
    if any(getattr(h, "_ml_stderr", False) for h in logger.handlers):
        return
    handler = _handler()
    handler._ml_stderr = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
