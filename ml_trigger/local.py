"""`python -m ml_trigger local train|infer --orchestrator airflow|dagster [--param key=value ...]`.

One run of a pipeline through Airflow or Dagster on this machine, with no servers (embedded mode:
`make local-airflow`, `make local-dagster`, `make local-airflow-infer`, `make local-dagster-infer`),
ending with the summary `make train`/`make infer` print (the spec's, ml.pipelines.outcome), read from the
orchestrator's own record of the run: Airflow's task instances and XComs, Dagster's step stats
and asset materializations. Same parameters as `make train PARAMS=...`, same exit codes.

Why not the orchestrators' CLIs (`airflow dags test`, `dagster asset materialize`): those end
without a summary and bring noise a user cannot act on: the Dagster command is superseded (a
warning on every call) and prints each engine event at DEBUG; the Airflow one imports graphviz
for a warning. Here Airflow runs the DAG with `dag.test()`, Dagster the job with `execute_job`
and the console logger at INFO: the same runs, each step in its own process as before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ml_trigger.errors import EXIT_FAILED, EXIT_OK, TriggerError
from ml_trigger.outcome import Outcome, by_step, duration, failure_reason, log
from ml_trigger.params import PIPELINES, parse_params, with_default_inputs
from ml_trigger.summary import summarize

ORCHESTRATORS = ("airflow", "dagster")
#: Airflow 3.3 builds its ignore-file patterns with a pathspec class pathspec 1.x deprecates: nothing to act on.
_PATHSPEC_NOTICE = r"GitWildMatchPattern \('gitwildmatch'\) is deprecated"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml_trigger local",
                                     description="Run a pipeline through Airflow or Dagster on this machine, no servers.")
    parser.add_argument("pipeline", choices=PIPELINES)
    parser.add_argument("--orchestrator", "-o", choices=ORCHESTRATORS, required=True)
    parser.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline parameter, repeatable (as make train PARAMS=...)")
    return parser


def run_airflow(pipeline: str, params: Mapping[str, Any]) -> Outcome:
    """The pipeline's DAG through `dag.test()` (AIRFLOW_HOME's SQLite DB; `airflow db migrate` first)."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from ml.pipelines.spec import pipeline as spec_of

    # After importing airflow: its configuration puts a filter showing DeprecationWarnings from airflow first.
    warnings.filterwarnings("ignore", message=_PATHSPEC_NOTICE, category=DeprecationWarning)
    folder = conf.get("core", "dags_folder")
    started = time.monotonic()
    dag = BundleDagBag(dag_folder=folder, bundle_path=folder).dags[spec_of(pipeline).airflow_dag]
    with watched_stdout() as printed:
        dag_run = dag.test(run_conf=dict(params))
    instances = sorted(dag_run.get_task_instances(), key=lambda ti: (ti.start_date is None, ti.start_date))
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key="return_value"))
        results = {by_step(pipeline, row.task_id)[0]: XComModel.deserialize_value(row) for row in rows}
    state = str(dag_run.state)
    failed = [ti.task_id for ti in instances if str(ti.state) in ("failed", "upstream_failed")]
    return Outcome(
        orchestrator="airflow", pipeline=pipeline, run_id=dag_run.run_id, state=state, succeeded=state == "success",
        wall_s=time.monotonic() - started, results=results,
        steps={by_step(pipeline, ti.task_id)[0]: {"state": str(ti.state), "task": ti.task_id,
                                                  "duration_s": duration(_iso(ti.start_date), _iso(ti.end_date))}
               for ti in instances},
        error=f"{failed[0]}: {failure_reason(''.join(printed)) or 'failed (its log is above)'}" if failed else None,
    )


