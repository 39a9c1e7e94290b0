"""The e2e's phases: what each declares, which may run at the same time, and each one's verdict.

A phase is one declaration (`Phase`, in run.py's list): its name, the function that runs it, how
many checks it makes when it runs to the end, and its kind. A phase that made fewer checks than it
declared (or more: the declaration is out of date) fails, even when every check it made passed,
so no phase can pass by checking nothing.

Kinds say what a phase does to the shared stack, and so what it may run beside:

  ALONE   restarts or kills services, pins the champion, or reads "the newest run": nothing beside it;
  TRAINS  registers model versions (the champion may move): beside TRAINS and FREE phases;
  STEADY  needs the champion unmoved while it runs (compares the versions runs used, labels with
          the champion): beside STEADY and FREE phases;
  FREE    touches only its own runs and objects: beside anything but an ALONE phase.

Phases start in the order declared; each waits until no running phase is one it may not run
beside. A phase marked `essential` (make up) stops the phases after it when it fails. Standard
library only: the driver runs on the host, and tests/test_e2e_phases.py runs this with fake phases.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .checklist import PHASE, CheckList, one_line, say

ALONE, TRAINS, STEADY, FREE = "alone", "trains", "steady", "free"
KINDS = (ALONE, TRAINS, STEADY, FREE)


def compatible(a: str, b: str) -> bool:
    """Whether phases of kinds `a` and `b` may run at the same time."""
    if ALONE in (a, b):
        return False
    return {a, b} != {TRAINS, STEADY}


@dataclass(frozen=True)
class Phase:
    """One phase of the e2e: a single declaration in run.py's list."""

    name: str
    run: Callable[[], Any]
    checks: int  # how many checks it makes when it runs to the end
    kind: str = ALONE
    essential: bool = False  # when it fails, the phases after it do not run

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"phase {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if self.checks < 1:
            raise ValueError(f"phase {self.name!r} declares {self.checks} checks: a phase must check something")


@dataclass
class Outcome:
    """What one phase did: its wall time and its checks against its declaration."""

    name: str
    expected_checks: int
    seconds: float = 0.0
    checks: int = 0
    passed: int = 0
    note: str = ""  # why it did not run, or how it crashed

    @property
    def ok(self) -> bool:
        return self.checks == self.expected_checks and self.passed == self.checks and not self.note

    def verdict(self) -> str:
        if self.note:
            return f"FAIL ({self.note})"
        if self.checks != self.expected_checks:
            return f"FAIL ({self.checks} checks made, {self.expected_checks} declared)"
        return "PASS" if self.passed == self.checks else f"FAIL ({self.checks - self.passed} failed)"

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"seconds": round(self.seconds, 1), "expected_checks": self.expected_checks,
                               "checks": self.checks, "passed": self.passed}
        return {**row, "note": self.note} if self.note else row


def _run_one(phase: Phase, checks: CheckList, outcome: Outcome) -> None:
    """Run `phase` in this thread with its checks attributed to it; fill in `outcome`."""
    PHASE.set(phase.name)
    started = time.monotonic()
    try:
        phase.run()
    except Exception as exc:  # a crashed phase is a failed phase with its reason, and the others go on
        outcome.note = f"crashed: {one_line(exc)}"
        checks.check(f"phase {phase.name} ran to the end", False, one_line(exc))
    finally:
        outcome.seconds = time.monotonic() - started
        made = checks.of_phase(phase.name)
        outcome.checks, outcome.passed = len(made), sum(1 for c in made if c["passed"])
        say(f"== phase {phase.name}: {outcome.seconds:.1f} s, {outcome.checks} checks of "
            f"{outcome.expected_checks} declared, {outcome.passed} passed: {outcome.verdict()}")


def run_phases(phases: Sequence[Phase], checks: CheckList) -> list[Outcome]:
    """Run `phases` (in declaration order, concurrently where their kinds allow); their outcomes, in order."""
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique: {names}")
    outcomes = {p.name: Outcome(p.name, p.checks) for p in phases}
    running: dict[str, tuple[Phase, threading.Thread]] = {}
    changed = threading.Condition()
    stopped_by = ""

    def finished(phase: Phase) -> Callable[[], None]:
        def target() -> None:
            try:
                _run_one(phase, checks, outcomes[phase.name])
            finally:
                with changed:
                    running.pop(phase.name, None)
                    changed.notify_all()
        return target

    for phase in phases:
        with changed:
            if not stopped_by:
                changed.wait_for(lambda p=phase: all(compatible(p.kind, other.kind) for other, _ in running.values()))
            if stopped_by:
                outcomes[phase.name].note = f"not run: {stopped_by} failed"
                say(f"== phase {phase.name}: not run ({stopped_by} failed)")
                continue
            beside = sorted(running)
            say(f"== phase {phase.name}: starts" + (f" (beside {', '.join(beside)})" if beside else ""))
            thread = threading.Thread(target=finished(phase), name=f"phase-{phase.name}", daemon=True)
            running[phase.name] = (phase, thread)
            thread.start()
        if phase.essential:
            thread.join()
            if not outcomes[phase.name].ok:
                stopped_by = phase.name
    with changed:
        changed.wait_for(lambda: not running)
    return [outcomes[name] for name in names]


def results(outcomes: Sequence[Outcome], total_seconds: float) -> dict[str, dict[str, Any]]:
    """`"phases"` of bench/results/e2e.json: each phase's figures, and their total."""
    table = {o.name: o.as_dict() for o in outcomes}
    table["total"] = {"seconds": round(total_seconds, 1),
                      "expected_checks": sum(o.expected_checks for o in outcomes),
                      "checks": sum(o.checks for o in outcomes), "passed": sum(o.passed for o in outcomes)}
    return table


def table(outcomes: Sequence[Outcome], total_seconds: float) -> str:
    """The phase table of the summary: time, declared/made/passed checks, verdict."""
    width = max([len(o.name) for o in outcomes] + [5])
    lines = ["", "== phases", f"{'phase':<{width}} {'seconds':>8} {'declared':>8} {'made':>5} {'passed':>6}  verdict"]
    for o in outcomes:
        lines.append(f"{o.name:<{width}} {o.seconds:>8.1f} {o.expected_checks:>8} {o.checks:>5} {o.passed:>6}  {o.verdict()}")
    total = results(outcomes, total_seconds)["total"]
    lines.append(f"{'total':<{width}} {total['seconds']:>8.1f} {total['expected_checks']:>8} {total['checks']:>5} "
                 f"{total['passed']:>6}  {'PASS' if all(o.ok for o in outcomes) else 'FAIL'}")
    return "\n".join(lines)


def verdict(outcomes: Sequence[Outcome], checks: CheckList) -> bool:
    """The e2e passes when every phase made its declared checks, all passed, and nothing else failed."""
    return bool(outcomes) and all(o.ok for o in outcomes) and checks.all_passed()
