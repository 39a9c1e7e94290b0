"""Trigger a pipeline through an orchestrator's own API and wait for it: `make train` / `make infer`.

    python -m ml.trigger train|infer --orchestrator airflow|dagster [--param key=value ...]

Why here: `make train` must need nothing on the host but docker and make, so this runs inside the
ml image (`docker compose run --rm ml-cli python -m ml.trigger ...`) and talks plain HTTP:
Airflow's REST API v2 (JWT from `/auth/token`) and Dagster's GraphQL API. It never imports
airflow or dagster. Progress goes to stderr as task/step states change; the final summary is
printed for people and, as the contract of every `ml` command, one JSON object is the last
stdout line. Exit code 0 when the run succeeded, 1 when it failed, 2 on bad usage, 75 when an
API stayed unreachable, 124 on timeout.

Environment: AIRFLOW_URL, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD, DAGSTER_URL, and for the
links shown to people AIRFLOW_PUBLIC_URL, DAGSTER_PUBLIC_URL, MLFLOW_PUBLIC_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 75, 124

PIPELINES = ("train", "infer")
ORCHESTRATORS = ("airflow", "dagster")
AIRFLOW_DAGS = {"train": "ml_training", "infer": "ml_inference"}
DAGSTER_JOBS = {"train": "training_job", "infer": "inference_job"}
DAGSTER_LOCATION = "ml"

AIRFLOW_TERMINAL = {"success", "failed"}
DAGSTER_TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class TriggerError(Exception):
    """A problem that ends the command with a one-line reason and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Outcome:
    """What a finished run left behind: state, per-step timings, the steps' results, links."""

    orchestrator: str
    pipeline: str
    run_id: str
    state: str
    succeeded: bool
    wall_s: float
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "orchestrator": self.orchestrator,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "state": self.state,
            "succeeded": self.succeeded,
            "wall_s": round(self.wall_s, 2),
            "steps": self.steps,
            "results": self.results,
            "error": self.error,
            "links": self.links,
        }


def log(message: str) -> None:
    """Progress for people: stderr, flushed at once (the terminal shows it live)."""
    print(message, file=sys.stderr, flush=True)


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs -> dict; values that parse as JSON (numbers, true, null) keep that type."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TriggerError(f"--param {item!r} is not key=value, e.g. --param epochs=2", EXIT_USAGE)
        try:
            value: Any = json.loads(raw)
            if isinstance(value, (dict, list)):
                value = raw
        except ValueError:
            value = raw
        params[key] = value
    return params


