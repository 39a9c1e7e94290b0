"""The one retry policy: how often and how long anything in this project tries again.

Two levels, both here so that one file answers "what is retried, how often, how long":

- **Calls** inside a process (the object store, MLflow, an http(s) dataset, the Hugging Face Hub,
  the orchestrators' APIs): `retrying(...)` / `call(...)` retry only faults the caller marks as
  transient, with exponential backoff (1 s, doubling, at most `MAX_WAIT_S` between tries), at
  most `attempts` tries and never past `deadline_s`. Bad input is never retried. After the last
  try the caller turns the fault into a `TransientError` (exit 75), so the step is retried.
- **Steps** (`STEP_RETRY`): every Airflow step task and Dagster step asset retries a failed step
  (any exit but 2) with the same numbers.

A call that creates something (an MLflow run, a model version, an orchestrator run) must be
retried only with a way to find what an earlier try created: the callers do that, not this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tenacity import Retrying

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The first wait between two tries of a call; it doubles up to MAX_WAIT_S.
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 10.0
#: No call is retried past this many seconds after its first try, whatever `attempts` says.
DEFAULT_DEADLINE_S = 120.0


@dataclass(frozen=True)
class RetryNumbers:
    """How often and how long to wait before a failed step runs again (exponential backoff)."""

    retries: int
    delay_s: float
    backoff: float
    max_delay_s: float

    def delays(self) -> list[float]:
        """The wait before each retry, in seconds: delay, delay*backoff, ... capped at max_delay."""
        return [min(self.delay_s * self.backoff**n, self.max_delay_s) for n in range(self.retries)]


#: Every step task (Airflow) and step asset (Dagster): 2 retries after 30 s, then 60 s.
STEP_RETRY = RetryNumbers(retries=2, delay_s=30.0, backoff=2.0, max_delay_s=600.0)


def retrying(what: str, is_transient: Callable[[BaseException], bool], attempts: int,
             deadline_s: float = DEFAULT_DEADLINE_S, first_wait_s: float = FIRST_WAIT_S) -> Retrying:
    """A tenacity policy for one call: transient faults retried with backoff, the last one re-raised.

    Each retry is logged once at WARNING with `what` and the fault, so a blip is visible in the
    step's log without a traceback.
    """
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

    def before_sleep(state: object) -> None:
        outcome = getattr(state, "outcome", None)
        fault = outcome.exception() if outcome is not None else None
        log.warning("%s failed (%s); retrying (attempt %d of %d)", what, _first_line(fault),
                    getattr(state, "attempt_number", 0), attempts)

    return Retrying(
        stop=stop_after_attempt(max(1, attempts)) | stop_after_delay(deadline_s),
        wait=wait_exponential(multiplier=first_wait_s, max=MAX_WAIT_S),
        retry=retry_if_exception(is_transient),
        reraise=True,
        before_sleep=before_sleep,
    )


def call(what: str, fn: Callable[[], T], is_transient: Callable[[BaseException], bool], attempts: int,
         deadline_s: float = DEFAULT_DEADLINE_S) -> T:
    """`fn()` under `retrying(...)`: its value, or the last fault (transient or not) re-raised."""
    for attempt in retrying(what, is_transient, attempts, deadline_s):
        with attempt:
            return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__
