"""The step contract as launchers see it: exit codes, the result line, and the retry numbers.

A step (`python -m ml <step>`) prints its JSON result on the last stdout line and, on failure,
one `error: ...` line, then exits 2 (bad input: retrying cannot help), 75 (a service stayed
unreachable) or 1 (anything else). Both orchestrators retry every failure except exit 2 with the
same `STEP_RETRY` numbers (`ml.core.retry`, the one retry policy).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ml.core.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT


def retryable(exit_code: int) -> bool:
    """False for bad input (exit 2): the same input fails the same way again."""
    return exit_code != EXIT_BAD_INPUT


def failure_message(step: str, exit_code: int, reason: str) -> str:
    """The one line a launcher reports for a failed step, saying whether it will be retried."""
    if exit_code == EXIT_BAD_INPUT:
        return f"ml {step} rejected its input (exit 2, not retried): {reason}"
    kind = "a service stayed unreachable" if exit_code == EXIT_TRANSIENT else "failed"
    return f"ml {step} {kind} (exit {exit_code}, retried): {reason}"


def error_reason(lines: Iterable[str]) -> str:
    """The step's one-line `error: ...` message, else its last non-empty output line."""
    stripped = [str(line).strip() for line in lines if str(line).strip()]
    for line in reversed(stripped):
        if line.startswith("error:"):
            return line
    return stripped[-1] if stripped else "(the step printed nothing)"


def parse_result(step: str, stdout_lines: Sequence[str]) -> dict[str, Any]:
    """The JSON object on the step's last non-empty stdout line; ValueError when there is none."""
    lines = [line.strip() for line in stdout_lines if line.strip()]
    last = lines[-1] if lines else ""
    try:
        result = json.loads(last)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        raise ValueError(f"ml {step} exited 0 but its last stdout line is not a JSON object: {last[:200]!r}")
    return result


def drop_empty_options(argv: Sequence[str]) -> list[str]:
    """Drop `--option ''` pairs from a rendered argv: an option nobody set is not passed at all."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        item = str(argv[i])
        if item.startswith("--") and i + 1 < len(argv) and str(argv[i + 1]).strip() == "":
            i += 2
            continue
        out.append(item)
        i += 1
    return out


def step_argv(step: str, run_id: str, orchestrator: str, options: dict[str, str]) -> list[str]:
    """`python -m ml <step> --run-id R --orchestrator O --option value ...` (the one command line)."""
    argv = ["python", "-m", "ml", step, "--run-id", run_id, "--orchestrator", orchestrator]
    for option, value in options.items():
        argv += [f"--{option.lstrip('-').replace('_', '-')}", value]
    return argv
