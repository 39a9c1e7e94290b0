"""Checks of the running stack, executed INSIDE the ml image (`docker compose run ml-cli`).

Why inside: the checks need the service names, the credentials from .env and the project's own
clients (MLflow, the object store, `ml_trigger` for Airflow and Dagster), none of which the host
must have. `run_e2e.py` (on the host) calls the sub-commands below and reads the JSON object
printed on the last stdout line: {"checks": [{"name", "passed", "detail"}], "runs": [...]}.

    python checks.py verify < runs.json           # runs made by `make train/infer`
    python checks.py load --orchestrator airflow --n 5
    python checks.py bad-dataset --orchestrator dagster
    python checks.py other-task --orchestrator dagster    # another label set under the same name
    python checks.py lifecycle-verify --version 3 --reason "..."   # after make rollback
    python checks.py approval                             # the stack restarted with ML_PROMOTION_MODE=approval
    python checks.py drift                                # French texts through both: drift flagged
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ml_trigger as trigger  # mounted from the repo by run_e2e.py (not in the ml image)

CHECKS: list[dict[str, Any]] = []
_lock = threading.Lock()


def check(name: str, passed: bool, detail: str = "") -> bool:
    """Record one check (and show it at once)."""
    with _lock:
        CHECKS.append({"name": name, "passed": bool(passed), "detail": detail})
    print(f"[check] {'PASS' if passed else 'FAIL'}  {name}{'  -- ' + detail if detail else ''}", file=sys.stderr,
          flush=True)
    return bool(passed)


def guarded(name: str, fn: Callable[[], Any]) -> Any:
    """Run `fn`; an exception is a failed check with its one-line reason, never a crash."""
    try:
        return fn()
    except Exception as exc:
        check(name, False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return None


# --- clients ----------------------------------------------------------------------------------


def airflow() -> trigger.AirflowClient:
    client = trigger.AirflowClient(os.environ["AIRFLOW_URL"], os.environ["AIRFLOW_ADMIN_USER"],
                                   os.environ["AIRFLOW_ADMIN_PASSWORD"], public_url=os.environ.get("AIRFLOW_PUBLIC_URL"))
    client.login()
    return client


def dagster() -> trigger.DagsterClient:
    return trigger.DagsterClient(os.environ["DAGSTER_URL"], public_url=os.environ.get("DAGSTER_PUBLIC_URL"))


def mlflow_client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def model_name() -> str:
    return os.environ.get("ML_MODEL_NAME", "text-classifier")


def read_predictions(uri: str) -> Any:
    import pyarrow.parquet as pq

    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        path = storage.fetch(uri, Path(tmp) / "predictions.parquet")
        return pq.read_table(path)


# --- what a run says about itself, re-read through each system's own API ---------------------


def api_state(outcome: dict[str, Any]) -> str:
    """The run's final state as the orchestrator's API reports it now (not the trigger's copy)."""
    if outcome["orchestrator"] == "airflow":
        dag = trigger.AIRFLOW_DAGS[outcome["pipeline"]]
        return str(airflow().run_state(dag, outcome["run_id"]).get("state"))
    return str(dagster().run(outcome["run_id"])["status"])


def verify_train(outcome: dict[str, Any]) -> None:
    """MLflow has the version with lineage tags and the challenger alias at registration."""
    label = f"{outcome['orchestrator']} train"
    summary = outcome.get("summary") or {}
    version = summary.get("model_version")
    if not check(f"{label}: reports a registered model version", version is not None, f"version={version}"):
        return
    mv = mlflow_client().get_model_version(summary.get("model_name") or model_name(), str(version))
    tags = mv.tags or {}
    check(f"{label}: MLflow version {version} exists and is READY", mv.status == "READY", mv.status)
    lineage = {"pipeline_run_id": outcome["run_id"], "orchestrator": outcome["orchestrator"]}
    wrong = {k: tags.get(k) for k, v in lineage.items() if tags.get(k) != v}
    missing = [k for k in ("data_fingerprint", "mlflow_run_id") if not tags.get(k)]
    check(f"{label}: version {version} carries lineage tags", not wrong and not missing,
          f"wrong={wrong} missing={missing}" if wrong or missing else
          f"run {outcome['run_id']}, fingerprint {tags.get('data_fingerprint', '')[:12]}")
    sha, image_id = tags.get("git_sha", ""), tags.get("image_id", "")
    check(f"{label}: version {version} names its source revision and image digest",
          sha not in ("", "unknown") and image_id.startswith(("sha256:", f"{tags.get('image', '').split(':')[0]}@sha256:")),
          f"git_sha={sha} image={tags.get('image')} image_id={image_id[:19]}")
    check(f"{label}: version {version} carries its task signature", bool(tags.get("task_signature")),
          tags.get("task_signature", "missing"))


def verify_champion() -> None:
    """`champion` is where the documented rule puts it (docs/pipelines.md, "Model lifecycle").

    Written from the rule's text, not with ml.lifecycle.champion: the pinned version if pinned; else the
    best version (highest metric, ties to the newest) among the READY versions of the champion's
    task signature that are neither pending, rejected nor demoted.
    """
    from ml.lifecycle.registry import METRIC_TAG_PREFIX

    client = mlflow_client()
    name = model_name()
    metric = os.environ.get("ML_PROMOTION_METRIC", "test_macro_f1")
    champion = client.get_model_version_by_alias(name, "champion")
    pin = (client.get_registered_model(name).tags or {}).get("champion_pin")
    task = (champion.tags or {}).get("task_signature")
    versions = [v for v in client.search_model_versions(f"name='{name}'") if v.status == "READY"]
    scored = []
    for v in versions:
        tags = v.tags or {}
        raw = tags.get(METRIC_TAG_PREFIX + metric)
        if raw is not None and tags.get("task_signature") == task and tags.get("review") not in ("pending", "rejected", "demoted"):
            scored.append((float(raw), int(v.version)))
    expected = int(json.loads(pin)["version"]) if pin else (max(scored)[1] if scored else None)
    check("MLflow: champion is where the rule puts it (pin, else the best of its task)",
          expected is not None and int(champion.version) == expected,
          f"champion=v{champion.version}, expected v{expected} ({'pinned' if pin else f'best by {metric} of {len(scored)} eligible'})")
    aliases = client.get_registered_model(name).aliases or {}
    check("MLflow: model has champion and challenger aliases", {"champion", "challenger"} <= set(aliases),
          f"aliases={dict(aliases)}")


def verify_infer(outcome: dict[str, Any]) -> None:
    """The predictions exist in the object store and every row carries the resolved version."""
    label = f"{outcome['orchestrator']} infer"
    summary = outcome.get("summary") or {}
    uri, version = summary.get("predictions_uri"), summary.get("model_version")
    if not check(f"{label}: reports predictions location and model version", bool(uri) and version is not None,
                 f"{uri} v{version}"):
        return
    table = read_predictions(uri)
    versions = set(table.column("model_version").to_pylist())
    runs = set(table.column("pipeline_run_id").to_pylist())
    check(f"{label}: every prediction row carries model version {version}", versions == {str(version)},
          f"{table.num_rows} rows, versions in file: {sorted(versions)}")
    check(f"{label}: predictions were written by this run only", runs == {outcome["run_id"]},
          f"pipeline_run_id values: {sorted(runs)[:3]}")
    status = monitoring_status(outcome["run_id"])
    check(f"{label}: drift check of the ordinary demo partition is not flagged", status in ("ok", "warn"),
          f"drift_status={status}")


#: A line the ml library itself logs in each pipeline (not the orchestrator), and the Airflow task
#: that runs the step which logs it.
LOG_MARKERS = {"train": ("evaluate_model", "test accuracy="), "infer": ("save_inference_results", " predictions to ")}


def verify_logs(outcome: dict[str, Any]) -> None:
    """The ml container's own log lines are visible through the orchestrator's API (its UI's source)."""
    label = f"{outcome['orchestrator']} {outcome['pipeline']}"
    task, marker = LOG_MARKERS[outcome["pipeline"]]
    if outcome["orchestrator"] == "airflow":
        dag = trigger.AIRFLOW_DAGS[outcome["pipeline"]]
        text = airflow().task_log(dag, outcome["run_id"], task, 1)
        where = f"Airflow's task log of {task}"
    else:
        text = dagster_compute_logs(outcome["run_id"])
        where = "Dagster's compute logs"
    hits = [line.strip() for line in text.splitlines() if marker in line]
    check(f"{label}: ml step's own log lines visible in {where}", bool(hits),
          hits[0][-160:] if hits else f"no line with {marker!r} in {len(text.splitlines())} lines")


_CAPTURED_EVENTS = """
query Captured($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } }
  }
}
"""
_CAPTURED_LOGS = """
query Logs($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }
"""


def dagster_compute_logs(run_id: str) -> str:
    """stdout+stderr of every captured step of a run, read through Dagster's GraphQL API."""
    client = dagster()
    events = client.query(_CAPTURED_EVENTS, {"runId": run_id})["logsForRun"].get("events", [])
    text = []
    for event in events:
        if event.get("__typename") == "LogsCapturedEvent":
            logs = client.query(_CAPTURED_LOGS, {"logKey": [run_id, "compute_logs", event["fileKey"]]})["capturedLogs"]
            text += [logs.get("stdout") or "", logs.get("stderr") or ""]
    return "\n".join(text)


def cmd_verify(runs: list[dict[str, Any]]) -> None:
    for outcome in runs:
        label = f"{outcome['orchestrator']} {outcome['pipeline']}"
        expected = "success" if outcome["orchestrator"] == "airflow" else "SUCCESS"
        state = guarded(f"{label}: API reachable", lambda o=outcome: api_state(o))
        if state is not None:
            check(f"{label}: {outcome['orchestrator']} API reports the run succeeded", state == expected,
                  f"{outcome['run_id']} {state}")
        if outcome["pipeline"] == "train":
            guarded(f"{label}: MLflow checks", lambda o=outcome: verify_train(o))
        else:
            guarded(f"{label}: object store checks", lambda o=outcome: verify_infer(o))
        guarded(f"{label}: log checks", lambda o=outcome: verify_logs(o))
    guarded("MLflow: champion checks", verify_champion)


# --- load test: n training + n inference runs at once ----------------------------------------


def run_one(orchestrator: str, pipeline: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    params = trigger.with_default_inputs(pipeline, params, os.environ)
    if orchestrator == "airflow":
        outcome = trigger.run_airflow(airflow(), pipeline, params, timeout=timeout, poll=5)
    else:
        outcome = trigger.run_dagster(dagster(), pipeline, params, timeout=timeout, poll=5)
    return {**outcome.as_dict(), "summary": trigger.summarize(outcome)}


def cmd_load(orchestrator: str, n: int, timeout: float, train_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Start n trainings and n inferences together; all must succeed, isolated from each other."""
    jobs = [("train", dict(train_params)) for _ in range(n)] + [("infer", {}) for _ in range(n)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix=f"{orchestrator}-load") as pool:
        futures = [pool.submit(run_one, orchestrator, pipeline, params, timeout) for pipeline, params in jobs]
        results = []
        for (pipeline, _), future in zip(jobs, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:
                results.append({"orchestrator": orchestrator, "pipeline": pipeline, "succeeded": False,
                                "error": f"{type(exc).__name__}: {exc}", "run_id": None, "steps": {}, "results": {}})
    wall = time.monotonic() - started
    trains = [r for r in results if r["pipeline"] == "train"]
    infers = [r for r in results if r["pipeline"] == "infer"]
    failed = [f"{r['pipeline']} {r.get('run_id')}: {r.get('error')}" for r in results if not r["succeeded"]]
    check(f"{orchestrator} load: {n} training + {n} inference runs at once all succeed", not failed,
          f"wall {wall:.0f}s" if not failed else "; ".join(failed)[:500])
    versions = {str((r.get("summary") or {}).get("model_version")) for r in trains if r["succeeded"]}
    check(f"{orchestrator} load: {n} distinct model versions", len(versions) == n, f"versions {sorted(versions)}")
    workspaces = [r["results"].get("load_training_data", r["results"].get("training_data", {})).get("data_uri")
                  for r in trains]
    workspaces += [r["results"].get("load_inference_data", r["results"].get("inference_data", {})).get("data_uri")
                   for r in infers]
    known = [w for w in workspaces if w]
    check(f"{orchestrator} load: every run used its own workspace", len(known) == len(set(known)) == 2 * n,
          f"{len(set(known))} distinct of {len(workspaces)}")
    for r in infers:
        if r["succeeded"]:
            guarded(f"{orchestrator} load infer: object store checks", lambda o=r: verify_infer(o))
    for r in trains:
        if r["succeeded"]:
            guarded(f"{orchestrator} load train: MLflow checks", lambda o=r: verify_train(o))
    return results


# --- a bad dataset fails with one line and publishes nothing ----------------------------------


def cmd_bad_dataset(orchestrator: str, timeout: float) -> list[dict[str, Any]]:
    from ml.core import storage

    uri = f"s3://datasets/e2e/bad-{orchestrator}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.csv"
        with open(path, "w", newline="") as handle:  # no label column
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[i, f"some text {i}"] for i in range(50)])
        storage.publish(path, uri)
    client = mlflow_client()
    before = len(client.search_model_versions(f"name='{model_name()}'"))
    result = run_one(orchestrator, "train", {"dataset_uri": uri}, timeout)
    after = len(client.search_model_versions(f"name='{model_name()}'"))
    error = result.get("error") or ""
    check(f"{orchestrator} bad dataset: the run fails", not result["succeeded"], str(result.get("state")))
    check(f"{orchestrator} bad dataset: one-line reason names the problem",
          "error:" in error and "\n" not in error and "label" in error, error[:300])
    check(f"{orchestrator} bad dataset: no model version published", before == after,
          f"versions before {before}, after {after}")
    return [result]


# --- drift: a partition of another language is flagged, with its figures ---------------------

FOREIGN_WORDS = ["la", "livraison", "est", "arrivée", "très", "tard", "et", "le", "produit", "était", "cassé", "je", "veux", "être", "remboursé", "service", "client", "injoignable", "jamais", "plus", "chambre", "bruyante", "sale"]


def monitoring_status(run_id: str) -> str | None:
    """The drift verdict ml logged for one inference run (its monitoring run's `drift_status` tag)."""
    client = mlflow_client()
    experiment = client.get_experiment_by_name(f"monitoring/{model_name()}")
    if experiment is None:
        return None
    quoted = run_id.replace("'", "\\'")
    found = client.search_runs([experiment.experiment_id], f"tags.pipeline_run_id = '{quoted}'", max_results=1)
    return found[0].data.tags.get("drift_status") if found else None


def cmd_drift(timeout: float) -> list[dict[str, Any]]:
    """French texts of other lengths through both orchestrators at once: each run flags drift."""
    import random

    from ml.core import storage

    rng = random.Random(3)
    uri = "s3://datasets/e2e/french.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "french.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[f"fr-{i}", " ".join(rng.choice(FOREIGN_WORDS) for _ in range(rng.randint(30, 60)))]
                              for i in range(200)])
        storage.publish(path, uri)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="drift") as pool:
        futures = {o: pool.submit(run_one, o, "infer", {"input_uri": uri}, timeout) for o in trigger.ORCHESTRATORS}
        results = {o: f.result() for o, f in futures.items()}
    for orchestrator, result in results.items():
        check(f"{orchestrator} drift: the run on French texts succeeds (ML_DRIFT_BLOCKING=false: a warning)",
              result["succeeded"], str(result.get("error"))[:200])
        verdict = (result.get("results") or {}).get("check_drift") or {}
        status = monitoring_status(result["run_id"])
        detail = verdict.get("summary") or f"drift_status={status}"
        check(f"{orchestrator} drift: French texts are flagged as drift, with their figures in MLflow",
              status == "drift" and (orchestrator != "airflow" or verdict.get("status") == "drift"), detail[:300])
    return list(results.values())


# --- model lifecycle: another task under the same name (refused), rollback, history ------------


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
    check("history: each move listed once, in order, the last one to the champion", once and moved[-1].new == version,
          " -> ".join(f"{m.action}:v{m.new}" for m in moved)[:300])
    check("MLflow UI: the history is an experiment of finished runs",
          client.get_experiment_by_name(history.experiment_name(get_settings())) is not None, history.experiment_name(get_settings()))


# --- approval mode: a person decides, through Airflow's HITL task and Dagster's review_job ------

APPROVE_REASON = "e2e: approved after reading the confusion matrix"
REJECT_REASON = "e2e: rejected in the Dagster launchpad"


def _poll(what: str, fn: Callable[[], Any], timeout: float, poll: float = 3.0) -> Any:
    """`fn()` until it returns something truthy; TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(poll)


def approval_airflow(timeout: float) -> dict[str, Any]:
    """Train in approval mode, answer the HITL task through the REST API its UI form uses, check the registry."""
    from ml.core.config import get_settings
    from ml.lifecycle import history

    af, dag = airflow(), trigger.AIRFLOW_DAGS["train"]
    _poll("Airflow has no review_challenger task (ML_PROMOTION_MODE=approval not parsed)",
          lambda: "review_challenger" in {t["task_id"] for t in af.get(f"/api/v2/dags/{dag}/tasks")["tasks"]}, 300)
    outcome = trigger.run_airflow(af, "train", trigger.with_default_inputs("train", {"epochs": 1}, os.environ),
                                  timeout=timeout, poll=5, wait=False)
    hitl = f"{af.run_path(dag, outcome.run_id)}/taskInstances/review_challenger/-1/hitlDetails"
    detail = _poll("the review task never asked for input",
                   lambda: (r := af.http.request("GET", hitl, ok=(200, 404))).status_code == 200 and r.json(), timeout, 5)
    check("airflow approval: the run waits in the human-in-the-loop review task",
          detail.get("options") == ["Approve", "Reject"] and not detail.get("response_received"),
          str(detail.get("subject"))[:120])
    # Answer as a person would, seconds after the task parked: Airflow 3.3.2's scheduler can still be
    # processing the executor's report of the parking try, and an answer within that second raced it
    # (the resumed try was failed as "finished although queued") in an earlier run of this check.
    _poll("the review task never reached awaiting_input", lambda: af.get(
        f"{af.run_path(dag, outcome.run_id)}/taskInstances/review_challenger").get("state") == "awaiting_input", 120, 2)
    time.sleep(10)
    promote = af.xcom(dag, outcome.run_id, "promote_model")
    version = str(promote.get("version"))
    check(f"airflow approval: promote left v{version} awaiting approval, champion unmoved",
          promote.get("awaiting_approval") is True and promote.get("promoted") is False, promote.get("decision", "")[:200])
    af.http.request("PATCH", hitl, json={"chosen_options": ["Approve"], "params_input": {"reason": APPROVE_REASON}})
    run = _poll("the approved run never finished", lambda: (st := af.run_state(dag, outcome.run_id)).get("state")
                in ("success", "failed") and st, timeout, 5)
    states = {t["task_id"]: t.get("state") for t in af.task_instances(dag, outcome.run_id)}
    check("airflow approval: the run succeeds after the approval, apply_review included",
          run.get("state") == "success" and states.get("apply_review") == "success", f"{states}")
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
    promote = (result.get("results") or {}).get("registered_model") or {}
    version = str(promote.get("version"))
    check(f"dagster approval: the training run leaves v{version} awaiting approval",
          result["succeeded"] and promote.get("awaiting_approval") is True, str(promote.get("decision"))[:200])
    dg = dagster()
    repository = dg.find_job("review_job", trigger.DAGSTER_LOCATION, timeout=300)
    config = {"ops": {"review_model": {"config": {"version": version, "decision": "reject", "reason": REJECT_REASON}}}}
    run_id = dg.launch(repository, trigger.DAGSTER_LOCATION, "review_job", config, {"ml/triggered_by": "e2e"})
    status = _poll("review_job never finished",
                   lambda: (st := dg.run(run_id)["status"]) in ("SUCCESS", "FAILURE", "CANCELED") and st, timeout, 3)
    tags = mlflow_client().get_model_version(model_name(), version).tags or {}
    champion = mlflow_client().get_model_version_by_alias(model_name(), "champion").version
    last = history.read(get_settings())[-1]
    check(f"dagster approval: review_job rejects v{version}; champion stays v{before}; recorded",
          status == "SUCCESS" and tags.get("review") == "rejected" and champion == before
          and (last.action, last.reason, last.actor) == ("reject", REJECT_REASON, f"dagster:{run_id}"),
          f"status {status}, review={tags.get('review')}, champion v{champion}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checks.py")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("verify")
    load = sub.add_parser("load")
    load.add_argument("--orchestrator", required=True, choices=trigger.ORCHESTRATORS)
    load.add_argument("--n", type=int, default=5)
    load.add_argument("--param", action="append", default=[])
    bad = sub.add_parser("bad-dataset")
    bad.add_argument("--orchestrator", required=True, choices=trigger.ORCHESTRATORS)
    other = sub.add_parser("other-task")
    other.add_argument("--orchestrator", required=True, choices=trigger.ORCHESTRATORS)
    approval = sub.add_parser("approval")
    drifted = sub.add_parser("drift")
    after = sub.add_parser("lifecycle-verify")
    after.add_argument("--version", required=True)
    after.add_argument("--reason", required=True)
    for p in (load, bad, other, approval, drifted):
        p.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if args.command == "drift":
        runs = cmd_drift(args.timeout)
    elif args.command == "approval":
        runs = [r for r in (guarded("airflow approval", lambda: approval_airflow(args.timeout)),
                            guarded("dagster approval", lambda: approval_dagster(args.timeout))) if r]
    elif args.command == "other-task":
        runs, extra = cmd_other_task(args.orchestrator, args.timeout)
    elif args.command == "lifecycle-verify":
        cmd_lifecycle_verify(args.version, args.reason)
    elif args.command == "verify":
        cmd_verify(json.load(sys.stdin))
    elif args.command == "load":
        runs = cmd_load(args.orchestrator, args.n, args.timeout, trigger.parse_params(args.param))
    else:
        runs = cmd_bad_dataset(args.orchestrator, args.timeout)
    print(json.dumps({"checks": CHECKS, "runs": runs, "lifecycle": extra}, default=str))
    return 0 if all(c["passed"] for c in CHECKS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
