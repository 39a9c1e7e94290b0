"""The fault phase's in-image half (tests/e2e/chaos.py calls it through `stack.in_ml_image("chaos", ...)`).

Why inside the ml image: starting, following and cancelling runs needs the `ml_trigger` clients
(requests, dagster-graphql) and the checks need MLflow's and the object store's clients, none of
which the host has. The host injects the faults (docker kill/restart/pause); this script only
talks to the orchestrators' and the registry's own APIs. Sub-commands (last stdout line: JSON):

    python -m tests.e2e.in_image.chaos start  --orchestrator airflow --pipeline train --param epochs=1
    python -m tests.e2e.in_image.chaos follow --orchestrator dagster --pipeline train --run-id R --since T
    python -m tests.e2e.in_image.chaos cancel --orchestrator airflow --pipeline train --run-id R

They make no checks of their own: the host turns what `follow` reports into the fault table's row.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ml.pipelines.spec import pipeline as spec
from ml_trigger.dagster_api import DAGSTER_LOCATION, TRIGGER_TAGS, dagster_run_config
from ml_trigger.params import parse_params, with_default_inputs

from ..checklist import CheckList, one_line
from .common import airflow, dagster, mlflow_client, model_name
from .verify import verify_champion

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


def start(orchestrator: str, pipeline: str, params: dict[str, str], tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Trigger a run and return at once (the host waits for its step container, then injects)."""
    if orchestrator == "airflow":
        client = airflow()
        client.wait_for_dag(spec(pipeline).airflow_dag, timeout=300)
        return {"run_id": client.trigger(spec(pipeline).airflow_dag, params)}
    client = dagster()
    job = spec(pipeline).dagster_job
    repository = client.find_job(job, DAGSTER_LOCATION, timeout=300)
    return {"run_id": client.launch(repository, DAGSTER_LOCATION, job, dagster_run_config(pipeline, params),
                                    {**TRIGGER_TAGS, **(tags or {})})}


def follow_airflow(pipeline: str, run_id: str, timeout: float) -> dict[str, Any]:
    client = airflow()
    dag_id = spec(pipeline).airflow_dag
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
    """Versions this orchestrator registered since `since_ms`, per pipeline run."""
    versions = mlflow_client().search_model_versions(f"name='{model_name()}'")
    new = [v for v in versions if int(v.creation_timestamp) >= since_ms and v.tags.get("orchestrator") == orchestrator]
    by_run: dict[str, int] = {}
    for v in new:
        key = v.tags.get("pipeline_run_id", "?")
        by_run[key] = by_run.get(key, 0) + 1
    return {"new_versions": sorted(int(v.version) for v in new), "per_pipeline_run": by_run}


def champion_ok() -> tuple[bool, str]:
    """`champion` is where the documented rule puts it (the verify phase's check, on a list of its own)."""
    checks = CheckList()
    checks.guarded("champion follows the rule", lambda: verify_champion(checks.check))
    first = checks.items[:1]
    return bool(first) and first[0]["passed"], first[0]["detail"] if first else "not checked"


def reader_hazards(since_ms: int) -> tuple[int, list[str]]:
    """What a reader could pick up under the results and work prefixes, written since `since_ms`, that
    is not whole: the completion marks readers trust, checked against what they mark.

    A single object cannot be half-written on an S3 server (a PUT is atomic), so the hazards are the
    marks: a folder's `_SUCCESS` (model folders; `storage.fetch_dir` requires it) with nothing else in
    the folder or a file newer than it (changed after it was declared whole), and a split's
    `manifest.json` (written last) whose splits are missing or newer than it. Returns the objects
    seen and one line per hazard.
    """
    from ml.core.config import get_settings
    from ml.core.storage import _client, split_s3

    settings = get_settings()
    client = _client(settings)
    seen, bad = 0, []
    for prefix in (settings.results_uri, settings.work_uri):
        bucket, key = split_s3(prefix)
        objects = {o.object_name: o for o in client.list_objects(bucket, key.rstrip("/") + "/" if key else None,
                                                                 recursive=True)}
        for name, obj in objects.items():
            if obj.last_modified is None or obj.last_modified.timestamp() * 1000 < since_ms:
                continue
            seen += 1
            folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
            if name.endswith("/_SUCCESS"):
                files = {n: o for n, o in objects.items() if n.startswith(folder) and n != name}
                newer = [n for n, o in files.items() if o.last_modified and o.last_modified > obj.last_modified]
                if not files or newer:
                    bad.append(f"s3://{bucket}/{name}: marks " + (f"{len(newer)} file(s) written after it, e.g. {newer[0]}"
                                                                  if newer else "an empty folder"))
            elif name.endswith("/manifest.json"):
                manifest = json.loads(client.get_object(bucket, name).read())
                splits = [f"{folder}{split}.parquet" for split in manifest.get("rows") or {}]
                late = [s for s in splits if s not in objects or objects[s].last_modified > obj.last_modified]
                if not splits or late:
                    bad.append(f"s3://{bucket}/{name}: names splits missing or written after it: {late or 'none named'}")
    return seen, bad


def follow(orchestrator: str, pipeline: str, run_id: str, since_ms: int, timeout: float) -> dict[str, Any]:
    outcome = follow_airflow(pipeline, run_id, timeout) if orchestrator == "airflow" else follow_dagster(run_id, timeout)
    outcome["registry"] = registry_state(orchestrator, since_ms)
    try:
        outcome["objects_checked"], outcome["partial_objects"] = reader_hazards(since_ms)
    except Exception as exc:
        outcome["objects_checked"], outcome["partial_objects"] = 0, [f"could not list: {one_line(exc)}"]
    outcome["champion_ok"], outcome["champion_detail"] = champion_ok()
    return outcome


def cancel(orchestrator: str, pipeline: str, run_id: str) -> dict[str, Any]:
    """Cancel as a user does: Airflow's "mark failed" (PATCH state), Dagster's terminateRun."""
    if orchestrator == "airflow":
        client = airflow()
        response = client.http.request("PATCH", client.run_path(spec(pipeline).airflow_dag, run_id),
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
        result = {"error": one_line(exc)}
    print(json.dumps({"checks": [], **result}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
