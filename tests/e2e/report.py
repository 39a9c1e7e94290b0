"""The e2e's summary (printed at the end) and its results file, bench/results/e2e.json.

The file holds every check (with the phase that made it), every run, the parity and fault rows,
and per phase {"seconds", "expected_checks", "checks", "passed"} with their "total".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import phases
from .checklist import CHECKS
from .stack import RESULTS


def cell(value: Any, width: int) -> str:
    text = str(value)
    return f"{text if len(text) <= width else text[: width - 1] + '…':<{width}}"


def parity_table() -> list[str]:
    if not RESULTS["parity"]:
        return []
    lines = ["", "== parity (airflow vs dagster)", f"{cell('what', 34)} {cell('airflow', 44)} {cell('dagster', 44)} equal"]
    for p in RESULTS["parity"]:
        lines.append(f"{cell(p.get('what', ''), 34)} {cell(p.get('airflow', ''), 44)} "
                     f"{cell(p.get('dagster', ''), 44)} {'yes' if p.get('equal') else 'NO'}")
    return lines


def fault_table(rows: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """fault | orchestrator | outcome | retries | time to recover | data check | result."""
    rows = RESULTS["faults"] if rows is None else rows
    if not rows:
        return []
    lines = ["", "== faults", f"{cell('fault', 40)} {cell('orchestrator', 12)} {cell('outcome', 10)} "
             f"{cell('retries', 7)} {cell('recover_s', 9)} {cell('data check', 60)} result"]
    for r in rows:
        result = "PASS" if r["passed"] else ("FAIL" if r["passed"] is False else "n/a: " + r["detail"])
        lines.append(f"{cell(r['fault'], 40)} {cell(r['orchestrator'], 12)} {cell(r['outcome'], 10)} "
                     f"{cell(r['retries'], 7)} {cell(r['recover_s'], 9)} {cell(r['data_check'], 60)} {result}")
    return lines


def checks_table() -> list[str]:
    lines = ["", "== e2e checks", f"{'result':<6}  {'phase':<16}  check"]
    for c in CHECKS.items:
        lines.append(f"{'PASS' if c['passed'] else 'FAIL':<6}  {cell(c.get('phase', ''), 16)}  {c['name']}"
                     + (f"  ({c['detail']})" if c["detail"] else ""))
    return lines


def runs_table() -> list[str]:
    lines = ["", "== pipeline runs (wall time of the run, then of each step)",
             f"{'source':<12} {'orchestrator':<12} {'pipeline':<8} {'state':<10} {'wall_s':>8}  steps"]
    for r in RESULTS["runs"]:
        steps = ", ".join(f"{k}={v.get('duration_s') if v.get('duration_s') is not None else '-'}"
                          for k, v in (r.get("steps") or {}).items())
        lines.append(f"{r.get('source', ''):<12} {r.get('orchestrator', ''):<12} {r.get('pipeline', ''):<8} "
                     f"{r.get('state')!s:<10} {r.get('wall_s', 0) or 0:>8.1f}  {steps}")
    return lines


def failures_table(checks: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """Each failed check with its reason, printed last: a CI log's tail then says what failed."""
    failed = [c for c in (CHECKS.items if checks is None else checks) if not c["passed"]]
    if not failed:
        return []
    return ["", f"== failed checks ({len(failed)})",
            *(f"FAIL  {cell(c.get('phase', ''), 16)}  {c['name']}  -- {str(c.get('detail', ''))[:400]}" for c in failed)]


def summary(outcomes: Sequence[phases.Outcome], total_seconds: float) -> str:
    passed = sum(c["passed"] for c in CHECKS.items)
    lines = [*parity_table(), *fault_table(), *checks_table(), *runs_table(),
             phases.table(outcomes, total_seconds), *failures_table(), f"== {passed}/{len(CHECKS.items)} checks passed"]
    return "\n".join(lines)


def results(outcomes: Sequence[phases.Outcome], total_seconds: float) -> dict[str, Any]:
    return {"checks": CHECKS.items, "runs": RESULTS["runs"], "phases": phases.results(outcomes, total_seconds),
            "parity": RESULTS["parity"], "faults": RESULTS["faults"], "security": RESULTS["security"],
            "models": RESULTS["models"], "cache": RESULTS["cache"], "resume": RESULTS["resume"]}


def write(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
