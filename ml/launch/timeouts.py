"""How long a step may run before its orchestrator stops it: one table for both orchestrators.

The default limits are the pipeline spec's (`ml/pipelines/spec.py`, each step's `limit_s`).

Why here: a hung step (a stuck data read, a frozen container) must end in bounded time on
Airflow and Dagster alike, with the same numbers. Each limit is per try of a step.

- Airflow gives every step task `execution_timeout` = the step's limit; when it fires, the task
  removes its container (`on_kill`) and the try is retried like any other failure.
- Dagster runs a Docker run's steps inside the one run container, so nothing outside it can
  stop a single step: the run carries `dagster/max_runtime` = `run_limit_s(pipeline)` (every
  step's limit times its tries plus the retry waits: the longest an Airflow run of the same
  pipeline can take), and the daemon's run monitoring terminates the run and its container.

Override per step with `ML_STEP_TIMEOUTS` (`train=12h,predict=30m`; units s, m, h) in the
environment of the services that launch steps (the Airflow scheduler and DAG processor, the
Dagster code location); a Dagster run may also carry its own `dagster/max_runtime` tag.
"""

from __future__ import annotations

import re

from ml.core.errors import BadInputError
from ml.core.retry import STEP_RETRY, RetryNumbers
from ml.pipelines.spec import HOUR, MINUTE, all_steps, pipeline


def default_limits() -> dict[str, int]:
    """The limit of one try of each step (`python -m ml <step>`), in seconds: the spec's."""
    return {step.name: step.limit_s for step in all_steps()}


_UNITS = {"s": 1, "m": MINUTE, "h": HOUR}
_ITEM = re.compile(r"^\s*([a-z-]+)\s*=\s*(\d+)\s*([smh]?)\s*$")


def parse_overrides(text: str) -> dict[str, int]:
    """`train=12h,predict=30m` -> seconds per step; a bad item is a bad input (one line)."""
    overrides: dict[str, int] = {}
    for item in (part for part in (text or "").split(",") if part.strip()):
        match = _ITEM.match(item)
        if not match or match.group(1) not in default_limits() or int(match.group(2)) <= 0:
            raise BadInputError(
                f"invalid ML_STEP_TIMEOUTS item {item.strip()!r}: use step=N[s|m|h] with N > 0, comma-separated; "
                f"steps: {', '.join(default_limits())}")
        overrides[match.group(1)] = int(match.group(2)) * _UNITS[match.group(3) or "s"]
    return overrides


def step_limits(overrides: str = "") -> dict[str, int]:
    """Every step's limit in seconds: the defaults with `ML_STEP_TIMEOUTS` applied."""
    return {**default_limits(), **parse_overrides(overrides)}


def step_limit_s(step: str, overrides: str = "") -> int:
    """One try of `step` (KeyError for a step the table does not know: a bug, not an input)."""
    return step_limits(overrides)[step]


def run_limit_s(name: str, overrides: str = "", retry: RetryNumbers = STEP_RETRY) -> int:
    """The longest a run of pipeline `name` may take: each step's tries at their limit plus the waits."""
    limits = step_limits(overrides)
    per_step_waits = sum(retry.delays())
    return int(sum(limits[s.name] * (retry.retries + 1) + per_step_waits for s in pipeline(name).steps))