@contextlib.contextmanager
def watched_stdout(keep: int = 4000) -> Iterator[deque[str]]:
    """The lines this process writes to stdout, passed through and the last `keep` of them kept.

    Why at the file descriptor: Airflow's task logs (the step's `error:` line among them) are
    written by a logger that holds the original stdout, so replacing `sys.stdout` sees nothing.
    """
    sys.stdout.flush()
    original, (reader, writer) = os.dup(1), os.pipe()
    os.dup2(writer, 1)
    os.close(writer)
    lines: deque[str] = deque(maxlen=keep)

    def pump() -> None:
        with os.fdopen(reader, "rb") as source:
            for raw in source:
                os.write(original, raw)
                lines.append(raw.decode(errors="replace"))

    thread = threading.Thread(target=pump, name="stdout-watch", daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        sys.stdout.flush()
        os.dup2(original, 1)  # closes the pipe's last writer unless a child process still holds it
        thread.join(timeout=10)
        os.close(original)


def _job(name: str) -> Any:
    from ml.pipelines.spec import pipeline
    from ml_dagster.definitions import defs

    return defs.resolve_job_def(pipeline(name).dagster_job)


def training_job() -> Any:
    """The Dagster training job (a module-level factory: `execute_job` needs a reconstructable job)."""
    return _job("training")


def inference_job() -> Any:
    """The Dagster inference job (see `training_job`)."""
    return _job("inference")


def run_dagster(pipeline: str, params: Mapping[str, Any]) -> Outcome:
    """The pipeline's job through `execute_job` in DAGSTER_HOME's instance, a process per step."""
    import dagster as dg

    from ml_dagster.config import run_config
    from ml_dagster.metadata import RESULT_KEY

    config = {**run_config(pipeline, params), "loggers": {"console": {"config": {"log_level": "INFO"}}}}
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        job = dg.reconstructable(inference_job if _job(pipeline).name == _job("inference").name else training_job)
        with dg.execute_job(job, instance=instance, run_config=config, raise_on_error=False) as result:
            run_id, succeeded = result.run_id, result.success
            results = {by_step(pipeline, "/".join(event.asset_key.path))[0]: _result_of(event, RESULT_KEY)
                       for event in result.get_asset_materialization_events() if event.asset_key}
            results.update({by_step(pipeline, e.check_name)[0]: e.metadata[RESULT_KEY].value
                            for e in result.get_asset_check_evaluations() if RESULT_KEY in e.metadata})
            failures = [*_failed_checks(result), *(f"{event.step_key}: {_failure_of(event)}"
                                                   for event in result.get_step_failure_events())]
        stats = instance.get_run_step_stats(run_id)
        state = instance.get_run_by_id(run_id).status.value
    return Outcome(
        orchestrator="dagster", pipeline=pipeline, run_id=run_id, state=state, succeeded=succeeded,
        wall_s=time.monotonic() - started, results=results,
        steps={by_step(pipeline, s.step_key)[0]: {"state": s.status.value if s.status else None, "task": s.step_key,
                                                  "duration_s": duration(s.start_time, s.end_time)}
               for s in sorted(stats, key=lambda s: s.start_time or 0)},
        error=failures[0] if failures else None,
    )


def _failed_checks(result: Any) -> list[str]:
    """`asset (check name): error: ...` of each failed asset check (the way make train words it)."""
    from ml_trigger.dagster_api import check_failure

    return [reason for evaluation in result.get_asset_check_evaluations()
            if (reason := check_failure({"success": evaluation.passed, "description": evaluation.description,
                                          "assetKey": {"path": evaluation.asset_key.path},
                                          "checkName": evaluation.check_name}))]


def _failure_of(event: Any) -> str:
    """The step's `error:` line from a Dagster step failure, else where to look."""
    error = event.step_failure_data.error if event.step_failure_data else None
    text = "" if error is None else f"{error.message}\n{''.join(error.stack or [])}"
    return failure_reason(text) or "failed (its log is above)"


def _result_of(event: Any, key: str) -> Any:
    metadata = event.materialization.metadata
    return metadata[key].value if key in metadata else {k: v.value for k, v in metadata.items()}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        params = with_default_inputs(args.pipeline, parse_params(args.param), {})
    except TriggerError as exc:
        log(f"error: {exc}")
        return exc.exit_code
    run = run_airflow if args.orchestrator == "airflow" else run_dagster
    outcome = run(args.pipeline, params)
    from ml.pipelines.outcome import describe

    log(describe({**outcome.as_dict(), "summary": summarize(outcome)}))
    return EXIT_OK if outcome.succeeded else EXIT_FAILED
