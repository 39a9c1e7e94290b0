"""The fault phase's in-image half (`tests/e2e/chaos.py` calls it through `run_e2e.in_ml_image`).

Why inside the ml image: starting, following and cancelling runs needs the `ml_trigger` clients
(requests, dagster-graphql) and the checks need MLflow's and the object store's clients, none of
which the host has. The host injects the faults (docker kill/restart/pause); this script only
talks to the orchestrators' and the registry's own APIs. Sub-commands (last stdout line: JSON):

    python chaos_checks.py start  --orchestrator airflow --pipeline train --param epochs=1
    python chaos_checks.py follow --orchestrator dagster --pipeline train --run-id R --since T
    python chaos_checks.py cancel --orchestrator airflow --pipeline train --run-id R
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import ml_trigger as trigger  # mounted from the repo by run_e2e.py (not in the ml image)
from ml_trigger.airflow_api import AIRFLOW_DAGS
from ml_trigger.dagster_api import DAGSTER_JOBS, DAGSTER_LOCATION, TRIGGER_TAGS, dagster_run_config
from ml_trigger.params import parse_params, with_default_inputs

AIRFLOW_TERMINAL = {"success", "failed"}
DAGSTER_TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
#: Runs of one root run (the original and Dagster's run retries), with their status.
RUN_GROUP_QUERY = """
query Group($runId: ID!) {
  runGroupOrError(runId: $runId) {
    __typename
    ... on RunGroup { rootRunId runs { runId status } }
    ... on PythonError { message }
  }
}
"""
STEP_EVENTS_QUERY = """
query Retries($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { stepKey } } }
  }
}
"""
TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId status } }
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def airflow() -> trigger.AirflowClient:
    client = trigger.AirflowClient(os.environ["AIRFLOW_URL"], os.environ["AIRFLOW_ADMIN_USER"],
                                   os.environ["AIRFLOW_ADMIN_PASSWORD"])
    client.login()
    return client


def dagster() -> trigger.DagsterClient:
    return trigger.DagsterClient(os.environ["DAGSTER_URL"])


def start(orchestrator: str, pipeline: str, params: dict[str, str], tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Trigger a run and return at once (the host waits for its step container, then injects)."""
    if orchestrator == "airflow":
        client = airflow()
        client.wait_for_dag(AIRFLOW_DAGS[pipeline], timeout=300)
        return {"run_id": client.trigger(AIRFLOW_DAGS[pipeline], params)}
    client = dagster()
    job = DAGSTER_JOBS[pipeline]
    repository = client.find_job(job, DAGSTER_LOCATION, timeout=300)
    return {"run_id": client.launch(repository, DAGSTER_LOCATION, job, dagster_run_config(pipeline, params),
                                    {**TRIGGER_TAGS, **(tags or {})})}


def follow_airflow(pipeline: str, run_id: str, timeout: float) -> dict[str, Any]:
    client = airflow()
    dag_id = AIRFLOW_DAGS[pipeline]
    deadline = time.monotonic() + timeout
    while True:
        run = client.run_state(dag_id, run_id)
        if run["state"] in AIRFLOW_TERMINAL or time.monotonic() > deadline:
            break
        time.sleep(3)
        client.login()  # a restarted api-server may have rotated nothing, but a fresh token is cheap
    tasks = client.task_instances(dag_id, run_id)
    retries = sum(max(int(t.get("try_number") or 1) - 1, 0) for t in tasks)
    return {"state": run["state"], "succeeded": run["state"] == "success", "retries": retries,
            "tasks": {t["task_id"]: [t.get("state"), t.get("try_number")] for t in tasks},
            "run_ids": [run_id]}


def follow_dagster(run_id: str, timeout: float) -> dict[str, Any]:
    """Follow a run and its run retries (a crashed run worker is retried whole, as a new run)."""
    client = dagster()
    deadline = time.monotonic() + timeout
    settle_until = deadline
    while True:
        group = client.query(RUN_GROUP_QUERY, {"runId": run_id})["runGroupOrError"]
        runs = group.get("runs") or [{"runId": run_id, "status": client.run(run_id)["status"]}]
        runs = sorted(runs, key=lambda r: r["runId"] != run_id)  # the original first
        latest = runs[-1] if len(runs) > 1 else runs[0]
        done = all(r["status"] in DAGSTER_TERMINAL for r in runs)
        # a run that failed without a run retry yet: the daemon may still start one (run_retries)
        settled = latest["status"] != "FAILURE" or len(runs) > 1 or time.monotonic() > settle_until
        if (done and settled) or time.monotonic() > deadline:
            break
        if not done:
            settle_until = time.monotonic() + 60
        time.sleep(3)
    step_starts = 0
    for r in runs:
        events = client.query(STEP_EVENTS_QUERY, {"runId": r["runId"]})["logsForRun"].get("events", [])
        step_starts += sum(1 for e in events if e["__typename"] == "ExecutionStepRestartEvent")
    final = runs[-1]["status"] if len(runs) > 1 else runs[0]["status"]
    return {"state": final, "succeeded": final == "SUCCESS", "retries": step_starts + len(runs) - 1,
            "run_ids": [r["runId"] for r in runs], "statuses": [r["status"] for r in runs]}


