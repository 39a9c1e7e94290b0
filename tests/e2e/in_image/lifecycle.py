"""The model lifecycle and approval mode, checked inside the ml image (`stack.in_ml_image("lifecycle", ...)`).

    python -m tests.e2e.in_image.lifecycle other-task --orchestrator dagster   # another label set, same name
    python -m tests.e2e.in_image.lifecycle verify --version 3 --reason "..."  # after make rollback
    python -m tests.e2e.in_image.lifecycle approval      # the stack restarted with ML_PROMOTION_MODE=approval

Each prints {"checks": [...], "runs": [...], "lifecycle": {...}} as its last stdout line.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import ml_trigger as trigger  # mounted from the checkout by the driver (not in the ml image)
from ml.pipelines.spec import pipeline as spec

from ..checklist import check, emit, guarded
from .common import airflow, dagster, mlflow_client, model_name, wait_for
from .verify import run_one

# --- model lifecycle: another task under the same name, rollback, history ----------------------


def cmd_other_task(orchestrator: str, timeout: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train on the demo data relabelled 1/3/5 (another label set) under the same name: refused before
    it trains, naming both ways out (a model of its own, --new-task); nothing registered.

    Returns the run and the version to roll back to: the oldest READY version of the champion's task
    that is not the champion.
    """
    from ml.core import storage

    client, name = mlflow_client(), model_name()
    uri = "s3://datasets/e2e/stars.csv"
    with tempfile.TemporaryDirectory() as tmp:
        source = storage.fetch(os.environ.get("ML_DATASET_URI", "s3://datasets/demo/train.csv"), Path(tmp) / "demo.csv")
        with open(source, newline="", encoding="utf-8") as src, open(Path(tmp) / "stars.csv", "w", newline="",
                                                                     encoding="utf-8") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            for row in reader:
                writer.writerow({**row, "label": {"negative": "1", "neutral": "3", "positive": "5"}.get(row["label"], row["label"])})
        storage.publish(Path(tmp) / "stars.csv", uri)
    before = client.get_model_version_by_alias(name, "champion").version
    versions = {v.version for v in client.search_model_versions(f"name='{name}'")}
    result = run_one(orchestrator, "train", {"dataset_uri": uri, "epochs": 1}, timeout)
    error = str(result.get("error") or "")
    check(f"{orchestrator} other task: the training is refused before it trains", not result["succeeded"]
          and "another task than model" in error and "labels 1, 3, 5" in error, error[:300])
    check(f"{orchestrator} other task: the refusal names --model-name and --new-task",
          "--model-name" in error and "--new-task" in error, error[-200:])
    champion = client.get_model_version_by_alias(name, "champion").version
    now = {v.version for v in client.search_model_versions(f"name='{name}'")}
    check(f"{orchestrator} other task: nothing registered, champion stays v{before}",
          champion == before and now == versions, f"champion v{champion}, new versions {sorted(now - versions)}")
    task = (client.get_model_version(name, champion).tags or {}).get("task_signature")
    earlier = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'")
                     if v.status == "READY" and (v.tags or {}).get("task_signature") == task and v.version != champion)
    return [result], {"champion_before": champion, "rollback_to": str(earlier[0]) if earlier else None}


def cmd_lifecycle_verify(version: str, reason: str) -> None:
    """After `make rollback VERSION=version`: champion pinned there, the history has every move once."""
    from ml.core.config import get_settings
    from ml.lifecycle import history

    client, name = mlflow_client(), model_name()
    champion = client.get_model_version_by_alias(name, "champion").version
    pin = json.loads((client.get_registered_model(name).tags or {}).get("champion_pin") or "{}")
    check(f"rollback: champion is v{version} and pinned", champion == version and pin.get("version") == version,
          f"champion v{champion}, pin {pin}")
    moves = history.read(get_settings())
    rollbacks = [m for m in moves if m.action == "rollback"]
    check("history: the rollback is recorded once, with its reason and who ran it",
          len(rollbacks) == 1 and rollbacks[0].new == version and rollbacks[0].reason == reason
          and rollbacks[0].actor.startswith("cli:"), f"{[m.as_dict() for m in rollbacks]}"[:300])
    promotions = [m for m in moves if m.action == "promote"]
    check("history: every promotion of the runs is recorded, with the code and image that made it",
          bool(promotions) and all(m.git_sha and m.image_id for m in promotions),
          f"{len(promotions)} promotions, {len(moves)} moves")
    moved = [m for m in moves if m.moved]
    once = all(a.new != b.new for a, b in itertools.pairwise(moved))
    check("history: each move listed once, in order, the last one to the champion",
          bool(moved) and once and moved[-1].new == version,
          " -> ".join(f"{m.action}:v{m.new}" for m in moved)[:300])
    check("MLflow UI: the history is an experiment of finished runs",
          client.get_experiment_by_name(history.experiment_name(get_settings())) is not None, history.experiment_name(get_settings()))


# --- approval mode: a person decides, through Airflow's HITL task and Dagster's review_job ------

APPROVE_REASON = "e2e: approved after reading the confusion matrix"
REJECT_REASON = "e2e: rejected in the Dagster launchpad"


