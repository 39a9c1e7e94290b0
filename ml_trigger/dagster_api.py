"""Dagster's GraphQL API through `DagsterGraphQLClient`: launch a job, follow it, collect results.

The official client launches the run (`submit_job_execution`); the status, step and failure
queries it has no method for go through its `_execute`. Each asset's result is the JSON of its
`ml_result` metadata entry (the step's own JSON, as Airflow's XCom), else all its metadata.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.auth
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError, TransportServerError

from ml.core import retry
from ml_trigger.dagster_queries import REPOSITORIES_QUERY, RUN_EVENTS_QUERY, RUN_QUERY, RUNS_BY_TAG_QUERY
from ml_trigger.errors import EXIT_USAGE, RunTimeout, TriggerError
from ml_trigger.http import configured_retries, unreachable
from ml_trigger.outcome import Outcome, by_step, duration, failure_reason, log

#: The code location that holds the jobs (dagster/ml_dagster).
DAGSTER_LOCATION = "ml"
#: A failure's cause raised by ml itself, as Dagster words it: "ml.core.errors.SomeError: <message>".
ML_ERROR = re.compile(r"^ml\.[\w.]*\.\w+: (.+)$")
DAGSTER_TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
#: The metadata entry in which each asset carries its step's JSON result.
RESULT_LABEL = "ml_result"
TRIGGER_TAGS = {"ml/triggered_by": "ml_trigger"}
#: The tag that names one launch (a fresh uuid per `launch` call): how a retried launch finds its run.
LAUNCH_KEY_TAG = "ml/launch_key"

T = TypeVar("T")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _connection_failure(exc: BaseException) -> BaseException | None:
    """The innermost connection error or timeout behind `exc`, if that is what it is."""
    found = [e for e in _causes(exc) if isinstance(e, (TransportConnectionFailed, requests.RequestException))]
    return found[-1] if found else None


def _server_error(exc: BaseException) -> TransportServerError | None:
    """The 5xx answer behind `exc`, if that is what it is."""
    return next((e for e in _causes(exc) if isinstance(e, TransportServerError) and (e.code or 0) >= 500), None)


def is_transient(exc: BaseException) -> bool:
    """Worth another try: no connection, a timeout, or a 5xx answer."""
    return _connection_failure(exc) is not None or _server_error(exc) is not None


#: How SQLAlchemy words a lost or refused database connection in the webserver's GraphQL error
#: ("(psycopg2.OperationalError) server closed the connection unexpectedly"): Dagster's storage
#: (Postgres) restarting, not a wrong query.
_STORAGE_DOWN = re.compile(r"\((?:psycopg2|psycopg|sqlite3)\.OperationalError\)")


def _storage_unavailable(exc: BaseException) -> bool:
    """The webserver answered, but its instance database was unreachable (it is restarting)."""
    return any(isinstance(e, TransportQueryError) and e.errors
               and _STORAGE_DOWN.search(str(e.errors[0].get("message", ""))) for e in _causes(exc))


def is_transient_read(exc: BaseException) -> bool:
    """A read is worth another try also while Dagster's database restarts (a read changes nothing)."""
    return is_transient(exc) or _storage_unavailable(exc)


def _graphql_message(exc: DagsterGraphQLClientError) -> str:
    """The one-line reason of a failed GraphQL call."""
    for cause in _causes(exc):
        if isinstance(cause, TransportQueryError) and cause.errors:
            return str(cause.errors[0].get("message", cause.errors[0]))
        if isinstance(cause, TransportServerError):
            hint = "; check DAGSTER_USER / DAGSTER_PASSWORD (.env: DAGSTER_ADMIN_*)" if cause.code in (401, 403) else ""
            return f"answered {cause.code}: {str(cause).splitlines()[0]}{hint}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def credentials_from_env() -> tuple[str, str] | None:
    """DAGSTER_USER / DAGSTER_PASSWORD: the login of the authenticating proxy in front of Dagster (compose)."""
    user, password = os.environ.get("DAGSTER_USER", ""), os.environ.get("DAGSTER_PASSWORD", "")
    return (user, password) if user and password else None


