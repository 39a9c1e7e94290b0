"""Loopback HTTP servers that answer like Airflow 3.3's REST API v2 and Dagster 1.13's GraphQL API.

Why servers and not mocks: the trigger's requests (paths, methods, auth header, JSON bodies,
GraphQL documents and variables) really travel over HTTP and are checked here, and the answers
have the shapes recorded from the real APIs. Used by tests/test_trigger.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

Handler = Callable[[str, str, dict[str, list[str]], dict[str, str], Any], tuple[int, Any]]


class ApiServer:
    """A loopback HTTP server; `handle(method, path, query, headers, body)` -> (status, json)."""

    def __init__(self, handle: Handler) -> None:
        self.requests: list[tuple[float, str, str, Any]] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = unquote(parts.path)
                outer.requests.append((time.monotonic(), self.command, path, body))
                status, payload = handle(self.command, path, parse_qs(parts.query), dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Airflow REST API v2 ----------------------------------------------------------------------

TOKEN = "jwt-token-for-tests"
RUN_ID = "manual__2026-11-26T06:34:22.842943+00:00"
MODEL_URL = "http://localhost:5000/#/models/text-classifier/versions/7"
TRAIN_XCOMS = {
    "load_training_data": {"data_uri": "s3://ml-work/r/data", "rows": {"train": 80, "validation": 10, "test": 10}},
    "train_model": {"model_uri": "s3://ml-work/r/model", "mlflow_run_id": "abc", "device": "cpu",
                    "mlflow_run_url": "http://localhost:5000/#/experiments/1/runs/abc"},
    "evaluate_model": {"metrics": {"test_macro_f1": 0.91}, "mlflow_run_id": "abc"},
    "save_trained_model": {"model_name": "text-classifier", "version": "7", "alias": "challenger",
                           "model_uri": "models:/text-classifier/7",
                           "mlflow_model_url": "http://localhost:5000/#/models/text-classifier/versions/6"},
    "promote_model": {"model_name": "text-classifier", "version": "7", "promoted": True,
                      "champion_version": "7", "decision": "first version: promoted", "mlflow_model_url": MODEL_URL},
}
INFER_XCOMS = {
    "load_inference_data": {"data_uri": "s3://ml-work/i/data", "input_uri": "s3://datasets/daily/2026-11-25.csv",
                            "partition_date": "2026-11-25", "rows": 500},
    "load_trained_model": {"model_name": "text-classifier", "version": 7, "mlflow_model_url": MODEL_URL},
    "run_inference": {"predictions_uri": "s3://ml-work/i/predictions.parquet", "rows": 500},
    "check_drift": {"status": "ok", "summary": "no drift: text_length PSI 0.010", "rows": 500, "blocking": False},
    "save_inference_results": {"output_uri": "s3://predictions/run-1/predictions.parquet", "rows": 500,
                               "model_name": "text-classifier", "model_version": 7},
}
DAGS = {"ml_training": TRAIN_XCOMS, "ml_inference": INFER_XCOMS}


class FakeAirflow:
    """State machine of one DAG run, answering like Airflow 3.3's API server."""

    def __init__(self, dag_id: str = "ml_training", *, fail_task: str | None = None, password: str = "pw",
                 hold_first_trigger_s: float = 0) -> None:
        self.dag_id = dag_id
        self.run_id = RUN_ID  # the client's own id once it triggers
        self.runs_created = 0
        self.hold_first_trigger_s = hold_first_trigger_s
        self.xcoms = DAGS[dag_id]
        self.tasks = list(self.xcoms)
        self.fail_task = fail_task
        self.password = password
        self.dag_polls = 0
        self.run_polls = 0
        self.paused = True
        self.triggered: dict[str, Any] | None = None

    def ti_states(self) -> dict[str, str]:
        done = min(self.run_polls, len(self.tasks))
        states: dict[str, str] = {}
        for i, task in enumerate(self.tasks):
            if self.fail_task and self.tasks.index(self.fail_task) < i and i < done:
                states[task] = "upstream_failed"
            elif i < done:
                states[task] = "failed" if task == self.fail_task else "success"
            elif i == done:
                states[task] = "running"
            else:
                states[task] = "scheduled"
        return states

    def run_answer(self) -> dict[str, Any]:
        self.run_polls += 1
        states = self.ti_states()
        if any(s == "failed" for s in states.values()):
            state = "failed"
        elif all(s == "success" for s in states.values()):
            state = "success"
        else:
            state = "running"
        end = "2026-11-26T06:35:00+00:00" if state in ("success", "failed") else None
        return {"dag_run_id": self.run_id, "state": state, "start_date": "2026-11-26T06:34:23+00:00", "end_date": end}

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path == "/auth/token" and method == "POST":
            if body == {"username": "admin", "password": self.password}:
                return 201, {"access_token": TOKEN, "token_type": "bearer"}
            return 401, {"detail": "Invalid credentials"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"detail": "Not authenticated"}
        dag = f"/api/v2/dags/{self.dag_id}"
        if path == dag:
            if method == "PATCH":
                assert body == {"is_paused": False}
                self.paused = False
                return 200, {"dag_id": self.dag_id, "is_paused": False}
            self.dag_polls += 1
            if self.dag_polls == 1:  # not parsed yet
                return 404, {"detail": f"The DAG with dag_id: `{self.dag_id}` was not found"}
            return 200, {"dag_id": self.dag_id, "is_paused": self.paused}
        if path == f"{dag}/dagRuns" and method == "POST":
            assert "logical_date" in body and body["logical_date"] is None
            if self.triggered is not None and body.get("dag_run_id") == self.run_id:  # as Airflow: the id exists
                return 409, {"detail": f"DAG Run with dag_run_id '{self.run_id}' already exists"}
            self.triggered = body
            self.run_id = body.get("dag_run_id") or RUN_ID
            self.runs_created += 1
            if self.hold_first_trigger_s and self.runs_created == 1:
                time.sleep(self.hold_first_trigger_s)  # created, but the answer comes after the client gave up
            return 200, {"dag_run_id": self.run_id, "dag_id": self.dag_id, "state": "queued", "conf": body["conf"]}
        prefix = f"{dag}/dagRuns/{self.run_id}"
        if path == prefix:
            return 200, self.run_answer()
        if path == f"{prefix}/taskInstances":
            tis = [
                {"task_id": task, "state": state, "try_number": 1, "duration": 4.5 if state == "success" else None,
                 "start_date": f"2026-11-26T06:34:{30 + i}+00:00", "end_date": None}
                for i, (task, state) in enumerate(self.ti_states().items())
            ]
            return 200, {"task_instances": tis, "total_entries": len(tis)}
        if path.startswith(f"{prefix}/taskInstances/") and path.endswith("/xcomEntries/return_value"):
            task = path.split("/")[-3]
            if self.ti_states().get(task) != "success":
                return 404, {"detail": "XCom entry not found"}
            assert query.get("deserialize") == ["true"]
            return 200, {"key": "return_value", "task_id": task, "value": self.xcoms[task]}
        if path.startswith(f"{prefix}/taskInstances/") and "/logs/" in path:
            return 200, {"content": [
                {"event": "Launcher docker: CPU"},
                {"event": "error: dataset has no column 'label', s3://datasets/bad.csv, add a label column"},
                {"event": "Task failed with exception"},
            ], "continuation_token": None}
        return 404, {"detail": f"no route {method} {path}"}


