"""`make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD`: label a range of days through Airflow and/or Dagster.

    python -m ml_trigger backfill --from 2026-11-20 --to 2026-11-22 [--orchestrator airflow|dagster|both]

Which days a range means (complete UTC days from ml's FIRST_DAY) is ml's rule
(`ml.data.partitions.backfill_days`); this module only asks each orchestrator for its own kind of
backfill and reports per day:
- Airflow: `POST /api/v2/backfills` on `ml_inference`, one run per logical date D (data interval
  D → D+1, so the run labels D), `reprocess_behavior=completed` so a day labelled before is run
  again (its stable file is replaced atomically);
- Dagster: GraphQL `launchPartitionBackfill` of `daily_inference_job`'s partition set, one run
  per partition D.
A day whose input is missing fails alone (its run's one-line reason); the others go on. One line
per day on stderr (day, state, rows, location or reason), one JSON line on stdout; exit 0 when
every day succeeded, 1 when any failed, 2 on a bad range, 75 when an API stayed unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from ml_trigger.errors import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, TriggerError
from ml_trigger.outcome import log

ORCHESTRATOR_CHOICES = ("airflow", "dagster", "both")
#: The pipeline whose daily runs a backfill makes (its DAG, its daily job: ml's spec).
PIPELINE = "inference"
AIRFLOW_DONE = {"success", "failed"}
DAGSTER_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
DAGSTER_BACKFILL_OPEN = {"REQUESTED", "CANCELING", "FAILING"}


@dataclass
class DayResult:
    """How one day of a backfill ended."""

    day: str
    state: str
    succeeded: bool
    run_id: str | None = None
    rows: int | None = None
    output_uri: str | None = None
    model_version: str | None = None
    predictions_uri: str | None = None
    error: str | None = None


def days_of(start: str, end: str) -> list[date]:
    """The days of the range by ml's rule; a bad range is a usage error (exit 2)."""
    from ml.core.errors import BadInputError
    from ml.data.partitions import backfill_days

    try:
        return backfill_days(start, end)
    except BadInputError as exc:
        raise TriggerError(str(exc), EXIT_USAGE) from None


def _result_of(results: Mapping[str, Any], step: str) -> dict[str, Any]:
    value = results.get(step)
    return value if isinstance(value, dict) else {}


def _day_result(day: str, run_id: str | None, state: str, succeeded: bool, outputs: Mapping[str, Any],
                error: str | None) -> DayResult:
    """A day's result from its run's step outputs (keyed by the orchestrator's names): the summary's facts."""
    from ml.pipelines.spec import pipeline, summarize
    from ml_trigger.outcome import by_step

    results = {by_step(PIPELINE, name)[0]: value for name, value in outputs.items() if isinstance(value, dict)}
    summary = summarize(pipeline(PIPELINE), results)
    version = summary.get("model_version")
    staged = _result_of(results, "predict").get("predictions_uri")
    return DayResult(day, state, succeeded, run_id, summary.get("rows"), summary.get("predictions_uri"),
                     None if version is None else str(version), staged, None if succeeded else error)


def _names(model: str | None = None) -> tuple[str, str]:
    """The Airflow DAG and the Dagster daily job of the pipeline of `model` (ml's spec and catalog)."""
    from ml_trigger.params import model_spec

    spec = model_spec(PIPELINE, model)
    assert spec.daily is not None
    return spec.airflow_dag, spec.daily.dagster_job


# --- Airflow --------------------------------------------------------------------------------------


def _logical_day(run: Mapping[str, Any]) -> str | None:
    value = run.get("logical_date")
    return str(value)[:10] if value else None


