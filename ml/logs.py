"""Logging setup for the processes that run steps: the CLI and an orchestrator's step process.

Why explicit: `ml` logs through the standard `logging` module and never configures it at import.
Whoever runs a step decides, once, that the `ml` lines (progress, row counts, decisions) go to
stderr, which Airflow's task log and Dagster's compute logs both capture.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET = ("urllib3", "botocore", "git", "filelock", "httpx")


class MaskSecrets(logging.Filter):
    """Cuts URL credentials and query strings (`ml.redact`) and masks the values of the environment's
    secrets (`ml.launch.env`: the one rule of what is secret) in every record a handler emits.

    Why on the handler: records of every library (MLflow, urllib3, transformers) reach the task log
    through it, and a filter on a logger would miss records propagated from its children.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        super().__init__()
        from ml.launch.env import secret_values

        self.values = secret_values(environ)

    def scrub(self, message: str) -> str:
        from ml import redact

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


def configure(verbose: bool = False) -> None:
    """Root logging to stderr (CLI processes, which own their whole process), secrets masked."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskSecrets) for f in handler.filters):
            handler.addFilter(MaskSecrets())
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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(MaskSecrets())
    handler._ml_stderr = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
