"""`python -m ml_trigger train|infer --orchestrator airflow|dagster [--param key=value ...]`.

`python -m ml_trigger backfill --from YYYY-MM-DD --to YYYY-MM-DD [-o airflow|dagster|both]`
labels a range of days (ml_trigger/backfill.py); `python -m ml_trigger local train|infer -o ...`
runs a pipeline on this machine with no servers (ml_trigger/local.py); `python -m ml_trigger reload`
makes Dagster load the code location again after the model catalog changed (ml_trigger/reload.py);
`python -m ml_trigger resume --run <id> -o ...` resumes a failed run from its failed step
(ml_trigger/resume.py).
`--model NAME` picks a model of the catalog (default: the default model).

Progress goes to stderr as task/step states change; the summary is printed for people and, as
the contract of every command here, one JSON object is the last stdout line when stdout is not a
terminal (or with --json), and it is written to --result-file when one is given. Exit code 0 when
the run succeeded, 1 when it failed, 2 on bad usage, 75 when an API stayed unreachable, 124 on
timeout.

Environment: AIRFLOW_URL, AIRFLOW_ADMIN_USER, AIRFLOW_ADMIN_PASSWORD, DAGSTER_URL; for the
links shown to people AIRFLOW_PUBLIC_URL, DAGSTER_PUBLIC_URL; ML_INFERENCE_URI (the demo input
of `infer` when none is chosen); ML_TRIGGER_RETRIES, ML_TRIGGER_TIMEOUT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_trigger.errors import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, RunTimeout, TriggerError
from ml_trigger.outcome import Outcome, log
from ml_trigger.params import PIPELINES, parse_params, with_default_inputs
from ml_trigger.summary import summarize

ORCHESTRATORS = ("airflow", "dagster")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml_trigger",
        description="Trigger the training or inference pipeline through Airflow or Dagster and wait for it.",
    )
    parser.add_argument("pipeline", choices=PIPELINES)
    parser.add_argument("--orchestrator", "-o", choices=ORCHESTRATORS,
                        default=os.environ.get("ORCHESTRATOR", "airflow") or "airflow")
    parser.add_argument("--model", "-m", default=os.environ.get("MODEL", "") or None, metavar="NAME",
                        help="the model (an entry of the model catalog, `python -m ml models`); default: the "
                             "default model (ML_MODEL_NAME)")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline parameter (Airflow DAG param / Dagster config), repeatable; "
                             "KEY= (empty) leaves it to the step's default")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("ML_TRIGGER_TIMEOUT", "3600")),
                        help="seconds to wait for the run (default 3600)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between status polls")
    parser.add_argument("--no-wait", action="store_true", help="trigger, print the run id and return")
    parser.add_argument("--json", action="store_true",
                        help="print the JSON result line on stdout even on a terminal (always done when piped)")
    parser.add_argument("--result-file", metavar="PATH", default=None,
                        help="also write the JSON result here; on a terminal it goes here instead of stdout "
                             "(default there: <tmp>/ml-last-<pipeline>-<orchestrator>.json)")
    return parser


def emit(payload: Mapping[str, Any], args: argparse.Namespace) -> int | None:
    """The machine-readable result: on stdout when piped or with `--json`, in `--result-file` when given.

    On a terminal a 3 kB JSON line helps nobody, and `make train` runs this in a throw-away
    container, so no file is written unless asked for. Returns an exit code when the file cannot
    be written, else None.
    """
    line = json.dumps(payload, default=str)
    if args.json or not sys.stdout.isatty():
        print(line, flush=True)
    elif not args.result_file:
        log("(the machine-readable result: add --json, or --result-file PATH; make: TRIGGER_ARGS=--json)")
    if not args.result_file:
        return None
    path = Path(args.result_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line + "\n", encoding="utf-8")
    except OSError as exc:
        log(f"error: cannot write --result-file {path}: {exc.strerror or exc}")
        return EXIT_USAGE
    log(f"result: {path}")
    return None


def run_clients(orchestrator: str, env: Mapping[str, str]) -> Any:
    """The API client of one orchestrator, from the environment (only its module is imported)."""
    if orchestrator == "airflow":
        from ml_trigger.airflow_api import AirflowClient

        return AirflowClient(env.get("AIRFLOW_URL", "http://localhost:8080"), env.get("AIRFLOW_ADMIN_USER", ""),
                             env.get("AIRFLOW_ADMIN_PASSWORD", ""), public_url=env.get("AIRFLOW_PUBLIC_URL"))
    from ml_trigger.dagster_api import DagsterClient

    return DagsterClient(env.get("DAGSTER_URL", "http://localhost:3000"), public_url=env.get("DAGSTER_PUBLIC_URL"))


def followed(follow: Callable[[], Outcome], args: argparse.Namespace) -> Outcome | int:
    """`follow()`'s outcome, or the exit code of its failure, said in one line (a timeout also prints
    what the run had done, as JSON)."""
    try:
        return follow()
    except RunTimeout as exc:
        log(f"error: {exc}, {exc.outcome.links.get('run', '')}, raise --timeout or check the run in the UI")
        return emit(exc.outcome.as_dict(), args) or EXIT_TIMEOUT
    except TriggerError as exc:
        log(f"error: {exc}")
        return exc.exit_code


def run(orchestrator: str, pipeline: str, params: Mapping[str, Any], env: Mapping[str, str], *,
        timeout: float, poll: float, wait: bool, model: str | None = None) -> Outcome:
    """Trigger the pipeline of `model` (None: the default) through one orchestrator (only its client
    module is imported)."""
    client = run_clients(orchestrator, env)
    if orchestrator == "airflow":
        from ml_trigger.airflow_api import run_airflow

        return run_airflow(client, pipeline, params, timeout=timeout, poll=poll, wait=wait, model=model)
    from ml_trigger.dagster_api import run_dagster

    return run_dagster(client, pipeline, params, timeout=timeout, poll=poll, wait=wait, model=model)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["backfill"]:
        from ml_trigger.backfill import main as backfill_main

        return backfill_main(argv[1:])
    if argv[:1] == ["resume"]:  # a failed run goes on from its failed step (ml_trigger/resume.py)
        from ml_trigger.resume import main as resume_main

        return resume_main(argv[1:])
    if argv[:1] == ["local"]:  # a run on this machine, no servers (ml_trigger/local.py)
        from ml_trigger.local import main as local_main

        return local_main(argv[1:])
    if argv[:1] == ["reload"]:
        from ml_trigger.reload import main as reload_main

        return reload_main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return int(exc.code or 0)
    env = os.environ

    def start() -> Outcome:
        params = with_default_inputs(args.pipeline, parse_params(args.param), env)
        return run(args.orchestrator, args.pipeline, params, env, timeout=args.timeout, poll=args.poll,
                   wait=not args.no_wait, model=args.model)

    outcome = followed(start, args)
    if isinstance(outcome, int):
        return outcome
    if args.no_wait:
        return emit(outcome.as_dict(), args) or EXIT_OK
    from ml.pipelines.outcome import describe, warnings

    summary = summarize(outcome)
    payload = {**outcome.as_dict(), "summary": summary, "warnings": warnings(summary)}
    log(describe(payload))
    failed = emit(payload, args)
    return failed or (EXIT_OK if outcome.succeeded else EXIT_FAILED)