def registry_state(orchestrator: str, since_ms: int) -> dict[str, Any]:
    """Versions this orchestrator registered since `since_ms`, and whether `champion` follows the rule."""
    from mlflow import MlflowClient

    name = os.environ.get("ML_MODEL_NAME", "text-classifier")
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions(f"name='{name}'")
    new = [v for v in versions if int(v.creation_timestamp) >= since_ms and v.tags.get("orchestrator") == orchestrator]
    by_run: dict[str, int] = {}
    for v in new:
        key = v.tags.get("pipeline_run_id", "?")
        by_run[key] = by_run.get(key, 0) + 1
    return {"new_versions": sorted(int(v.version) for v in new), "per_pipeline_run": by_run}


def champion_ok() -> tuple[bool, str]:
    """`champion` is where the documented rule puts it (checks.py's verification, from the rule's text)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import checks

    before = len(checks.CHECKS)
    checks.guarded("champion follows the rule", checks.verify_champion)
    results = checks.CHECKS[before:before + 1]
    return bool(results) and results[0]["passed"], results[0]["detail"] if results else "not checked"


def partial_objects(since_ms: int) -> tuple[int, list[str]]:
    """Objects written since `since_ms` under the results and work prefixes that a reader would take
    for whole outputs but are not: a Parquet file without its footer, a folder output's `_SUCCESS`
    next to a missing file is not checked (readers need `_SUCCESS`, written last)."""
    from ml.core.config import get_settings
    from ml.core.storage import _client, split_s3

    settings = get_settings()
    client = _client(settings)
    seen, bad = 0, []
    for prefix in (settings.results_uri, settings.work_uri):
        bucket, key = split_s3(prefix)
        for obj in client.list_objects(bucket, key.rstrip("/") + "/" if key else None, recursive=True):
            if obj.last_modified is None or obj.last_modified.timestamp() * 1000 < since_ms:
                continue
            seen += 1
            if obj.object_name.endswith(".parquet"):
                size = int(obj.size or 0)
                tail = client.get_object(bucket, obj.object_name, offset=max(size - 4, 0), length=4).read()
                head = client.get_object(bucket, obj.object_name, offset=0, length=4).read()
                if size < 12 or head != b"PAR1" or tail != b"PAR1":
                    bad.append(f"s3://{bucket}/{obj.object_name} ({size} bytes, not a whole Parquet file)")
    return seen, bad


def follow(orchestrator: str, pipeline: str, run_id: str, since_ms: int, timeout: float) -> dict[str, Any]:
    outcome = follow_airflow(pipeline, run_id, timeout) if orchestrator == "airflow" else follow_dagster(run_id, timeout)
    outcome["registry"] = registry_state(orchestrator, since_ms)
    try:
        outcome["objects_checked"], outcome["partial_objects"] = partial_objects(since_ms)
    except Exception as exc:
        outcome["objects_checked"], outcome["partial_objects"] = 0, [f"could not list: {type(exc).__name__}: {exc}"]
    outcome["champion_ok"], outcome["champion_detail"] = champion_ok()
    return outcome


def cancel(orchestrator: str, pipeline: str, run_id: str) -> dict[str, Any]:
    """Cancel as a user does: Airflow's "mark failed" (PATCH state), Dagster's terminateRun."""
    if orchestrator == "airflow":
        client = airflow()
        response = client.http.request("PATCH", client.run_path(AIRFLOW_DAGS[pipeline], run_id),
                                       json={"state": "failed"})
        return {"answer": response.json().get("state")}
    data = dagster().query(TERMINATE, {"runId": run_id})["terminateRun"]
    return {"answer": data["__typename"], "message": data.get("message", "")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["start", "follow", "cancel"])
    parser.add_argument("--orchestrator", required=True, choices=["airflow", "dagster"])
    parser.add_argument("--pipeline", default="train", choices=["train", "infer"])
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--tag", action="append", default=[], help="Dagster run tag key=value (repeatable)")
    parser.add_argument("--run-id", default="")
    parser.add_argument("--since", type=int, default=0, help="epoch ms: versions registered from then on")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    params = with_default_inputs(args.pipeline, parse_params(args.param), os.environ)
    try:
        if args.command == "start":
            result = start(args.orchestrator, args.pipeline, params, dict(t.split("=", 1) for t in args.tag))
        elif args.command == "follow":
            result = follow(args.orchestrator, args.pipeline, args.run_id, args.since, args.timeout)
        else:
            result = cancel(args.orchestrator, args.pipeline, args.run_id)
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    print(json.dumps({"checks": [], **result}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
