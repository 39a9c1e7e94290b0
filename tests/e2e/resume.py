"""e2e phase "resume": a training that failed after its train step goes on with `make resume` (issue 24).

Both orchestrators train at once (`make train`, one epoch, cache off). Once both have started
evaluate, MLflow is stopped from outside (`docker compose stop mlflow`) and stays down until the
step's call retries and its task retries run out, so each run fails in evaluate (or, where evaluate
was quicker than the stop, in the next step that needs MLflow). MLflow is started again and
`make resume ORCHESTRATOR=... RUN=<the failed run>` is run on both at once. Per orchestrator:

- the training failed, after its train step succeeded;
- the resumed run succeeds and registers a version;
- train was not run again (Airflow: the same DAG run, train still on its first try; Dagster: the
  re-execution from failure ran no train step, its output is the parent run's);
- the failed step ran again and succeeded.

2 + 4 x 2 checks; rows under `resume` in e2e.json. ALONE: stopping MLflow would fail any other run.

    python3 -m tests.e2e.run --only resume     # against a running stack
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import stack
from .chaos import wait_for_step
from .checklist import in_phase, last_json

EXPECTED_CHECKS = 2 + 4 * len(stack.ORCHESTRATORS)
PARAMS = "PARAMS=epochs=1 cache=off"
#: The step MLflow's stop catches the runs in: the first after `train` (the spec's order).
FAILING_STEP = "evaluate"
#: A failed evaluate ends after its call retries and both task retries (ml.core.retry): minutes, not hours.
RUN_TIMEOUT_S = 1800


def make_outcome(target: str, *variables: str) -> tuple[int, dict[str, Any] | None]:
    """`make <target> ...` and the run outcome it printed (a failed run is expected here: no check)."""
    proc = stack.make(target, *variables, timeout=RUN_TIMEOUT_S)
    return proc.returncode, last_json(proc.stdout or "")


def row(orchestrator: str, what: str, passed: bool, detail: str) -> None:
    stack.add_rows("resume", [{"orchestrator": orchestrator, "what": what, "passed": bool(passed), "detail": detail}])
    stack.record(f"resume {orchestrator}: {what}", passed, detail)


def failed_step(outcome: dict[str, Any]) -> str | None:
    """The step of a failed outcome that failed itself (not one skipped after it)."""
    return next((step for step, info in (outcome.get("steps") or {}).items()
                 if str(info.get("state", "")).lower() in ("failed", "failure")), None)


def comes_after(step: str | None, earlier: str) -> bool:
    """Whether spec step `step` runs after `earlier`, directly or through the steps between."""
    after = stack.spec_step(step)["after"] if step else []
    return earlier in after or any(comes_after(s, earlier) for s in after)


def fail_after_train() -> dict[str, dict[str, Any] | None]:
    """Both trainings started together; MLflow stopped once both reach evaluate, until both have failed."""
    with ThreadPoolExecutor(max_workers=len(stack.ORCHESTRATORS), thread_name_prefix="resume") as pool:
        runs = {o: pool.submit(in_phase(make_outcome), "train", f"ORCHESTRATOR={o}", PARAMS) for o in stack.ORCHESTRATORS}
        reached = {o: wait_for_step(o, FAILING_STEP, timeout=900) for o in stack.ORCHESTRATORS}
        try:
            stack.sh([*stack.compose_cmd(), "stop", "mlflow"], check=False, timeout=120)
            stack.record("resume: MLflow stopped once both trainings were in evaluate", all(reached.values()),
                         f"evaluate containers {reached}")
            outcomes = {o: future.result()[1] for o, future in runs.items()}
        finally:
            up = stack.sh([*stack.compose_cmd(), "start", "mlflow"], check=False, timeout=300)
            healthy = up.returncode == 0 and stack.wait_healthy(300)
            stack.record("resume: MLflow started again and healthy", healthy, f"compose start exit {up.returncode}")
    return outcomes


def check_resumed(orchestrator: str, failed: dict[str, Any] | None) -> None:
    """`make resume` of the failed run, and its four checks."""
    failed = failed or {}
    step = failed_step(failed)
    train_before = (failed.get("steps") or {}).get("train") or {}
    row(orchestrator, "the training failed after its train step",
        not failed.get("succeeded", True) and str(train_before.get("state", "")).lower() == "success"
        and comes_after(step, "train"), f"run {failed.get('run_id')}: failed in {step}; train {train_before}")
    if not failed.get("run_id"):
        for what in ("make resume succeeds and registers a version", "train was not run again",
                     "the failed step ran again and succeeded"):
            row(orchestrator, what, False, "no failed run to resume")
        return
    started = time.monotonic()
    code, resumed = make_outcome("resume", f"ORCHESTRATOR={orchestrator}", f"RUN={failed['run_id']}")
    resumed = resumed or {}
    steps = resumed.get("steps") or {}
    version = (resumed.get("summary") or {}).get("model_version")
    stack.add_rows("runs", [{**resumed, "source": "resume"}] if resumed else [])
    row(orchestrator, "make resume succeeds and registers a version",
        code == 0 and bool(resumed.get("succeeded")) and version is not None,
        f"exit {code}, run {resumed.get('run_id')}, v{version}, {time.monotonic() - started:.0f}s")
    train = steps.get("train") or {}
    if orchestrator == "airflow":  # the same DAG run: train kept its first try
        kept = resumed.get("run_id") == failed["run_id"] and train.get("try_number") == train_before.get("try_number") == 1
    else:  # a new run from the failure: train not executed, its result the parent's
        kept = train.get("state") == "done before" and train.get("run") == failed["run_id"]
    row(orchestrator, "train was not run again", kept and str(train.get("state", "")).lower() in ("success", "done before"),
        f"train before {train_before}, after {train}")
    again = steps.get(step or "") or {}
    before = (failed.get("steps") or {}).get(step or "") or {}
    ran = str(again.get("state", "")).lower() == "success" and (
        orchestrator == "dagster" or (again.get("try_number") or 0) > (before.get("try_number") or 0))
    row(orchestrator, "the failed step ran again and succeeded", ran, f"{step}: before {before}, after {again}")


def run() -> None:
    outcomes = fail_after_train()
    stack.on_both(lambda o: check_resumed(o, outcomes.get(o)))
