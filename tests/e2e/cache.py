"""e2e phase "cache": the same training twice on each orchestrator, the step cache on (issue 24).

The rest of the e2e runs with `ML_CACHE=off` (its phases prove what runs compute: parity, load,
faults); here each run passes the run parameter `cache=on`, as a user's `make train` does by
default. Per orchestrator (both at once, each with a seed of its own so neither reuses the other's
entries): the first run computes load-training-data, train and evaluate (`cache: miss`), the second
reuses them (`cache: hit`, naming the first run) and answers with the same model version (register
finds the version that training run registered; nothing new is registered). Then the two
orchestrators' decisions are compared step by step: the rule is ml's, so they are the same.

    python3 -m tests.e2e.run --only cache     # against a running stack

11 checks: 4 runs, 3 per orchestrator, 1 comparing them. Rows under `cache` in e2e.json.
"""

from __future__ import annotations

from typing import Any

from . import stack

EXPECTED_CHECKS = 4 + 2 * 3 + 1
#: The steps the spec marks cacheable in the training pipeline (`python -m ml pipelines --json`).
CACHED = ("load-training-data", "train", "evaluate")
SEEDS = {"airflow": 101, "dagster": 102}


def decisions(outcome: dict[str, Any] | None) -> dict[str, Any]:
    """Step -> its cache decision and the run it came from, from a `make train` outcome."""
    results = (outcome or {}).get("results") or {}
    return {step: ((results.get(step) or {}).get("cache"), (results.get(step) or {}).get("cache_source_run"))
            for step in CACHED}


def row(orchestrator: str, what: str, passed: bool, detail: str) -> None:
    stack.add_rows("cache", [{"orchestrator": orchestrator, "what": what, "passed": bool(passed), "detail": detail}])
    stack.record(f"cache {orchestrator}: {what}", passed, detail)


def twice(orchestrator: str) -> list[dict[str, Any] | None]:
    """The same training twice, one after the other, with the cache on."""
    params = f"PARAMS=cache=on epochs=1 seed={SEEDS[orchestrator]}"
    first = stack.pipeline("train", orchestrator, params, source="cache")
    second = stack.pipeline("train", orchestrator, params, source="cache")
    runs = [first, second]
    first_id = (first or {}).get("run_id")
    one, two = decisions(first), decisions(second)
    row(orchestrator, "the first run computes every cacheable step",
        all(d == "miss" for d, _ in one.values()), str(one))
    row(orchestrator, "the second run reuses them, from the first run",
        bool(first_id) and all(d == "hit" and first_id in str(src) for d, src in two.values()),
        f"{two}; cached_steps {((second or {}).get('summary') or {}).get('cached_steps')}")
    versions = [((r or {}).get("summary") or {}).get("model_version") for r in runs]
    row(orchestrator, "the second run answers with the first run's model version, nothing new registered",
        versions[0] is not None and versions[0] == versions[1],
        f"versions {versions}; wall {[(r or {}).get('wall_s') for r in runs]} s")
    return runs


def run() -> None:
    both = stack.on_both(twice)
    shapes = {o: [[d for d, _ in decisions(r).values()] for r in runs] for o, runs in both.items()}
    row("both", "Airflow and Dagster make the same cache decisions", shapes["airflow"] == shapes["dagster"],
        str(shapes))