def graphql_client(base_url: str, timeout: int, auth: tuple[str, str] | None = None) -> DagsterGraphQLClient:
    """The official client for a webserver URL such as `http://dagster-proxy:8080/prefix`, logged in when `auth`."""
    parts = urlsplit(base_url)
    return DagsterGraphQLClient(
        parts.hostname or "localhost",
        port_number=parts.port,
        use_https=parts.scheme == "https",
        timeout=timeout,
        path_prefix=parts.path.rstrip("/"),
        auth=requests.auth.HTTPBasicAuth(*auth) if auth else None,
    )


def step_failure(event: dict[str, Any]) -> tuple[str | None, str]:
    """A step failure event's `error:` line (None without one) and its first line otherwise.

    After its retries ran out a step's own error is the failure's cause: Dagster's message then only
    says "Exceeded max_retries of N", so the causes are read too.
    """
    error = event.get("error") or {}
    message = (error.get("message") or event.get("message") or "").strip()
    causes = [text for c in error.get("causes") or [] if (text := str(c.get("message") or "").strip())]
    for text in (message, *causes):
        if reason := failure_reason(text):
            return reason, reason
    retried = f" ({message.splitlines()[0].lower()})" if causes and message.startswith("Exceeded max_retries") else ""
    firsts = [text.splitlines()[0] for text in causes]
    for line in firsts:  # outermost first: ml's own error, not the library error it was raised from
        if ml_error := ML_ERROR.match(line):
            return f"error: {ml_error[1]}{retried}", line
    if firsts:
        return None, firsts[-1] + retried
    return None, message.splitlines()[0] if message else "failed"