# --- Dagster GraphQL --------------------------------------------------------------------------

DAGSTER_RUN = "3f1c2a5e-8a8e-4c55-9d4e-1a2b3c4d5e6f"


def text(label: str, value: str) -> dict[str, Any]:
    return {"__typename": "TextMetadataEntry", "label": label, "text": value}


def integer(label: str, value: int) -> dict[str, Any]:
    return {"__typename": "IntMetadataEntry", "label": label, "intValue": value}


def ml_result(value: dict[str, Any]) -> dict[str, Any]:
    """The entry each asset carries with its step's JSON result."""
    return {"__typename": "JsonMetadataEntry", "label": "ml_result", "jsonString": json.dumps(value)}


#: Per job: its steps, and the metadata of each asset it materializes (in event order).
DAGSTER_JOBS: dict[str, tuple[list[str], dict[str, list[dict[str, Any]]]]] = {
    "inference_job": (["inference_data", "production_model", "predictions", "published_predictions"], {
        "inference_data": [ml_result(INFER_XCOMS["load_inference_data"]), integer("dagster/row_count", 500)],
        "production_model": [ml_result(INFER_XCOMS["load_trained_model"]), text("model_name", "text-classifier")],
        # no ml_result: the result is all its entries
        "predictions": [integer("dagster/row_count", 500), text("predictions_uri", "s3://ml-work/i/p.parquet")],
        # only dagster/row_count besides ml_result: `rows` comes from ml_result alone
        "published_predictions": [ml_result(INFER_XCOMS["save_inference_results"]),
                                  integer("dagster/row_count", 500)],
    }),
    "training_job": (["training_data", "trained_model", "model_evaluation", "registered_model", "model_promotion"], {
        "training_data": [ml_result(TRAIN_XCOMS["load_training_data"])],
        "trained_model": [ml_result(TRAIN_XCOMS["train_model"])],
        "model_evaluation": [ml_result(TRAIN_XCOMS["evaluate_model"])],
        "registered_model": [ml_result(TRAIN_XCOMS["save_trained_model"]), text("model_name", "text-classifier")],
        "model_promotion": [ml_result(TRAIN_XCOMS["promote_model"])],
    }),
}