def airflow_backfill(client: Any, days: list[date], *, timeout: float, poll: float,
                     model: str | None = None) -> tuple[Any, list[DayResult]]:
    """One Airflow backfill of `days`; waits until every day's run ended. (backfill id, per-day results).

    The range ends at the last day's 23:59:59: a model scheduled later in the day (its
    `inference_schedule`) has runs with logical dates D HH:MM, each labelling D.
    """
    from ml_trigger.airflow_api import _failure

    dag_id = _names(model)[0]
    client.login()
    client.wait_for_dag(dag_id, timeout=min(timeout, 300), poll=max(poll, 0.01))
    start, end = f"{days[0].isoformat()}T00:00:00Z", f"{days[-1].isoformat()}T23:59:59Z"
    response = client.http.request("POST", "/api/v2/backfills", ok=(200, 201), json={
        "dag_id": dag_id, "from_date": start, "to_date": end, "reprocess_behavior": "completed",
        "max_active_runs": min(len(days), 8), "dag_run_conf": {},
    })
    backfill_id = response.json()["id"]
    log(f"[airflow] backfill {backfill_id} of {dag_id}: {days[0]} .. {days[-1]} ({len(days)} days)")
    wanted = {d.isoformat() for d in days}
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        backfill = client.get(f"/api/v2/backfills/{backfill_id}")
        runs = client.get(f"/api/v2/dags/{dag_id}/dagRuns", logical_date_gte=start, logical_date_lte=end,
                          limit=len(days) + 10).get("dag_runs", [])
        by_day = {_logical_day(r): r for r in runs if _logical_day(r) in wanted}
        for day, run in sorted(by_day.items()):
            if seen.get(day) != run.get("state"):
                seen[day] = str(run.get("state"))
                log(f"[airflow] {day}  {run.get('dag_run_id')}  {run.get('state')}")
        settled = all(d not in by_day or by_day[d].get("state") in AIRFLOW_DONE for d in wanted)
        if backfill.get("completed_at") and settled:
            break
        if time.monotonic() > deadline:
            raise TriggerError(f"Airflow backfill {backfill_id} still running after {timeout:.0f} s", EXIT_TIMEOUT)
        time.sleep(poll)
    results = []
    for day in sorted(wanted):
        run = by_day.get(day)
        if run is None:  # Airflow made no run of this day (see the backfill in the UI)
            results.append(DayResult(day, "not run", False, error=f"backfill {backfill_id} created no run of {day}"))
            continue
        run_id, state = str(run["dag_run_id"]), str(run["state"])
        tasks = client.task_instances(dag_id, run_id)
        outputs = {ti["task_id"]: client.xcom(dag_id, run_id, ti["task_id"]) for ti in tasks
                   if ti.get("state") == "success"}
        error = None if state == "success" else _failure(client, dag_id, run_id, tasks)
        results.append(_day_result(day, run_id, state, state == "success", outputs, error or f"DAG run ended {state}"))
    return backfill_id, results


# --- Dagster --------------------------------------------------------------------------------------


def _partition_of(run: Mapping[str, Any]) -> str | None:
    return next((t["value"] for t in run.get("tags") or [] if t.get("key") == "dagster/partition"), None)