class DagsterClient:
    """Dagster's GraphQL API (`/graphql` of the webserver) with retries and one-line errors."""

    def __init__(self, base_url: str, *, public_url: str | None = None, timeout: int = 30,
                 retries: int | None = None, backoff_s: float = retry.FIRST_WAIT_S,
                 auth: tuple[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_url = (public_url or base_url).rstrip("/")
        self.graphql = graphql_client(self.base_url, timeout, auth or credentials_from_env())
        self.retries = configured_retries() if retries is None else retries
        self.backoff_s = backoff_s

    def _call(self, fn: Callable[..., T], *args: Any, transient: Callable[[BaseException], bool] = is_transient,
              **kwargs: Any) -> T:
        """`fn(...)` with retries of transient failures; an API that stays down is exit 75."""
        try:
            policy = retry.retrying("Dagster GraphQL", transient, self.retries + 1, first_wait_s=self.backoff_s)
            return policy(fn, *args, **kwargs)
        except DagsterGraphQLClientError as exc:
            failure = _connection_failure(exc)
            if failure is not None:
                root = next((e for e in reversed(_causes(exc)) if isinstance(e, requests.RequestException)), failure)
                raise unreachable("Dagster", self.base_url, root) from None
            raise

    def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL query; GraphQL errors end the command with their message."""
        try:
            read = not query.lstrip().startswith("mutation")  # a mutation is not repeated on a database error
            return self._call(self.graphql._execute, query, dict(variables or {}),
                              transient=is_transient_read if read else is_transient)
        except DagsterGraphQLClientError as exc:
            raise TriggerError(f"Dagster GraphQL error: {_graphql_message(exc)}") from None

    def find_job(self, job: str, location: str, timeout: float, poll: float = 3.0) -> str:
        """The repository name that holds `job` in `location` (waits for the code location)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.query(REPOSITORIES_QUERY)["repositoriesOrError"]
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
        """Launch `job` with `run_config`; its run id. A run config Dagster rejects is exit 2.

        Launched once: the run carries a key of this call (`LAUNCH_KEY_TAG`), and every try first
        looks for a run with that key, so a launch retried after its answer was lost (a read
        timeout) finds the run it started instead of starting a second one.
        """
        key = uuid.uuid4().hex
        tagged = {**tags, LAUNCH_KEY_TAG: key}

        def find_or_launch() -> str:
            found = self.graphql._execute(RUNS_BY_TAG_QUERY, {"key": LAUNCH_KEY_TAG, "value": key})["runsOrError"]
            if found.get("results"):
                log(f"[dagster] run {found['results'][0]['runId']} exists already (an earlier try launched it)")
                return str(found["results"][0]["runId"])
            return self.graphql.submit_job_execution(job, repository_location_name=location, repository_name=repository,
                                                     run_config=dict(run_config), tags=tagged)

        try:
            run_id = self._call(find_or_launch)
        except DagsterGraphQLClientError as exc:
            kind = str(exc.args[0]) if exc.args else type(exc).__name__
            payload = exc.args[1] if len(exc.args) > 1 else exc.body
            if kind in ("RunConfigValidationInvalid", "PipelineConfigValidationInvalid"):
                messages = "; ".join(str(e.get("message", e)) for e in payload or [])
                raise TriggerError(f"Dagster rejected the run config: {messages}", EXIT_USAGE) from None
            if payload is None:
                raise TriggerError(f"Dagster launchRun failed: {_graphql_message(exc)}") from None
            raise TriggerError(f"Dagster launchRun failed: {kind}: {payload}") from None
        return str(run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        """Status, step stats and asset materializations of a run."""
        data = self.query(RUN_QUERY, {"runId": run_id})["runOrError"]
        if data["__typename"] != "Run":
            raise TriggerError(f"Dagster run {run_id}: {data.get('message', data['__typename'])}")
        return data

    def failure(self, run_id: str) -> str | None:
        """The one-line reason of a failed run: the step's `error:` line, else the first failure."""
        data = self.query(RUN_EVENTS_QUERY, {"runId": run_id})["logsForRun"]
        if data["__typename"] != "EventConnection":
            return None
        first: str | None = None
        for event in data["events"]:
            if event["__typename"] == "AssetCheckEvaluationEvent":
                reason = check_failure(event.get("evaluation") or {})
                if reason:
                    return reason
            elif event["__typename"] == "ExecutionStepFailureEvent":
                reason, line = step_failure(event)
                if reason:
                    return f"{event.get('stepKey')}: {reason}"
                first = first or f"{event.get('stepKey')}: {line}"
            elif event["__typename"] == "RunFailureEvent":
                first = first or event.get("message")
        return first

    def check_results(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The step results that asset checks of the run carry (`ml_result`), by check name."""
        data = self.query(RUN_EVENTS_QUERY, {"runId": run_id})["logsForRun"]
        if data["__typename"] != "EventConnection":
            return {}
        found: dict[str, dict[str, Any]] = {}
        for event in data["events"]:
            evaluation = event.get("evaluation") or {}
            if event["__typename"] == "AssetCheckEvaluationEvent" and evaluation.get("metadataEntries"):
                values = {e["label"]: metadata_value(e) for e in evaluation["metadataEntries"]}
                if isinstance(values.get(RESULT_LABEL), dict):
                    found[evaluation["checkName"]] = values[RESULT_LABEL]
        return found

    def ui_link(self, run_id: str) -> str:
        return f"{self.public_url}/runs/{run_id}"


def check_failure(evaluation: Mapping[str, Any]) -> str | None:
    """`asset (check name): error: ...` of a failed asset check, None when it passed."""
    if evaluation.get("success"):
        return None
    asset = "/".join((evaluation.get("assetKey") or {}).get("path") or [])
    description = (evaluation.get("description") or "failed").strip()
    if not description.startswith("error:"):
        description = f"error: {description}"
    return f"{asset} (check {evaluation.get('checkName')}): {description}"


def metadata_value(entry: Mapping[str, Any]) -> Any:
    """The value of one Dagster metadata entry, whatever its type."""
    for key in ("text", "intValue", "floatValue", "boolValue", "url", "path", "mdStr"):
        if entry.get(key) is not None:
            return entry[key]
    if entry.get("jsonString") is not None:
        try:
            return json.loads(entry["jsonString"])
        except ValueError:
            return entry["jsonString"]
    return None


def asset_result(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The step's JSON result from the `ml_result` entry; all entries when there is none."""
    values = {entry["label"]: metadata_value(entry) for entry in entries}
    result = values.get(RESULT_LABEL)
    return result if isinstance(result, dict) else values


def dagster_run_config(pipeline: str, params: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """Run config for the job, by the code location's own table (`ml_dagster.config.run_config`).

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
    from ml_dagster.config import run_config  # the code location's schema; Airflow runs need none of it

    try:
        return run_config(pipeline, params, model)
    except ValueError as exc:
        raise TriggerError(str(exc), EXIT_USAGE) from None


def _follow(client: DagsterClient, outcome: Outcome, started: float, timeout: float, poll: float) -> dict[str, Any]:
    """Poll until the run ends, printing the run's and each step's state changes; the final run."""
    seen: dict[str, str] = {}
    last_status = ""
    deadline = started + timeout
    while True:
        run = client.run(outcome.run_id)
        if run["status"] != last_status:
            last_status = run["status"]
            log(f"[dagster] {time.monotonic() - started:7.1f}s  {'(run)':<40} {last_status}")
        for step in sorted(run.get("stepStats") or [], key=lambda s: s.get("startTime") or 9e18):
            status = step.get("status") or "PENDING"
            if seen.get(step["stepKey"]) != status:
                seen[step["stepKey"]] = status
                log(f"[dagster] {time.monotonic() - started:7.1f}s  {step['stepKey']:<40} {status}")
        if run["status"] in DAGSTER_TERMINAL:
            return run
        if time.monotonic() > deadline:
            outcome.state = run["status"]
            outcome.wall_s = time.monotonic() - started
            raise RunTimeout(outcome, timeout)
        time.sleep(poll)


def run_dagster(
    client: DagsterClient,
    pipeline: str,
    params: Mapping[str, Any],
    *,
    timeout: float,
    poll: float,
    location: str = DAGSTER_LOCATION,
    wait: bool = True,
    model: str | None = None,
) -> Outcome:
    """Launch the job of the pipeline of `model` (None: the default), print step states as they
    change, collect the assets' results."""
    from ml_trigger.params import model_spec

    job = model_spec(pipeline, model).dagster_job
    run_config = dagster_run_config(pipeline, params, model)  # bad params fail before any API call
    repository = client.find_job(job, location, timeout=min(timeout, 300), poll=max(poll, 0.01))
    started = time.monotonic()
    run_id = client.launch(repository, location, job, run_config, TRIGGER_TAGS)
    link = client.ui_link(run_id)
    log(f"[dagster] launched {job} run {run_id}\n[dagster] {link}")
    outcome = Outcome("dagster", pipeline, run_id, "QUEUED", False, 0.0, links={"run": link})
    if not wait:
        return outcome
    run = _follow(client, outcome, started, timeout, poll)
    return collect(client, outcome, run, started)


def collect(client: DagsterClient, outcome: Outcome, run: Mapping[str, Any], started: float) -> Outcome:
    """The finished run's state, each step's state and time, the assets' results, the failure's reason."""
    pipeline, run_id = outcome.pipeline, outcome.run_id
    outcome.state = run["status"]
    outcome.succeeded = run["status"] == "SUCCESS"
    outcome.wall_s = duration(run.get("startTime"), run.get("endTime")) or (time.monotonic() - started)
    for stat in run.get("stepStats") or []:
        step, task = by_step(pipeline, stat["stepKey"])
        outcome.steps[step] = {"state": stat.get("status"), "duration_s": duration(stat.get("startTime"), stat.get("endTime")),
                               **({"task": task} if task else {})}
    for event in run.get("assetMaterializations") or []:
        step, _ = by_step(pipeline, "/".join(event["assetKey"]["path"]))
        outcome.results[step] = asset_result(event.get("metadataEntries") or [])
    for name, result in client.check_results(run_id).items():  # steps that run as asset checks (check-drift)
        step, _ = by_step(pipeline, name)
        outcome.results.setdefault(step, result)
    if not outcome.succeeded:
        outcome.error = client.failure(run_id) or f"run ended {run['status']}"
    return outcome
