"""What a finished run left behind, and the small helpers both orchestrator clients share."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Outcome:
    """A run's state, per-step timings, the steps' JSON results and the links to its UIs.

    `steps` and `results` are keyed by ml's step names (`python -m ml pipelines`); each entry of
    `steps` also names the orchestrator's task or asset (`task`).
    """

    orchestrator: str
    pipeline: str
    run_id: str
    state: str
    succeeded: bool
    wall_s: float
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed on the last stdout line (and read by `make e2e`)."""
        return {
            "orchestrator": self.orchestrator,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "state": self.state,
            "succeeded": self.succeeded,
            "wall_s": round(self.wall_s, 2),
            "steps": self.steps,
            "results": self.results,
            "error": self.error,
            "links": self.links,
        }


def by_step(pipeline: str, name: str) -> tuple[str, str | None]:
    """The spec's step name for an orchestrator's task, asset, check or op `name`, and that name.

    Results and step timings are keyed by ml's step names on both orchestrators, so `make train`
    prints and writes the same keys whichever ran it; a task that is no step (an approval task)
    keeps its own name.
    """
    from ml.pipelines.spec import pipeline as spec_of

    step = spec_of(pipeline).find(name)
    return (step.name, name) if step else (name, None)


def log(message: str) -> None:
    """Progress for people: stderr, flushed at once (the terminal shows it live).

    Runs watched from worker threads (the e2e load test) say whose line it is.
    """
    thread = threading.current_thread()
    prefix = "" if thread is threading.main_thread() else f"<{thread.name}> "
    print(f"{prefix}{message}", file=sys.stderr, flush=True)


def _epoch(value: str | float | None) -> float | None:
    """An ISO timestamp or epoch float as epoch seconds; None when missing."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value).timestamp()


def duration(start: str | float | None, end: str | float | None) -> float | None:
    """Seconds between two ISO timestamps or epoch floats; None when either is missing."""
    a, b = _epoch(start), _epoch(end)
    return round(b - a, 2) if a is not None and b is not None else None


def failure_reason(text: str) -> str | None:
    """The `error: ...` line the ml step printed (the step contract), if any."""
    for line in reversed(text.splitlines()):
        index = line.find("error: ")
        if index >= 0:
            return line[index:].strip()
    return None