class Http:
    """A `requests` session with timeouts, retries on connection errors, and one-line errors."""

    def __init__(self, base_url: str, name: str, *, timeout: float = 30, retries: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.retries = int(os.environ.get("ML_TRIGGER_RETRIES", "5")) if retries is None else retries
        self.session = requests.Session()

    def request(self, method: str, path: str, *, ok: Sequence[int] = (200,), **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}{path}"
        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise TriggerError(
                        f"{self.name} API unreachable at {self.base_url} ({type(exc).__name__}); "
                        f"is the stack up? try: make up",
                        EXIT_UNREACHABLE,
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            if response.status_code in ok:
                return response
            if response.status_code >= 500 and attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            raise TriggerError(
                f"{self.name} API: {method} {path} answered {response.status_code}: {_detail(response)}"
            )
        raise AssertionError("unreachable")


def _detail(response: requests.Response) -> str:
    """The short error text of an API response."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error") or body
        return json.dumps(detail)[:300] if not isinstance(detail, str) else detail[:300]
    return json.dumps(body)[:300]


def _duration(start: str | float | None, end: str | float | None) -> float | None:
    """Seconds between two ISO timestamps or epoch floats; None when either is missing."""
    from datetime import datetime

    def to_epoch(value: str | float | None) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)):
            return float(value)
        return datetime.fromisoformat(value).timestamp()

    a, b = to_epoch(start), to_epoch(end)
    return round(b - a, 2) if a is not None and b is not None else None


# --- Airflow ----------------------------------------------------------------------------------


class AirflowClient:
    """Airflow 3 REST API v2 with a JWT from `/auth/token`."""

    def __init__(self, base_url: str, username: str, password: str, *, public_url: str | None = None) -> None:
        if not username or not password:
            raise TriggerError(
                "AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD are not set; they live in .env (make up creates it)",
                EXIT_USAGE,
            )
        self.http = Http(base_url, "Airflow")
        self.public_url = (public_url or base_url).rstrip("/")
        self.username = username
        self.password = password

    def login(self) -> None:
        response = self.http.request(
            "POST", "/auth/token", ok=(200, 201), json={"username": self.username, "password": self.password}
        )
        token = response.json().get("access_token")
        if not token:
            raise TriggerError("Airflow /auth/token returned no access_token")
        self.http.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        return self.http.request("GET", path, params=params or None).json()

    def wait_for_dag(self, dag_id: str, timeout: float, poll: float = 3.0) -> dict[str, Any]:
        """The DAG, once the dag-processor has parsed it; unpaused so that runs start."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.request("GET", f"/api/v2/dags/{quote(dag_id)}", ok=(200, 404))
            if response.status_code == 200:
                dag = response.json()
                break
            if time.monotonic() > deadline:
                errors = self.get("/api/v2/importErrors").get("import_errors", [])
                hint = f"; import errors: {errors[0].get('stack_trace', '')[-300:]}" if errors else ""
                raise TriggerError(f"Airflow has no DAG {dag_id!r} after {timeout:.0f} s{hint}")
            log(f"[airflow] waiting for DAG {dag_id} to be parsed ...")
            time.sleep(poll)
        if dag.get("is_paused"):
            log(f"[airflow] DAG {dag_id} is paused; unpausing it")
            self.http.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": False})
        return dag

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        response = self.http.request(
            "POST",
            f"/api/v2/dags/{quote(dag_id)}/dagRuns",
            json={"logical_date": None, "conf": dict(conf)},
        )
        return str(response.json()["dag_run_id"])

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}"

    def run_state(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(self.run_path(dag_id, run_id))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"{self.run_path(dag_id, run_id)}/taskInstances").get("task_instances", [])

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        response = self.http.request(
            "GET",
            f"{self.run_path(dag_id, run_id)}/taskInstances/{quote(task_id)}/xcomEntries/return_value",
            ok=(200, 404),
            params={"deserialize": "true"},
        )
        if response.status_code == 404:
            return None
        value = response.json().get("value")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log text (the ml container's output lands here)."""
        response = self.http.request(
            "GET",
            f"{self.run_path(dag_id, run_id)}/taskInstances/{quote(task_id)}/logs/{try_number}",
            ok=(200, 404),
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        if response.status_code == 404:
            return ""
        content = response.json().get("content", "")
        if isinstance(content, list):
            lines = []
            for item in content:
                if isinstance(item, dict):
                    lines.append(str(item.get("event", "")))
                else:
                    lines.append(str(item))
            return "\n".join(lines)
        return str(content)

    def ui_link(self, dag_id: str, run_id: str) -> str:
        return f"{self.public_url}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def failure_reason(text: str) -> str | None:
    """The `error: ...` line the ml step printed (the step contract), if any."""
    for line in reversed(text.splitlines()):
        index = line.find("error: ")
        if index >= 0:
            return line[index:].strip()
    return None


def run_airflow(
    client: AirflowClient,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    timeout: float,
    poll: float,
    wait: bool = True,
) -> Outcome:
    """Trigger the pipeline's DAG, print task states as they change, collect results."""
    dag_id = AIRFLOW_DAGS[pipeline]
    client.login()
    client.wait_for_dag(dag_id, timeout=min(timeout, 300), poll=max(poll, 0.01))
    started = time.monotonic()
    run_id = client.trigger(dag_id, params)
    link = client.ui_link(dag_id, run_id)
    log(f"[airflow] triggered {dag_id} run {run_id}\n[airflow] {link}")
    outcome = Outcome("airflow", pipeline, run_id, "queued", False, 0.0, links={"run": link})
    if not wait:
        return outcome
    seen: dict[str, str] = {}
    deadline = started + timeout
    while True:
        run = client.run_state(dag_id, run_id)
        tasks = client.task_instances(dag_id, run_id)
        for ti in sorted(tasks, key=lambda t: t.get("start_date") or "9"):
            state = ti.get("state") or "none"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                elapsed = time.monotonic() - started
                log(f"[airflow] {elapsed:7.1f}s  {ti['task_id']:<40} {state}")
        state = run.get("state") or "unknown"
        if state in AIRFLOW_TERMINAL:
            break
        if time.monotonic() > deadline:
            outcome.state = state
            outcome.wall_s = time.monotonic() - started
            raise _Timeout(outcome, timeout)
        time.sleep(poll)
    outcome.wall_s = _duration(run.get("start_date"), run.get("end_date")) or (time.monotonic() - started)
    outcome.state = state
    outcome.succeeded = state == "success"
    for ti in tasks:
        outcome.steps[ti["task_id"]] = {
            "state": ti.get("state"),
            "duration_s": round(float(ti["duration"]), 2) if ti.get("duration") is not None
            else _duration(ti.get("start_date"), ti.get("end_date")),
            "try_number": ti.get("try_number"),
        }
        if ti.get("state") == "success":
            value = client.xcom(dag_id, run_id, ti["task_id"])
            if isinstance(value, dict):
                outcome.results[ti["task_id"]] = value
    if not outcome.succeeded:
        for ti in tasks:
            if ti.get("state") == "failed":
                text = client.task_log(dag_id, run_id, ti["task_id"], max(int(ti.get("try_number") or 1), 1))
                reason = failure_reason(text) or f"task {ti['task_id']} failed (see its log)"
                outcome.error = f"{ti['task_id']}: {reason}"
                break
        outcome.error = outcome.error or f"DAG run ended {state}"
    return outcome


# --- Dagster ----------------------------------------------------------------------------------

_RUN_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status startTime endTime
      stepStats { stepKey status startTime endTime }
      assetMaterializations {
        assetKey { path }
        stepKey
        metadataEntries {
          __typename label
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
          ... on BoolMetadataEntry { boolValue }
          ... on JsonMetadataEntry { jsonString }
          ... on UrlMetadataEntry { url }
          ... on PathMetadataEntry { path }
          ... on MarkdownMetadataEntry { mdStr }
        }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

_RUN_EVENTS_QUERY = """
query RunFailures($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
        ... on AssetCheckEvaluationEvent {
          stepKey
          evaluation { checkName success description assetKey { path } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

_REPOSITORIES_QUERY = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes { name location { name } jobs { name } }
    }
    ... on PythonError { message }
  }
}
"""

_LAUNCH_MUTATION = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on UnauthorizedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on RunConflict { message }
    ... on PythonError { message }
  }
}
"""


class DagsterClient:
    """Dagster's GraphQL API (`/graphql` of the webserver)."""

    def __init__(self, base_url: str, *, public_url: str | None = None) -> None:
        self.http = Http(base_url, "Dagster")
        self.public_url = (public_url or base_url).rstrip("/")

    def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request("POST", "/graphql", json={"query": query, "variables": dict(variables or {})})
        body = response.json()
        if body.get("errors"):
            raise TriggerError(f"Dagster GraphQL error: {body['errors'][0].get('message', body['errors'][0])}")
        return body["data"]

    def find_job(self, job: str, location: str, timeout: float, poll: float = 3.0) -> str:
        """The repository name that holds `job` in `location` (waits for the code location)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.query(_REPOSITORIES_QUERY)["repositoriesOrError"]
            if data["__typename"] == "RepositoryConnection":
                for repo in data["nodes"]:
                    if repo["location"]["name"] == location and any(j["name"] == job for j in repo["jobs"]):
                        return str(repo["name"])
                problem = f"no job {job!r} in code location {location!r}"
            else:
                problem = f"code location not loaded: {data.get('message', data['__typename'])}"
            if time.monotonic() > deadline:
                raise TriggerError(f"Dagster: {problem} after {timeout:.0f} s")
            log(f"[dagster] waiting: {problem}")
            time.sleep(poll)

    def launch(self, repository: str, location: str, job: str, run_config: Mapping[str, Any],
               tags: Mapping[str, str]) -> str:
        params = {
            "selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": job},
            "runConfigData": dict(run_config),
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        result = self.query(_LAUNCH_MUTATION, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return str(result["run"]["runId"])
        if result["__typename"] == "RunConfigValidationInvalid":
            messages = "; ".join(e["message"] for e in result["errors"])
            raise TriggerError(f"Dagster rejected the run config: {messages}", EXIT_USAGE)
        raise TriggerError(f"Dagster launchRun failed: {result['__typename']}: {result.get('message', result)}")

    def run(self, run_id: str) -> dict[str, Any]:
        data = self.query(_RUN_QUERY, {"runId": run_id})["runOrError"]
        if data["__typename"] != "Run":
            raise TriggerError(f"Dagster run {run_id}: {data.get('message', data['__typename'])}")
        return data

    def failure(self, run_id: str) -> str | None:
        """The one-line reason of a failed run: the step's `error:` line, else the first failure."""
        data = self.query(_RUN_EVENTS_QUERY, {"runId": run_id})["logsForRun"]
        if data["__typename"] != "EventConnection":
            return None
        first: str | None = None
        for event in data["events"]:
            text = None
            if event["__typename"] == "AssetCheckEvaluationEvent":
                evaluation = event.get("evaluation") or {}
                if not evaluation.get("success"):
                    asset = "/".join((evaluation.get("assetKey") or {}).get("path") or [])
                    description = (evaluation.get("description") or "failed").strip()
                    if not description.startswith("error:"):
                        description = f"error: {description}"
                    return f"{asset} (check {evaluation.get('checkName')}): {description}"
            elif event["__typename"] == "ExecutionStepFailureEvent":
                text = (event.get("error") or {}).get("message") or event.get("message")
                reason = failure_reason(text or "")
                if reason:
                    return f"{event.get('stepKey')}: {reason}"
                first = first or f"{event.get('stepKey')}: {(text or '').strip().splitlines()[0] if text else 'failed'}"
            elif event["__typename"] == "RunFailureEvent":
                first = first or event.get("message")
        return first

    def ui_link(self, run_id: str) -> str:
        return f"{self.public_url}/runs/{run_id}"


def metadata_value(entry: Mapping[str, Any]) -> Any:
    """The value of one Dagster metadata entry, whatever its type."""
    for key in ("text", "intValue", "floatValue", "boolValue", "url", "path", "mdStr"):
        if key in entry and entry[key] is not None:
            return entry[key]
    if entry.get("jsonString") is not None:
        try:
            return json.loads(entry["jsonString"])
        except ValueError:
            return entry["jsonString"]
    return None


#: Which asset (op) of each Dagster job takes which `--param` (mirrors the Airflow DAG params).
DAGSTER_PARAM_OPS: dict[str, dict[str, str]] = {
    "train": {
        "dataset_uri": "training_data",
        "base_model": "trained_model",
        "epochs": "trained_model",
        "learning_rate": "trained_model",
        "batch_size": "trained_model",
        "seed": "trained_model",
        "max_train_samples": "trained_model",
    },
    "infer": {
        "input_uri": "inference_data",
        "model_version": "production_model",
        "model_alias": "production_model",
        "output_uri": "published_predictions",
    },
}


def dagster_run_config(pipeline: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run config for the job: each `--param` goes to the config of the asset that takes it.

    `--param run_config=<json>` passes a complete run config instead (any shape the job takes).
    """
    if "run_config" in params:
        raw = params["run_config"]
        try:
            config = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise TriggerError(f"--param run_config is not JSON: {exc}", EXIT_USAGE) from None
        if not isinstance(config, dict):
            raise TriggerError("--param run_config must be a JSON object", EXIT_USAGE)
        return config
    table = DAGSTER_PARAM_OPS[pipeline]
    ops: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if key not in table:
            raise TriggerError(
                f"unknown {pipeline} parameter {key!r}; known: {', '.join(sorted(table))} (or run_config=<json>)",
                EXIT_USAGE,
            )
        ops.setdefault(table[key], {"config": {}})["config"][key] = value
    return {"ops": ops} if ops else {}


def run_dagster(
    client: DagsterClient,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    timeout: float,
    poll: float,
    location: str = DAGSTER_LOCATION,
    run_config_builder: Callable[[str, Mapping[str, Any]], dict[str, Any]] = dagster_run_config,
    wait: bool = True,
) -> Outcome:
    """Launch the pipeline's job, print step states as they change, collect asset metadata."""
    job = DAGSTER_JOBS[pipeline]
    run_config = run_config_builder(pipeline, params)  # bad params fail before any API call
    repository = client.find_job(job, location, timeout=min(timeout, 300), poll=max(poll, 0.01))
    started = time.monotonic()
    run_id = client.launch(repository, location, job, run_config, {"ml/triggered_by": "ml.trigger"})
    link = client.ui_link(run_id)
    log(f"[dagster] launched {job} run {run_id}\n[dagster] {link}")
    outcome = Outcome("dagster", pipeline, run_id, "QUEUED", False, 0.0, links={"run": link})
    if not wait:
        return outcome
    seen: dict[str, str] = {}
    last_status = ""
    deadline = started + timeout
    while True:
        run = client.run(run_id)
        if run["status"] != last_status:
            last_status = run["status"]
            log(f"[dagster] {time.monotonic() - started:7.1f}s  {'(run)':<40} {last_status}")
        for step in sorted(run.get("stepStats") or [], key=lambda s: s.get("startTime") or 9e18):
            status = step.get("status") or "PENDING"
            if seen.get(step["stepKey"]) != status:
                seen[step["stepKey"]] = status
                log(f"[dagster] {time.monotonic() - started:7.1f}s  {step['stepKey']:<40} {status}")
        if run["status"] in DAGSTER_TERMINAL:
            break
        if time.monotonic() > deadline:
            outcome.state = run["status"]
            outcome.wall_s = time.monotonic() - started
            raise _Timeout(outcome, timeout)
        time.sleep(poll)
    outcome.state = run["status"]
    outcome.succeeded = run["status"] == "SUCCESS"
    outcome.wall_s = _duration(run.get("startTime"), run.get("endTime")) or (time.monotonic() - started)
    for step in run.get("stepStats") or []:
        outcome.steps[step["stepKey"]] = {
            "state": step.get("status"),
            "duration_s": _duration(step.get("startTime"), step.get("endTime")),
        }
    for event in run.get("assetMaterializations") or []:
        name = "/".join(event["assetKey"]["path"])
        outcome.results[name] = {e["label"]: metadata_value(e) for e in event.get("metadataEntries") or []}
    if not outcome.succeeded:
        outcome.error = client.failure(run_id) or f"run ended {run['status']}"
    return outcome


class _Timeout(Exception):
    def __init__(self, outcome: Outcome, timeout: float) -> None:
        super().__init__(f"run {outcome.run_id} still {outcome.state} after {timeout:.0f} s")
        self.outcome = outcome


# --- summary ----------------------------------------------------------------------------------


def find_value(results: Mapping[str, Any], *keys: str) -> Any:
    """The first value under any of `keys` in the steps' results (the last step wins ties)."""
    for result in reversed(list(results.values())):
        if isinstance(result, Mapping):
            for key in keys:
                if result.get(key) not in (None, ""):
                    return result[key]
    return None


def summarize(outcome: Outcome, mlflow_public_url: str | None) -> dict[str, Any]:
    """The headline facts of a run, for people and for scripts (`make e2e`)."""
    results = outcome.results
    summary: dict[str, Any] = {}
    if outcome.pipeline == "train":
        summary["model_name"] = find_value(results, "model_name")
        summary["model_version"] = find_value(results, "version", "model_version")
        summary["alias"] = find_value(results, "alias")
        summary["promoted"] = find_value(results, "promoted")
        summary["champion_version"] = find_value(results, "champion_version")
        summary["decision"] = find_value(results, "decision")
    else:
        summary["predictions_uri"] = find_value(results, "output_uri")
        summary["model_name"] = find_value(results, "model_name")
        summary["model_version"] = find_value(results, "model_version", "version")
        summary["rows"] = find_value(results, "rows")
    if mlflow_public_url and summary.get("model_name"):
        base = mlflow_public_url.rstrip("/")
        name = quote(str(summary["model_name"]), safe="")
        link = f"{base}/#/models/{name}"
        if summary.get("model_version") is not None:
            link += f"/versions/{summary['model_version']}"
        outcome.links["mlflow"] = link
    return summary


def print_summary(outcome: Outcome, summary: Mapping[str, Any]) -> None:
    """Human-readable end of the run (stderr); the JSON goes to stdout separately."""
    mark = "SUCCEEDED" if outcome.succeeded else "FAILED"
    log(f"\n{outcome.orchestrator} {outcome.pipeline} run {outcome.run_id}: {mark} ({outcome.state}) "
        f"in {outcome.wall_s:.1f}s")
    for step, info in outcome.steps.items():
        duration = info.get("duration_s")
        log(f"  {step:<44} {info.get('state')!s:<16} {'' if duration is None else f'{duration:.1f}s'}")
    if outcome.error:
        log(f"  reason: {outcome.error}")
    for key, value in summary.items():
        if value is not None:
            log(f"  {key}: {value}")
    for name, link in outcome.links.items():
        log(f"  {name} UI: {link}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml.trigger",
        description="Trigger the training or inference pipeline through Airflow or Dagster and wait for it.",
    )
    parser.add_argument("pipeline", choices=PIPELINES)
    parser.add_argument("--orchestrator", "-o", choices=ORCHESTRATORS,
                        default=os.environ.get("ORCHESTRATOR", "airflow") or "airflow")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline parameter (Airflow DAG param / Dagster config), repeatable")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ML_TRIGGER_TIMEOUT", "3600")),
                        help="seconds to wait for the run (default 3600)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between status polls")
    parser.add_argument("--no-wait", action="store_true", help="trigger, print the run id and return")
    return parser


