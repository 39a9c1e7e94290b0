"""Airflow 3's REST API v2 (JWT from `/auth/token`): trigger a DAG run, follow it, collect results.

Results are each task's XCom `return_value` (the ml step's JSON), keyed by ml's step name.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ml_trigger.errors import EXIT_USAGE, RunTimeout, TriggerError
from ml_trigger.http import Http
from ml_trigger.outcome import Outcome, by_step, duration, failure_reason, log

AIRFLOW_TERMINAL = {"success", "failed"}


def new_run_id() -> str:
    """A manual run's id as Airflow words it (`manual__<time>`), made unique by a random suffix."""
    return f"manual__{datetime.now(UTC).isoformat()}_{uuid.uuid4().hex[:8]}"


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
        """Trade the admin credentials for a JWT, sent with every later request."""
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
        """Start a run now (no logical date) with `conf` as the DAG params; its run id.

        The run id is chosen here, so a POST retried after its answer was lost (a read timeout)
        finds the run it already created (409: that id exists) instead of starting a second one.
        """
        run_id = new_run_id()
        response = self.http.request(
            "POST",
            f"/api/v2/dags/{quote(dag_id)}/dagRuns",
            ok=(200, 409),
            json={"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)},
        )
        if response.status_code == 409:
            log(f"[airflow] run {run_id} exists already (an earlier try created it); following it")
            return str(self.run_state(dag_id, run_id)["dag_run_id"])
        return str(response.json()["dag_run_id"])

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}"

    def run_state(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(self.run_path(dag_id, run_id))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"{self.run_path(dag_id, run_id)}/taskInstances").get("task_instances", [])

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The task's `return_value` XCom (the step's JSON result), None when it has none."""
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
            return "\n".join(str(item.get("event", "")) if isinstance(item, dict) else str(item) for item in content)
        return str(content)

    def ui_link(self, dag_id: str, run_id: str) -> str:
        return f"{self.public_url}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def _follow(client: AirflowClient, dag_id: str, outcome: Outcome, started: float, timeout: float,
            poll: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll until the run ends, printing each task's state changes; the final run and tasks."""
    seen: dict[str, str] = {}
    deadline = started + timeout
    while True:
        run = client.run_state(dag_id, outcome.run_id)
        tasks = client.task_instances(dag_id, outcome.run_id)
        for ti in sorted(tasks, key=lambda t: t.get("start_date") or "9"):
            state = ti.get("state") or "none"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                log(f"[airflow] {time.monotonic() - started:7.1f}s  {ti['task_id']:<40} {state}")
        if (run.get("state") or "unknown") in AIRFLOW_TERMINAL:
            return run, tasks
        if time.monotonic() > deadline:
            outcome.state = run.get("state") or "unknown"
            outcome.wall_s = time.monotonic() - started
            raise RunTimeout(outcome, timeout)
        time.sleep(poll)


def _step_info(ti: Mapping[str, Any]) -> dict[str, Any]:
    """State, duration and try of one task instance."""
    seconds = ti.get("duration")
    return {
        "state": ti.get("state"),
        "duration_s": round(float(seconds), 2) if seconds is not None else duration(ti.get("start_date"),
                                                                                   ti.get("end_date")),
        "try_number": ti.get("try_number"),
    }


def _failure(client: AirflowClient, dag_id: str, run_id: str, tasks: list[dict[str, Any]]) -> str | None:
    """`task: error: ...` of the first failed task, from its log (the step's one-line reason)."""
    for ti in tasks:
        if ti.get("state") == "failed":
            text = client.task_log(dag_id, run_id, ti["task_id"], max(int(ti.get("try_number") or 1), 1))
            reason = failure_reason(text) or f"task {ti['task_id']} failed (see its log)"
            return f"{ti['task_id']}: {reason}"
    return None


def run_airflow(
    client: AirflowClient,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    timeout: float,
    poll: float,
    wait: bool = True,
    model: str | None = None,
) -> Outcome:
    """Trigger the DAG of the pipeline of `model` (None: the default), print task states as they
    change, collect results."""
    from ml_trigger.params import model_spec

    dag_id = model_spec(pipeline, model).airflow_dag
    client.login()
    client.wait_for_dag(dag_id, timeout=min(timeout, 300), poll=max(poll, 0.01))
    started = time.monotonic()
    run_id = client.trigger(dag_id, params)
    link = client.ui_link(dag_id, run_id)
    log(f"[airflow] triggered {dag_id} run {run_id}\n[airflow] {link}")
    outcome = Outcome("airflow", pipeline, run_id, "queued", False, 0.0, links={"run": link})
    if not wait:
        return outcome
    run, tasks = _follow(client, dag_id, outcome, started, timeout, poll)
    return collect(client, dag_id, outcome, run, tasks, started)


def collect(client: AirflowClient, dag_id: str, outcome: Outcome, run: Mapping[str, Any],
            tasks: list[dict[str, Any]], started: float) -> Outcome:
    """The finished run's state, each task's state, time and try, the steps' results, the failure's reason."""
    pipeline, run_id = outcome.pipeline, outcome.run_id
    outcome.wall_s = duration(run.get("start_date"), run.get("end_date")) or (time.monotonic() - started)
    outcome.state = run["state"]
    outcome.succeeded = outcome.state == "success"
    for ti in tasks:
        step, task = by_step(pipeline, ti["task_id"])
        outcome.steps[step] = {**_step_info(ti), **({"task": task} if task else {})}
        if ti.get("state") == "success":
            value = client.xcom(dag_id, run_id, ti["task_id"])
            if isinstance(value, dict):
                outcome.results[step] = value
    if not outcome.succeeded:
        outcome.error = _failure(client, dag_id, run_id, tasks) or f"DAG run ended {outcome.state}"
    return outcome
