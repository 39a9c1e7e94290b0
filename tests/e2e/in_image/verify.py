"""Checks of the running stack's runs, inside the ml image (`stack.in_ml_image("verify", ...)`).

Why inside: the checks need the service names, the credentials from .env and the project's own
clients (MLflow, the object store, `ml_trigger` for Airflow and Dagster), none of which the host
must have. Each sub-command prints {"checks": [...], "runs": [...]} as its last stdout line.

    python -m tests.e2e.in_image.verify runs < runs.json     # runs made by `make train/infer`
    python -m tests.e2e.in_image.verify champion             # champion where the rule puts it
    python -m tests.e2e.in_image.verify load --orchestrator airflow --n 5
    python -m tests.e2e.in_image.verify bad-dataset --orchestrator dagster
    python -m tests.e2e.in_image.verify drift                # French texts through both: drift flagged
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ml_trigger as trigger  # mounted from the checkout by the driver (not in the ml image)
from ml.pipelines.spec import pipeline as spec

from ..checklist import check, emit, guarded
from .common import airflow, dagster, mlflow_client, model_name, monitoring_status, read_predictions, versions_of_run

ORCHESTRATORS = ("airflow", "dagster")


# --- what a run says about itself, re-read through each system's own API ---------------------


def api_state(outcome: dict[str, Any]) -> str:
    """The run's final state as the orchestrator's API reports it now (not the trigger's copy)."""
    if outcome["orchestrator"] == "airflow":
        dag = spec(outcome["pipeline"]).airflow_dag
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


def verify_champion(record: Callable[..., bool] = check) -> None:
    """`champion` is where the documented rule puts it (docs/pipelines.md, "Model lifecycle").

    Written from the rule's text, not with ml.lifecycle.champion: the pinned version if pinned; else the
    best version (highest metric, ties to the newest) among the READY versions of the champion's
    task signature that are neither pending, rejected nor demoted. Metric and task signature are
    what each version's MLflow run measured (a version's own tags may be forged: the security phase
    does). Two checks, made with `record`.
    """
    client = mlflow_client()
    name = model_name()
    metric = os.environ.get("ML_PROMOTION_METRIC", "test_macro_f1")

    def measured(version: Any) -> tuple[float | None, str | None]:
        run = client.get_run(version.run_id) if version.run_id else None
        return (run.data.metrics.get(metric), run.data.tags.get("task_signature")) if run else (None, None)

    champion = client.get_model_version_by_alias(name, "champion")
    pin = (client.get_registered_model(name).tags or {}).get("champion_pin")
    task = measured(champion)[1]
    versions = [v for v in client.search_model_versions(f"name='{name}'") if v.status == "READY"]
    scored = []
    for v in versions:
        score, signature = measured(v)
        if score is not None and signature == task and (v.tags or {}).get("review") not in ("pending", "rejected", "demoted"):
            scored.append((float(score), int(v.version)))
    expected = int(json.loads(pin)["version"]) if pin else (max(scored)[1] if scored else None)
    record("MLflow: champion is where the rule puts it (pin, else the best of its task)",
          expected is not None and int(champion.version) == expected,
          f"champion=v{champion.version}, expected v{expected} ({'pinned' if pin else f'best by {metric} of {len(scored)} eligible'})")
    aliases = client.get_registered_model(name).aliases or {}
    record("MLflow: model has champion and challenger aliases", {"champion", "challenger"} <= set(aliases),
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


#: A line the ml library itself logs in each pipeline (not the orchestrator), and the step that logs it.
LOG_MARKERS = {"train": ("evaluate", "test accuracy="), "infer": ("save-predictions", " predictions to ")}


def verify_logs(outcome: dict[str, Any]) -> None:
    """The ml container's own log lines are visible through the orchestrator's API (its UI's source)."""
    label = f"{outcome['orchestrator']} {outcome['pipeline']}"
    step, marker = LOG_MARKERS[outcome["pipeline"]]
    task = spec(outcome["pipeline"]).step(step).airflow_task
    if outcome["orchestrator"] == "airflow":
        dag = spec(outcome["pipeline"]).airflow_dag
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


def cmd_runs(runs: list[dict[str, Any]]) -> None:
    """Each run's own checks: 7 per training run, 6 per inference run."""
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


# --- load test: n training + n inference runs at once ----------------------------------------


def run_one(orchestrator: str, pipeline: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Trigger one run through ml_trigger (as `make train|infer` does) and follow it to its end."""
    params = trigger.with_default_inputs(pipeline, params, os.environ)
    if orchestrator == "airflow":
        outcome = trigger.run_airflow(airflow(), pipeline, params, timeout=timeout, poll=5)
    else:
        outcome = trigger.run_dagster(dagster(), pipeline, params, timeout=timeout, poll=5)
    return {**outcome.as_dict(), "summary": trigger.summarize(outcome)}


def cmd_load(orchestrator: str, n: int, timeout: float, train_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Start n trainings and n inferences together; all must succeed, isolated from each other.

    3 + 5 n + 4 n checks: the three of the batch, then each training's and each inference's own.
    """
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
    workspaces = [r["results"].get("load-training-data", {}).get("data_uri")
                  for r in trains]
    workspaces += [r["results"].get("load-inference-data", {}).get("data_uri")
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
    """A dataset without a label column: the run fails with one line, no version carries its run id."""
    from ml.core import storage

    uri = f"s3://datasets/e2e/bad-{orchestrator}.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.csv"
        with open(path, "w", newline="") as handle:  # no label column
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[i, f"some text {i}"] for i in range(50)])
        storage.publish(path, uri)
    result = run_one(orchestrator, "train", {"dataset_uri": uri}, timeout)
    # this run's versions, not the registry's count: other phases may register versions meanwhile
    published = versions_of_run(result["run_id"]) if result.get("run_id") else ["(no run id)"]
    error = result.get("error") or ""
    check(f"{orchestrator} bad dataset: the run fails", not result["succeeded"], str(result.get("state")))
    check(f"{orchestrator} bad dataset: one-line reason names the problem",
          "error:" in error and "\n" not in error and "label" in error, error[:300])
    check(f"{orchestrator} bad dataset: no model version published", published == [],
          f"versions of run {result.get('run_id')}: {published}")
    return [result]


# --- drift: a partition of another language is flagged, with its figures ---------------------

FOREIGN_WORDS = ["la", "livraison", "est", "arrivée", "très", "tard", "et", "le", "produit", "était", "cassé", "je", "veux", "être", "remboursé", "service", "client", "injoignable", "jamais", "plus", "chambre", "bruyante", "sale"]


def cmd_drift(timeout: float) -> list[dict[str, Any]]:
    """French texts of other lengths through both orchestrators at once: each run flags drift."""
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
        futures = {o: pool.submit(run_one, o, "infer", {"input_uri": uri}, timeout) for o in ORCHESTRATORS}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.in_image.verify")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("runs", help="the runs (JSON list on stdin)")
    sub.add_parser("champion", help="champion where the rule puts it, with both aliases")
    load = sub.add_parser("load")
    load.add_argument("--orchestrator", required=True, choices=ORCHESTRATORS)
    load.add_argument("--n", type=int, default=5)
    load.add_argument("--param", action="append", default=[])
    bad = sub.add_parser("bad-dataset")
    bad.add_argument("--orchestrator", required=True, choices=ORCHESTRATORS)
    drifted = sub.add_parser("drift")
    for p in (load, bad, drifted):
        p.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)

    def dispatch() -> list[dict[str, Any]]:
        if args.command == "runs":
            cmd_runs(json.load(sys.stdin))
            return []
        if args.command == "champion":
            guarded("MLflow: champion checks", verify_champion)
            return []
        if args.command == "load":
            return cmd_load(args.orchestrator, args.n, args.timeout, trigger.parse_params(args.param))
        if args.command == "bad-dataset":
            return cmd_bad_dataset(args.orchestrator, args.timeout)
        return cmd_drift(args.timeout)

    # a crash is a failed check with its reason, and the JSON line is printed all the same
    return emit(runs=guarded(f"verify {args.command} ran to the end", dispatch) or [])


if __name__ == "__main__":
    raise SystemExit(main())