def approval_airflow(timeout: float) -> dict[str, Any]:
    """Train in approval mode, answer the HITL task through the REST API its UI form uses, check the registry."""
    from ml.core.config import get_settings
    from ml.lifecycle import history

    training = spec("train")
    af, dag = airflow(), training.airflow_dag
    review = training.airflow_review_tasks[1]  # the human-in-the-loop task
    wait_for(lambda: review in {t["task_id"] for t in af.get(f"/api/v2/dags/{dag}/tasks")["tasks"]}, 300,
             what=f"Airflow has no {review} task (ML_PROMOTION_MODE=approval not parsed)")
    outcome = trigger.run_airflow(af, "train", trigger.with_default_inputs("train", {"epochs": 1}, os.environ),
                                  timeout=timeout, poll=5, wait=False)
    hitl = f"{af.run_path(dag, outcome.run_id)}/taskInstances/{review}/-1/hitlDetails"
    detail = wait_for(lambda: (r := af.http.request("GET", hitl, ok=(200, 404))).status_code == 200 and r.json(),
                      timeout, 5, what="the review task never asked for input")
    check("airflow approval: the run waits in the human-in-the-loop review task",
          detail.get("options") == ["Approve", "Reject"] and not detail.get("response_received"),
          str(detail.get("subject"))[:120])
    # Answer as a person would, seconds after the task parked: Airflow 3.3.2's scheduler can still be
    # processing the executor's report of the parking try, and an answer within that second raced it
    # (the resumed try was failed as "finished although queued") in an earlier run of this check.
    wait_for(lambda: af.get(f"{af.run_path(dag, outcome.run_id)}/taskInstances/{review}").get("state")
             == "awaiting_input", 120, 2, what="the review task never reached awaiting_input")
    time.sleep(10)
    promote = af.xcom(dag, outcome.run_id, training.step("promote").airflow_task)
    version = str(promote.get("version"))
    check(f"airflow approval: promote left v{version} awaiting approval, champion unmoved",
          promote.get("awaiting_approval") is True and promote.get("promoted") is False, promote.get("decision", "")[:200])
    af.http.request("PATCH", hitl, json={"chosen_options": ["Approve"], "params_input": {"reason": APPROVE_REASON}})
    run = wait_for(lambda: (st := af.run_state(dag, outcome.run_id)).get("state") in ("success", "failed") and st,
                   timeout, 5, what="the approved run never finished")
    states = {t["task_id"]: t.get("state") for t in af.task_instances(dag, outcome.run_id)}
    check("airflow approval: the run succeeds after the approval, apply_review included",
          run.get("state") == "success" and states.get(spec("review").step("review").airflow_task) == "success", f"{states}")
    champion = mlflow_client().get_model_version_by_alias(model_name(), "champion").version
    last = history.read(get_settings())[-1]
    check(f"airflow approval: v{version} is champion, the history names the reviewer and the reason",
          champion == version and (last.action, last.new, last.reason) == ("approve", version, APPROVE_REASON)
          and last.actor == f"airflow:{os.environ['AIRFLOW_ADMIN_USER']}", f"champion v{champion}, {last.as_dict()}"[:300])
    return {"orchestrator": "airflow", "pipeline": "train", "run_id": outcome.run_id, "succeeded": run.get("state") == "success",
            "state": run.get("state"), "steps": {}, "results": {}}


def approval_dagster(timeout: float) -> dict[str, Any]:
    """Train in approval mode, then reject the version from `review_job` (what the launchpad launches)."""
    from ml.core.config import get_settings
    from ml.lifecycle import history

    before = mlflow_client().get_model_version_by_alias(model_name(), "champion").version
    result = run_one("dagster", "train", {"epochs": 1}, timeout)
    promote = (result.get("results") or {}).get("promote") or {}
    version = str(promote.get("version"))
    check(f"dagster approval: the training run leaves v{version} awaiting approval",
          result["succeeded"] and promote.get("awaiting_approval") is True, str(promote.get("decision"))[:200])
    dg = dagster()
    reviewing = spec("review")
    repository = dg.find_job(reviewing.dagster_job, trigger.DAGSTER_LOCATION, timeout=300)
    op = reviewing.step("review").dagster_op
    config = {"ops": {op: {"config": {"version": version, "decision": "reject", "reason": REJECT_REASON}}}}
    run_id = dg.launch(repository, trigger.DAGSTER_LOCATION, reviewing.dagster_job, config, {"ml/triggered_by": "e2e"})
    status = wait_for(lambda: (st := dg.run(run_id)["status"]) in ("SUCCESS", "FAILURE", "CANCELED") and st,
                      timeout, 3, what="review_job never finished")
    tags = mlflow_client().get_model_version(model_name(), version).tags or {}
    champion = mlflow_client().get_model_version_by_alias(model_name(), "champion").version
    last = history.read(get_settings())[-1]
    check(f"dagster approval: review_job rejects v{version}; champion stays v{before}; recorded",
          status == "SUCCESS" and tags.get("review") == "rejected" and champion == before
          and (last.action, last.reason, last.actor) == ("reject", REJECT_REASON, f"dagster:{run_id}"),
          f"status {status}, review={tags.get('review')}, champion v{champion}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.in_image.lifecycle")
    sub = parser.add_subparsers(dest="command", required=True)
    other = sub.add_parser("other-task")
    other.add_argument("--orchestrator", required=True, choices=trigger.ORCHESTRATORS)
    after = sub.add_parser("verify")
    after.add_argument("--version", required=True)
    after.add_argument("--reason", required=True)
    approval = sub.add_parser("approval")
    for p in (other, approval):
        p.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)

    def dispatch() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if args.command == "other-task":
            return cmd_other_task(args.orchestrator, args.timeout)
        if args.command == "verify":
            cmd_lifecycle_verify(args.version, args.reason)
            return [], {}
        return [r for r in (guarded("airflow approval", lambda: approval_airflow(args.timeout)),
                            guarded("dagster approval", lambda: approval_dagster(args.timeout))) if r], {}

    # a crash is a failed check with its reason, and the JSON line is printed all the same
    runs, extra = guarded(f"lifecycle {args.command} ran to the end", dispatch) or ([], {})
    return emit(runs=runs, lifecycle=extra)


if __name__ == "__main__":
    raise SystemExit(main())
