"""e2e phase "cache": the same training three times, Airflow, Dagster, Airflow, with the step cache on (issue 24).

The rest of the e2e runs with `ML_CACHE=off` (its phases prove what runs compute: parity, load,
faults); here each run passes the run parameter `cache=on`, as a user's `make train` does by
default. The key is the call's, not the orchestrator's, so the order proves both claims at once:
the first (Airflow) computes train and evaluate (`cache: miss`; its data split may already be an
entry of an earlier identical call); the second (Dagster) reuses every cacheable step from the
first (`cache: hit`, naming the runs that computed them), so the two orchestrators make the same
decision for the same call; the third (Airflow) reuses them too; all three answer with one model
version (register finds the version that the reused training run registered).

    python3 -m tests.e2e.run --only cache     # against a running stack

7 checks: 3 runs, 4 here. Rows under `cache` in e2e.json (each run's wall time in its detail).
"""

from __future__ import annotations

from typing import Any

from . import stack

EXPECTED_CHECKS = 3 + 4
#: The steps the spec marks cacheable in the training pipeline (`python -m ml pipelines --json`).
CACHED = ("load-training-data", "train", "evaluate")
PARAMS = "PARAMS=cache=on epochs=1 seed=101"


def decisions(outcome: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """Step -> (its cache decision, the run its outputs came from), from a `make train` outcome."""
    results = (outcome or {}).get("results") or {}
    return {step: ((results.get(step) or {}).get("cache"), (results.get(step) or {}).get("cache_source_run"))
            for step in CACHED}


def row(what: str, passed: bool, detail: str) -> None:
    stack.add_rows("cache", [{"what": what, "passed": bool(passed), "detail": detail}])
    stack.record(f"cache: {what}", passed, detail)


def origins(outcome: dict[str, Any] | None) -> dict[str, str]:
    """Step -> the run that computed its outputs: the run itself on a miss, the entry's run on a hit."""
    run_id = str((outcome or {}).get("run_id") or "")
    return {step: str(source) if decision == "hit" else run_id for step, (decision, source) in decisions(outcome).items()}


def run() -> None:
    runs = [stack.pipeline("train", orchestrator, PARAMS, source="cache")
            for orchestrator in ("airflow", "dagster", "airflow")]
    first, second, third = (decisions(r) for r in runs)
    wall = [(r or {}).get("wall_s") for r in runs]
    row("airflow, first: train and evaluate are computed", first["train"][0] == "miss" and first["evaluate"][0] == "miss",
        str(first))
    want = origins(runs[0])
    for label, got in (("dagster, second: every cacheable step reused from the first run's (the same call, the same "
                        "decision on the other orchestrator)", second),
                       ("airflow, third: every cacheable step reused from the same runs", third)):
        row(label, all(d == "hit" and str(src) == want[step] for step, (d, src) in got.items()) and all(want.values()),
            f"{got}; expected sources {want}")
    versions = [((r or {}).get("summary") or {}).get("model_version") for r in runs]
    row("one model version for the three runs, nothing new registered by the reusing ones",
        versions[0] is not None and len(set(versions)) == 1, f"versions {versions}; wall {wall} s")
