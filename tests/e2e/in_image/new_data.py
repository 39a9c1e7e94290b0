"""New data starts training, checked inside the ml image (the new data phase, tests/e2e/new_data.py).

Five files land under ML_NEW_DATA_PREFIX at once (a copy of the demo training set and four files
without a label column). On each orchestrator, by itself: one training run per file (the seconds
it took are in the check's detail; START_DEADLINE_S only bounds a hang),
each on its file; the copy's run succeeds and registers a version; each bad file's run fails with
the loader's one-line reason. Then the copy's bytes are uploaded again under the same key: no
second run on either orchestrator after two poll intervals. Prints {"checks": [...]} last.

    python -m tests.e2e.in_image.new_data
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ml_trigger as trigger  # mounted from the checkout by the driver (not in the ml image)
from ml.core import storage
from ml.core.config import get_settings
from ml.data.new_data import NewObject, training_objects
from ml.pipelines.spec import pipeline as spec
from ml_trigger.airflow_api import _failure as airflow_failure
from ml_trigger.dagster_api import asset_result

from ..checklist import check, emit, guarded
from .common import airflow, dagster, wait_for

TRAINING = spec("training")
DAG = TRAINING.airflow_dag

#: How long the runs may take to appear: a bound on a hang, not the product's latency (a busy
#: machine, or other phases running beside this one, only make it longer).
START_DEADLINE_S = 600
RUN_TIMEOUT_S = 1500
DAGSTER_RUNS_BY_TAG = """
query RunsByTag($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    __typename
    ... on Runs { results { runId status } }
    ... on PythonError { message }
  }
}
"""


# --- the two orchestrators' views of "the run of this object" ------------------------------------


def airflow_run(client: trigger.AirflowClient, obj: NewObject) -> dict[str, Any] | None:
    response = client.http.request("GET", client.run_path(DAG, obj.run_id), ok=(200, 404))
    return response.json() if response.status_code == 200 else None


def airflow_runs_on(client: trigger.AirflowClient, uri: str) -> int:
    """Training runs (of the latest 100) whose dataset is `uri`."""
    runs = client.get(f"/api/v2/dags/{DAG}/dagRuns", limit=100, order_by="-start_date").get("dag_runs", [])
    return sum(1 for r in runs if (r.get("conf") or {}).get("dataset_uri") == uri)


def dagster_runs(client: trigger.DagsterClient, obj: NewObject, key: str = "ml/new_data_run_key") -> list[dict[str, Any]]:
    value = obj.uri if key == "ml/new_data_uri" else obj.run_key
    data = client.query(DAGSTER_RUNS_BY_TAG, {"key": key, "value": value})["runsOrError"]
    return list(data.get("results", []))


def follow_airflow(client: trigger.AirflowClient, obj: NewObject) -> dict[str, Any]:
    """The run's end: state, registered version (good file) or one-line reason (bad file)."""
    if airflow_run(client, obj) is None:  # not started by now: nothing to follow (checked above)
        return {"state": "not started"}
    run = wait_for(lambda: (r := airflow_run(client, obj)) and r["state"] in ("success", "failed") and r,
                   RUN_TIMEOUT_S, poll=5)
    if not run:
        return {"state": "timeout"}
    if run["state"] == "success":
        return {"state": "success", "version": (client.xcom(DAG, obj.run_id, TRAINING.step("register").airflow_task) or {}).get("version"),
                "dataset_uri": (run.get("conf") or {}).get("dataset_uri")}
    tasks = client.task_instances(DAG, obj.run_id)
    return {"state": "failed", "reason": airflow_failure(client, DAG, obj.run_id, tasks),
            "dataset_uri": (run.get("conf") or {}).get("dataset_uri")}


def follow_dagster(client: trigger.DagsterClient, obj: NewObject) -> dict[str, Any]:
    if not dagster_runs(client, obj):  # not started by now: nothing to follow (checked above)
        return {"state": "not started"}

    def done() -> dict[str, Any] | None:
        runs = dagster_runs(client, obj)
        return runs[0] if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = wait_for(done, RUN_TIMEOUT_S, poll=5)
    if not run:
        return {"state": "timeout"}
    if run["status"] != "SUCCESS":
        return {"state": "failed", "reason": client.failure(run["runId"])}
    details = client.run(run["runId"])
    registered = next((m for m in details["assetMaterializations"] if m["assetKey"]["path"] == [TRAINING.step("register").dagster_asset]), None)
    data = next((m for m in details["assetMaterializations"] if m["assetKey"]["path"] == [TRAINING.step("load-training-data").dagster_asset]), None)
    registered_result = asset_result(registered["metadataEntries"]) if registered else {}
    return {"state": "success", "version": registered_result.get("version") or registered_result.get("model_version"),
            "dataset_uri": asset_result(data["metadataEntries"]).get("dataset_uri") if data else None}


