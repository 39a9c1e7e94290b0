"""`python -m ml_trigger resume --run <id> -o airflow|dagster` (`make resume`): a failed run goes on from its failed step.

The steps that succeeded are not run again; each orchestrator does it its own way, and the outcome
(and its summary) is the whole run's, as `make train` prints it:

- Airflow: the failed task and every task after it are cleared in the same DAG run (REST API v2
  `POST /dags/{dag}/clearTaskInstances`, only_failed + include_downstream), so the run goes on
  with the same run id; the tasks that had succeeded keep their try number, the cleared ones get
  the next one.
- Dagster: a re-execution of the run from its failure (GraphQL `launchRunReexecution`, the
  current name of `launchPipelineReexecution`, strategy FROM_FAILURE): a new run of the same job
  whose steps that had succeeded are not executed; their outputs are read from the parent run.

Embedded runs resume with `python -m ml resume --run <id>` (ml/pipelines/embedded.py).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ml_trigger.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, TriggerError
from ml_trigger.outcome import Outcome, log

REEXECUTE_MUTATION = """
mutation Resume($parentRunId: String!) {
  launchRunReexecution(reexecutionParams: {parentRunId: $parentRunId, strategy: FROM_FAILURE}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""

RUN_JOB_QUERY = """
query RunJob($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId jobName status }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


def resumable() -> list[Any]:
    """The training and inference pipelines of every model of the catalog (a review has no run to resume)."""
    from ml.pipelines.models import model_pipelines

    return [*model_pipelines("training", checked=False), *model_pipelines("inference", checked=False)]


def resume_airflow(client: Any, run_id: str, *, timeout: float, poll: float) -> Outcome:
    """Clear the failed task of run `run_id` and every task after it, then follow the run to its end."""
    from ml_trigger.airflow_api import _follow, collect

    client.login()
    for spec in resumable():
        response = client.http.request("GET", client.run_path(spec.airflow_dag, run_id), ok=(200, 404))
        if response.status_code == 200:
            break
    else:
        raise TriggerError(f"Airflow has no training or inference run {run_id!r}; pass the run id `make train` "
                           "printed", EXIT_USAGE)
    state = response.json().get("state")
    if state != "failed":
        raise TriggerError(f"Airflow run {run_id} is {state}, not failed: nothing to resume", EXIT_USAGE)
    dag_id = spec.airflow_dag
    started = time.monotonic()
    client.http.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", ok=(200,), json={
        "dry_run": False, "dag_run_id": run_id, "only_failed": True, "include_downstream": True,
        "reset_dag_runs": True, "note": "resumed from the failed task (make resume)"})
    link = client.ui_link(dag_id, run_id)
    log(f"[airflow] cleared the failed tasks of {dag_id} run {run_id} and what follows them\n[airflow] {link}")
    outcome = Outcome("airflow", spec.command, run_id, "queued", False, 0.0, links={"run": link})
    run, tasks = _follow(client, dag_id, outcome, started, timeout, poll)
    return collect(client, dag_id, outcome, run, tasks, started)


def resume_dagster(client: Any, run_id: str, *, timeout: float, poll: float) -> Outcome:
    """Re-execute run `run_id` from its failure; the outcome has the parent's results of the steps not re-run."""
    from ml_trigger.dagster_api import _follow, collect

    parent = client.query(RUN_JOB_QUERY, {"runId": run_id})["runOrError"]
    if parent["__typename"] != "Run":
        raise TriggerError(f"Dagster has no run {run_id!r}: {parent.get('message', parent['__typename'])}", EXIT_USAGE)
    spec = next((p for p in resumable()
                 if parent["jobName"] in (p.dagster_job, p.daily.dagster_job if p.daily else None)), None)
    if spec is None:
        raise TriggerError(f"Dagster run {run_id} is of job {parent['jobName']}, not a training or inference job",
                           EXIT_USAGE)
    if parent["status"] != "FAILURE":
        raise TriggerError(f"Dagster run {run_id} is {parent['status']}, not FAILURE: nothing to resume", EXIT_USAGE)
    started = time.monotonic()
    launched = client.query(REEXECUTE_MUTATION, {"parentRunId": run_id})["launchRunReexecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise TriggerError(f"Dagster refused the re-execution of {run_id}: "
                           f"{launched.get('message', launched['__typename'])}")
    child = str(launched["run"]["runId"])
    link = client.ui_link(child)
    log(f"[dagster] re-executing run {run_id} from its failure as run {child}\n[dagster] {link}")
    outcome = Outcome("dagster", spec.command, child, "QUEUED", False, 0.0,
                      links={"run": link, "parent": client.ui_link(run_id)})
    run = _follow(client, outcome, started, timeout, poll)
    outcome = collect(client, outcome, run, started)
    earlier = collect(client, Outcome("dagster", spec.command, run_id, "", False, 0.0), client.run(run_id), started)
    for step, info in earlier.steps.items():  # not executed again: the parent's result stands
        if step not in outcome.steps and info.get("state") == "SUCCESS":
            outcome.steps[step] = {**info, "state": "done before", "run": run_id}
    for step, result in earlier.results.items():
        outcome.results.setdefault(step, result)
    return outcome


def main(argv: Sequence[str]) -> int:
    """`resume --run <id> [-o airflow|dagster]`: exit 0 when the resumed run succeeds, 1 when it fails again."""
    from ml_trigger.cli import ORCHESTRATORS, emit, followed, run_clients
    from ml_trigger.summary import summarize

    parser = argparse.ArgumentParser(prog="python -m ml_trigger resume", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the failed run's id (make train printed it)")
    parser.add_argument("--orchestrator", "-o", choices=ORCHESTRATORS,
                        default=os.environ.get("ORCHESTRATOR", "airflow") or "airflow")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ML_TRIGGER_TIMEOUT", "3600")))
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--result-file", default=None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    def follow() -> Outcome:
        resume = resume_airflow if args.orchestrator == "airflow" else resume_dagster
        return resume(run_clients(args.orchestrator, os.environ), args.run, timeout=args.timeout, poll=args.poll)

    outcome = followed(follow, args)
    if isinstance(outcome, int):
        return outcome
    from ml.pipelines.outcome import describe

    payload: Mapping[str, Any] = {**outcome.as_dict(), "resumed": args.run, "summary": summarize(outcome)}
    log(describe(payload))
    return emit(payload, args) or (EXIT_OK if outcome.succeeded else EXIT_FAILED)

