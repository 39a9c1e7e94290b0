"""Error types and the exit codes that tell orchestrators whether a retry can help."""

from __future__ import annotations

EXIT_FAILURE = 1  # a bug or an unexpected fault: the default retry policy applies
EXIT_BAD_INPUT = 2  # retrying cannot help (same code argparse uses for usage errors)
EXIT_TRANSIENT = 75  # EX_TEMPFAIL from sysexits.h: worth retrying later


class MLError(Exception):
    """Base class of the errors this package raises on purpose."""

    exit_code = EXIT_FAILURE


class BadInputError(MLError):
    """The input (data, URI, configuration, registry state) is wrong: fix it, do not retry.

    The message is one line: what is wrong, where, and how to fix it.
    """

    exit_code = EXIT_BAD_INPUT


class TransientError(MLError):
    """A service (object store, MLflow) stayed unreachable after our own retries."""

    exit_code = EXIT_TRANSIENT


class DriftDetected(MLError):
    """The check-drift step found drift while `ML_DRIFT_BLOCKING` is on: the run must stop before publishing.

    Exit 2, like bad input, because running the step again on the same partition finds the same
    drift, so orchestrators fail the task at once without retries. A class of its own (not a
    `BadInputError`) because the input is readable and valid, and because it carries the step's
    whole verdict (`verdict`): the monitoring run is already logged when it is raised, and
    Dagster's asset check reports that verdict instead of an error.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, verdict: dict[str, object]) -> None:
        super().__init__(message)
        self.verdict = verdict
