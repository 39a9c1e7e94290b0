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


class MaskSecrets(logging.Filter):
    """Cuts URL credentials and query strings (`ml.redact`) and masks the values of the environment's
    secrets (`ml.launch.env`: the one rule of what is secret) in every record a handler emits.

    Why on the handler: records of every library (MLflow, urllib3, transformers) reach the task log
    through it, and a filter on a logger would miss records propagated from its children.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__()
        from ml.core.secrets import secret_values

        self.values = secret_values(environ)

    def scrub(self, message: str) -> str:
        from ml.core import redact

        for value in self.values:
            message = message.replace(value, "***")
        return redact.text(message)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = self.scrub(message)
        exc_text = self.scrub(record.exc_text) if record.exc_text else record.exc_text
        if clean != message or exc_text != record.exc_text:
            record.msg, record.args, record.exc_text = clean, None, exc_text
        return True


def line_format() -> str:
    """The record format: without a time of its own when Airflow's task log (which stamps each line) captures it.

    Read from the environment (the launchers set ML_ORCHESTRATOR), not the settings: logging is
    configured before the settings are validated. Dagster's compute logs keep raw lines, so they
    keep ml's time.
    """
    return FORMAT_UNDER_AIRFLOW if os.environ.get("ML_ORCHESTRATOR") == "airflow" else FORMAT


def _handler() -> logging.Handler:
    """stderr, ml's format, no control bytes (SafeFormatter), no secret (MaskSecrets)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(line_format()))
    handler.addFilter(MaskSecrets())
    return handler


def configure(verbose: bool = False) -> None:
    """Root logging to stderr (CLI processes, which own their whole process); no control byte or secret reaches it."""
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