# --- the scenario ------------------------------------------------------------------------------


def upload(files: dict[str, str]) -> None:
    """Publish local files (path -> URI) at once: they land together."""
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        list(pool.map(lambda item: storage.publish(Path(item[0]), item[1]), files.items()))


def main() -> None:
    """The scenario: 11 checks."""
    settings = get_settings()
    prefix = settings.new_data_prefix
    batch = f"e2e-{uuid.uuid4().hex[:8]}"
    good_uri = f"{prefix}{batch}/reviews.csv"
    bad_uris = [f"{prefix}{batch}/no-label-{i}.csv" for i in range(4)]
    af, dg = airflow(), dagster()
    if not check("new data: ML_TRAIN_ON_NEW_DATA is on in the stack", settings.train_on_new_data, prefix):
        return
    af.wait_for_dag("ml_new_data", timeout=120)

    with tempfile.TemporaryDirectory() as tmp:
        good = storage.fetch(settings.dataset_uri, Path(tmp) / "good.csv")
        bad = Path(tmp) / "bad.csv"
        bad.write_text("id,text\n1,great product\n2,awful service\n")
        files = {str(good): good_uri, **{str(bad) + f"#{i}": uri for i, uri in enumerate(bad_uris)}}
        for i in range(4):
            Path(str(bad) + f"#{i}").write_text(bad.read_text() + f"{3 + i},file {i}\n")  # distinct bytes
        landed = time.monotonic()
        upload(files)
        objects = {o.uri: o for o in training_objects(prefix) if o.uri in (good_uri, *bad_uris)}
        check("new data: five files landed under the prefix", len(objects) == 5, f"{len(objects)} of 5 listed")

        for name, started in (("airflow", lambda o: airflow_run(af, o)), ("dagster", lambda o: dagster_runs(dg, o))):
            ok = wait_for(lambda s=started: all(s(o) for o in objects.values()), START_DEADLINE_S)
            check(f"new data: {name} started one training run per file by itself", bool(ok) and len(objects) == 5,
                  f"all {len(objects)} started {time.monotonic() - landed:.0f}s after the upload" if ok
                  else f"not all {len(objects)} within {START_DEADLINE_S} s")

        # one Dagster client per thread: the GraphQL client's transport is not thread-safe (a
        # shared one fails with "Transport is already connected" when two queries overlap)
        with ThreadPoolExecutor(max_workers=10) as pool:
            ends = {(name, uri): pool.submit(follow, connect(), obj) for uri, obj in objects.items()
                    for name, connect, follow in (("airflow", lambda: af, follow_airflow),
                                                  ("dagster", dagster, follow_dagster))}
            results = {key: future.result() for key, future in ends.items()}
        for name in ("airflow", "dagster"):
            end = results[(name, good_uri)]
            check(f"new data: {name}'s run on the new file succeeds and registers a version",
                  end["state"] == "success" and bool(end.get("version")) and end.get("dataset_uri") == good_uri,
                  json.dumps(end))
            reasons = [results[(name, uri)] for uri in bad_uris]
            check(f"new data: {name}: each file failing validation fails its own run with the one-line reason",
                  all(r["state"] == "failed" and "label" in (r.get("reason") or "") for r in reasons),
                  "; ".join(str(r.get("reason")) for r in reasons)[:400])

        upload({str(good): good_uri})  # the same bytes again under the same key
        time.sleep(2 * settings.new_data_poll_s + 10)
        again = [o for o in training_objects(prefix) if o.uri == good_uri]
        check("new data: the same bytes again keep the object's run key", again == [objects[good_uri]],
              f"{[o.run_key for o in again]}")
        on_airflow = airflow_runs_on(af, good_uri)
        check("new data: the same upload again starts no second Airflow run", on_airflow == 1, f"{on_airflow} runs")
        on_dagster = len(dagster_runs(dg, objects[good_uri], key="ml/new_data_uri"))
        check("new data: the same upload again starts no second Dagster run", on_dagster == 1, f"{on_dagster} runs")


if __name__ == "__main__":
    guarded("new data checks ran", main)  # a crash is a failed check with its reason, and still one JSON line
    raise SystemExit(emit())