def dagster_backfill(client: Any, days: list[date], *, timeout: float, poll: float,
                     model: str | None = None) -> tuple[Any, list[DayResult]]:
    """One Dagster backfill of the daily inference job's partitions `days`; waits for every day's run."""
    from ml_trigger.dagster_api import DAGSTER_LOCATION, TRIGGER_TAGS, asset_result
    from ml_trigger.dagster_queries import BACKFILL_QUERY, LAUNCH_BACKFILL_MUTATION

    job = _names(model)[1]
    repository = client.find_job(job, DAGSTER_LOCATION, timeout=min(timeout, 300), poll=max(poll, 0.01))
    names = [d.isoformat() for d in days]
    answer = client.query(LAUNCH_BACKFILL_MUTATION, {"backfillParams": {
        "selector": {"partitionSetName": f"{job}_partition_set",
                     "repositorySelector": {"repositoryName": repository, "repositoryLocationName": DAGSTER_LOCATION}},
        "partitionNames": names,
        "tags": [{"key": k, "value": v} for k, v in TRIGGER_TAGS.items()],
        "title": f"ml backfill {names[0]}..{names[-1]}",
    }})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise TriggerError(f"Dagster launchPartitionBackfill: {answer['__typename']}: {answer.get('message', '')}")
    backfill_id = answer["backfillId"]
    log(f"[dagster] backfill {backfill_id} of {job}: {names[0]} .. {names[-1]} ({len(names)} days)\n"
        f"[dagster] {client.public_url}/runs/b/{backfill_id}")
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        data = client.query(BACKFILL_QUERY, {"backfillId": backfill_id})["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise TriggerError(f"Dagster backfill {backfill_id}: {data.get('message', data['__typename'])}")
        by_day = {_partition_of(r): r for r in data.get("runs") or [] if _partition_of(r) in names}
        for day, run in sorted(by_day.items()):
            if seen.get(day) != run.get("status"):
                seen[day] = str(run.get("status"))
                log(f"[dagster] {day}  {run.get('runId')}  {run.get('status')}")
        if data["status"] not in DAGSTER_BACKFILL_OPEN and all(
                by_day.get(d, {}).get("status") in DAGSTER_DONE for d in names):
            break
        if data["status"] not in DAGSTER_BACKFILL_OPEN and data.get("error"):
            raise TriggerError(f"Dagster backfill {backfill_id} {data['status']}: {data['error'].get('message')}")
        if time.monotonic() > deadline:
            raise TriggerError(f"Dagster backfill {backfill_id} still running after {timeout:.0f} s", EXIT_TIMEOUT)
        time.sleep(poll)
    results = []
    for day in names:
        run_id = str(by_day[day]["runId"])
        run = client.run(run_id)
        outputs = {"/".join(e["assetKey"]["path"]): asset_result(e.get("metadataEntries") or [])
                   for e in run.get("assetMaterializations") or []}
        ok = run["status"] == "SUCCESS"
        error = None if ok else client.failure(run_id)
        results.append(_day_result(day, run_id, run["status"], ok, outputs, error or f"run ended {run['status']}"))
    return backfill_id, results


# --- the command ----------------------------------------------------------------------------------


def run_backfill(orchestrator: str, days: list[date], env: Mapping[str, str], *, timeout: float,
                 poll: float, model: str | None = None) -> dict[str, Any]:
    """Backfill `days` through one orchestrator; the JSON-ready result (per-day results in `days`)."""
    started = time.monotonic()
    if orchestrator == "airflow":
        from ml_trigger.airflow_api import AirflowClient

        client: Any = AirflowClient(env.get("AIRFLOW_URL", "http://localhost:8080"), env.get("AIRFLOW_ADMIN_USER", ""),
                                    env.get("AIRFLOW_ADMIN_PASSWORD", ""), public_url=env.get("AIRFLOW_PUBLIC_URL"))
        backfill_id, results = airflow_backfill(client, days, timeout=timeout, poll=poll, model=model)
    else:
        from ml_trigger.dagster_api import DagsterClient

        client = DagsterClient(env.get("DAGSTER_URL", "http://localhost:3000"), public_url=env.get("DAGSTER_PUBLIC_URL"))
        backfill_id, results = dagster_backfill(client, days, timeout=timeout, poll=poll, model=model)
    return {"orchestrator": orchestrator, "backfill_id": str(backfill_id), "from": days[0].isoformat(),
            "to": days[-1].isoformat(), "succeeded": all(r.succeeded for r in results),
            "wall_s": round(time.monotonic() - started, 2), "days": [asdict(r) for r in results]}


def print_days(result: Mapping[str, Any]) -> None:
    """One line per day for people (stderr): day, state, rows, location or the one-line reason."""
    log(f"\n{result['orchestrator']} backfill {result['backfill_id']} {result['from']} .. {result['to']}: "
        f"{'SUCCEEDED' if result['succeeded'] else 'FAILED'}")
    for day in result["days"]:
        where = day["output_uri"] if day["succeeded"] else (day["error"] or "failed")
        rows = "-" if day["rows"] is None else f"{day['rows']} rows"
        log(f"  {day['day']}  {day['state']:<8} {rows:>10}  {where}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml_trigger backfill",
                                     description="Label every day from --from to --to through Airflow and/or Dagster.")
    parser.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day (included)")
    parser.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last day (included)")
    parser.add_argument("--model", "-m", default=os.environ.get("MODEL", "") or None, metavar="NAME",
                        help="the model (an entry of the model catalog); default: the default model (ML_MODEL_NAME)")
    parser.add_argument("--orchestrator", "-o", choices=ORCHESTRATOR_CHOICES, default="both",
                        help="both (default): the two backfills at once")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ML_TRIGGER_TIMEOUT", "3600")))
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between status polls")
    parser.add_argument("--json", action="store_true", help="accepted for TRIGGER_ARGS=--json: the JSON line is always printed")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        days = days_of(args.start, args.end)
        chosen = ("airflow", "dagster") if args.orchestrator == "both" else (args.orchestrator,)
        with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="backfill") as pool:
            futures = {o: pool.submit(run_backfill, o, days, os.environ, timeout=args.timeout, poll=args.poll,
                                      model=args.model) for o in chosen}
            results = {o: f.result() for o, f in futures.items()}
    except TriggerError as exc:
        log(f"error: {exc}")
        return exc.exit_code
    for result in results.values():
        print_days(result)
    succeeded = all(r["succeeded"] for r in results.values())
    print(json.dumps({"pipeline": "backfill", "succeeded": succeeded, "backfills": results}, default=str), flush=True)
    return EXIT_OK if succeeded else EXIT_FAILED
