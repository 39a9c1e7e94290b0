"""e2e phase "cache": the same training three times, Airflow, Dagster, Airflow, then on a changed file (issue 24).

The rest of the e2e runs with `ML_CACHE=off` (its phases prove what runs compute: parity, load,
faults); here each run passes the run parameter `cache=on`, as a user's `make train` does by
default, on a dataset of its own (`DATASET`, seeded here). The key is the call's, not the
orchestrator's, so the order proves both claims at once: the first (Airflow) computes every
cacheable step (`cache: miss`); the second (Dagster) reuses them all from the first (`cache: hit`,
naming the runs that computed them), so the two orchestrators make the same decision for the same
call; the third (Airflow) reuses them too; all three answer with one model version (register finds
the version that the reused training run registered). Then the same file is written again with
other rows, and the same call (Dagster) computes every cacheable step again. Each run's wall time
is in the rows' detail (a measurement, not a check: the machine's load decides it).

    python3 -m tests.e2e.run --only cache     # against a running stack

11 checks: 2 seedings, 4 runs, 5 here. Rows under `cache` in e2e.json.
"""

from __future__ import annotations

import time
from typing import Any

from . import stack

EXPECTED_CHECKS = 2 + 4 + 5
#: This phase's own training file: the other phases train beside it on the default one.
DATASET = "s3://datasets/e2e-cache/train.csv"
PARAMS = f"PARAMS=cache=on epochs=1 seed=101 dataset_uri={DATASET}"


def cacheable_training_steps() -> list[str]:
    """The training steps the spec marks cacheable (`python -m ml pipelines --json`)."""
    return [s["step"] for s in stack.spec()["pipelines"]["training"]["steps"] if s["cacheable"]]


def decisions(outcome: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """Step -> (its cache decision, the run its outputs came from), from a `make train` outcome."""
    results = (outcome or {}).get("results") or {}
    return {step: ((results.get(step) or {}).get("cache"), (results.get(step) or {}).get("cache_source_run"))
            for step in cacheable_training_steps()}


def row(what: str, passed: bool, detail: str) -> None:
    stack.add_rows("cache", [{"what": what, "passed": bool(passed), "detail": detail}])
    stack.record(f"cache: {what}", passed, detail)


def origins(outcome: dict[str, Any] | None) -> dict[str, str]:
    """Step -> the run that computed its outputs: the run itself on a miss, the entry's run on a hit."""
    run_id = str((outcome or {}).get("run_id") or "")
    return {step: str(source) if decision == "hit" else run_id for step, (decision, source) in decisions(outcome).items()}


def seed(rows: int, data_seed: int) -> bool:
    """Write the labelled demo dataset of `data_seed` at DATASET (the same URI each time)."""
    proc = stack.seed_inputs([DATASET], rows, data_seed, labelled=True)
    return stack.record(f"cache: {DATASET} written ({rows} rows, data seed {data_seed})", proc.returncode == 0,
                        f"exit {proc.returncode}")


def run() -> None:
    data_seed = int(time.time()) % 1_000_000  # new rows each e2e: an earlier run's entries never match
    seed(2000, data_seed)
    runs = [stack.pipeline("train", orchestrator, PARAMS, source="cache")
            for orchestrator in ("airflow", "dagster", "airflow")]
    first, second, third = (decisions(r) for r in runs)
    wall = [(r or {}).get("wall_s") for r in runs]
    row("airflow, first: every cacheable step is computed", all(d == "miss" for d, _ in first.values()), str(first))
    want = origins(runs[0])
    for label, got in (("dagster, second: every cacheable step reused from the first run (the same call, the same "
                        "decision on the other orchestrator)", second),
                       ("airflow, third: every cacheable step reused from the same run", third)):
        row(label, all(d == "hit" and str(src) == want[step] for step, (d, src) in got.items()) and all(want.values()),
            f"{got}; expected sources {want}")
    versions = [((r or {}).get("summary") or {}).get("model_version") for r in runs]
    row("one model version for the three runs, nothing new registered by the reusing ones",
        versions[0] is not None and len(set(versions)) == 1, f"versions {versions}; wall {wall} s")
    seed(2000, data_seed + 1)
    changed = stack.pipeline("train", "dagster", PARAMS, source="cache")
    fourth = decisions(changed)
    row("dagster, the same call on the changed file: every cacheable step computed again",
        all(d == "miss" for d, _ in fourth.values()), f"{fourth}; wall {(changed or {}).get('wall_s')} s")
