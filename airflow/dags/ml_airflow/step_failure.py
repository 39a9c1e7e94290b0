"""The step contract in Airflow terms: which exception a failed step raises.

The meaning of an exit code is the launch policy's (`ml.launch.exits`): bad input (exit 2) fails
the task at once (`AirflowFailException`, no retry); anything else raises `AirflowException`, so
the task's retries (`ml.launch.exits.STEP_RETRY`) apply. Shared by every launcher module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ml.launch.exits import error_reason, failure_message, parse_result, retryable


def step_failure(step: str, exit_code: int, lines: Iterable[str]) -> AirflowException:
    """The exception that carries the retry policy for a step's exit code."""
    message = failure_message(step, exit_code, error_reason(lines))
    return AirflowException(message) if retryable(exit_code) else AirflowFailException(message)


def step_result(step: str, stdout_lines: Sequence[str]) -> dict[str, Any]:
    """The step's JSON result (last stdout line); a step that exited 0 without one is a failure."""
    try:
        return parse_result(step, stdout_lines)
    except ValueError as exc:
        raise AirflowException(str(exc)) from None