#: Inputs that default to the stack's seeded demo data (from the environment) when not given,
#: so both orchestrators get the same input without extra flags.
DEFAULT_INPUTS = {"train": ("dataset_uri", "ML_DATASET_URI"), "infer": ("input_uri", "ML_INFERENCE_URI")}


def with_default_inputs(pipeline: str, params: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`params` plus the pipeline's input URI from the environment when the caller gave none."""
    key, variable = DEFAULT_INPUTS[pipeline]
    merged = dict(params)
    if "run_config" not in merged and not merged.get(key) and env.get(variable):
        merged[key] = env[variable]
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return int(exc.code or 0)
    env = os.environ
    try:
        params = with_default_inputs(args.pipeline, parse_params(args.param), env)
        if args.orchestrator == "airflow":
            client = AirflowClient(
                env.get("AIRFLOW_URL", "http://localhost:8080"),
                env.get("AIRFLOW_ADMIN_USER", ""),
                env.get("AIRFLOW_ADMIN_PASSWORD", ""),
                public_url=env.get("AIRFLOW_PUBLIC_URL"),
            )
            outcome = run_airflow(client, args.pipeline, params, timeout=args.timeout, poll=args.poll,
                                  wait=not args.no_wait)
        else:
            dagster = DagsterClient(env.get("DAGSTER_URL", "http://localhost:3000"),
                                    public_url=env.get("DAGSTER_PUBLIC_URL"))
            outcome = run_dagster(dagster, args.pipeline, params, timeout=args.timeout, poll=args.poll,
                                  wait=not args.no_wait)
    except _Timeout as exc:
        log(f"error: {exc}, {exc.outcome.links.get('run', '')}, raise --timeout or check the run in the UI")
        print(json.dumps(exc.outcome.as_dict()))
        return EXIT_TIMEOUT
    except TriggerError as exc:
        log(f"error: {exc}")
        return exc.exit_code
    if args.no_wait:
        print(json.dumps(outcome.as_dict()))
        return EXIT_OK
    summary = summarize(outcome, env.get("MLFLOW_PUBLIC_URL"))
    print_summary(outcome, summary)
    print(json.dumps({**outcome.as_dict(), "summary": summary}, default=str))
    return EXIT_OK if outcome.succeeded else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