class FakeDagster:
    """Answers `/graphql` like Dagster 1.13's webserver for one run of `job`."""

    def __init__(self, job: str = "inference_job", *, fail: bool = False, invalid_config: bool = False,
                 hold_first_launch_s: float = 0) -> None:
        self.steps, self.materializations = DAGSTER_JOBS[job]
        self.hold_first_launch_s = hold_first_launch_s
        self.launches = 0
        self.run_tags: dict[str, str] = {}
        self.fail_step = self.steps[2] if fail else None
        self.invalid_config = invalid_config
        self.polls = 0
        self.launched: dict[str, Any] | None = None
        self.repo_polls = 0

    def repositories(self) -> dict[str, Any]:
        self.repo_polls += 1
        if self.repo_polls == 1:  # the code location is still loading
            return {"repositoriesOrError": {"__typename": "PythonError", "message": "location ml is loading"}}
        return {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [
            {"name": "__repository__", "location": {"name": "ml"},
             "jobs": [{"name": "training_job"}, {"name": "inference_job"}, {"name": "__ASSET_JOB"}]},
        ]}}

    def launch(self, variables: dict[str, Any]) -> dict[str, Any]:
        self.launched = variables["executionParams"]
        self.launches += 1
        if self.hold_first_launch_s and self.launches == 1:
            self.run_tags = {t["key"]: t["value"] for t in self.launched["executionMetadata"]["tags"]}
            time.sleep(self.hold_first_launch_s)  # launched, but the answer comes after the client gave up
        if self.invalid_config:
            return {"launchPipelineExecution": {"__typename": "RunConfigValidationInvalid", "errors": [
                {"__typename": "FieldNotDefinedConfigError", "path": [], "reason": "FIELD_NOT_DEFINED",
                 "message": 'Received unexpected config entry "bogus" at path root:ops:inference_data:config.'}]}}
        return {"launchPipelineExecution": {"__typename": "LaunchRunSuccess", "run": {"runId": DAGSTER_RUN}}}

    def run(self, variables: dict[str, Any]) -> dict[str, Any]:
        assert variables == {"runId": DAGSTER_RUN}
        self.polls += 1
        done = min(self.polls - 1, len(self.steps))
        steps = []
        for i, key in enumerate(self.steps[: done + 1]):
            status = "SUCCESS" if i < done else "IN_PROGRESS"
            if key == self.fail_step and i < done:
                status = "FAILURE"
            steps.append({"stepKey": key, "status": status, "startTime": 1000.0 + i,
                          "endTime": 1002.5 + i if status != "IN_PROGRESS" else None})
            if status == "FAILURE":
                break
        failed = any(s["status"] == "FAILURE" for s in steps)
        status = "FAILURE" if failed else ("SUCCESS" if done == len(self.steps) else
                                           ("QUEUED" if self.polls == 1 else "STARTED"))
        mats = [{"assetKey": {"path": [asset]}, "stepKey": asset, "metadataEntries": entries}
                for asset, entries in self.materializations.items()] if status == "SUCCESS" else []
        return {"runOrError": {
            "__typename": "Run", "runId": DAGSTER_RUN, "status": status, "startTime": 999.0,
            "endTime": 1010.0 if status in ("SUCCESS", "FAILURE") else None,
            "stepStats": steps, "assetMaterializations": mats}}

    def events(self) -> dict[str, Any]:
        checks = [{"__typename": "AssetCheckEvaluationEvent", "stepKey": "predictions_input_drift", "evaluation": {
            "checkName": "input_drift", "success": True, "description": INFER_XCOMS["check_drift"]["summary"],
            "assetKey": {"path": ["predictions"]}, "metadataEntries": [ml_result(INFER_XCOMS["check_drift"])]}}
                  ] if "predictions" in self.steps else []
        return {"logsForRun": {"__typename": "EventConnection", "events": [
            {"__typename": "RunStartEvent", "message": "Started execution of run"}, *checks,
            {"__typename": "ExecutionStepFailureEvent", "stepKey": self.fail_step, "message": "failed",
             "error": {"message": "dagster._core.errors.Failure: ml predict failed (exit 2)\n"
                                  "error: model version 99 not found, models:/text-classifier/99, "
                                  "register it or use the champion alias\n"}},
            {"__typename": "RunFailureEvent", "message": "Execution of run failed."},
        ]}}

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path != "/graphql" or method != "POST":
            return 404, {"detail": "not found"}
        document, variables = body["query"], body.get("variables") or {}
        if "repositoriesOrError" in document:
            return 200, {"data": self.repositories()}
        if "runsOrError" in document:  # runs whose tags match the filter (the one run, or none)
            match = self.run_tags.get(variables["key"]) == variables["value"]
            return 200, {"data": {"runsOrError": {"__typename": "Runs",
                                                  "results": [{"runId": DAGSTER_RUN}] if match else []}}}
        if "launchPipelineExecution" in document:
            return 200, {"data": self.launch(variables)}
        if "runOrError" in document:
            return 200, {"data": self.run(variables)}
        if "logsForRun" in document:
            return 200, {"data": self.events()}
        return 200, {"errors": [{"message": f"unexpected query {document[:40]}"}]}
