"""Run a whole pipeline in this process, step after step, as the spec wires them.

For the embedded mode (`make demo`, `python -m ml run-training|run-inference`) and for
debugging. Orchestrators do NOT use this: they run each step as its own task so that each is
retried, logged and timed on its own. This runner passes outputs to inputs exactly as they do,
from the same spec, takes the same run parameters, and answers with the same outcome shape the
trigger prints for `make train|infer` (state, per-step times, each step's result, the summary).
"""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ml.pipelines.outcome import warnings
from ml.pipelines.spec import Pipeline, Step, pipeline, summarize

log = logging.getLogger(__name__)

ORCHESTRATOR = "cli"


def new_run_id(kind: str) -> str:
    """A fresh run id for an embedded run (`cli-training-<hex>`): every path it writes derives from it."""
    return f"cli-{kind}-{uuid.uuid4().hex[:12]}"


def step_kwargs(step: Step, params: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]],
                context: Mapping[str, Any], model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keywords of `step`: its set run parameters, its upstream outputs, the run facts it takes,
    and the model options (`--model-name`, the columns) it takes.

    An unset parameter or an optional output that is null is left out, so the step applies its own
    default, as every orchestrator does.
    """
    kwargs = {p.option: params[p.name] for p in step.run_params if params.get(p.name) not in (None, "")}
    kwargs.update({o: (model or {})[o] for o in step.model_options() if (model or {}).get(o) not in (None, "")})
    for keyword, ref in step.inputs.items():
        value = results[ref.step].get(ref.output) if ref.optional else results[ref.step][ref.output]
        if value is not None:
            kwargs[keyword] = value
    kwargs.update({name: context[name] for name in step.context if context.get(name) is not None})
    return kwargs


def run(name: str, params: Mapping[str, Any] | None = None, *, run_id: str | None = None,
        orchestrator: str | None = None, as_of: str | None = None,
        model: Mapping[str, Any] | None = None, done: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every step of pipeline `name` with run parameters `params`; the run's outcome.

    `model`: the model options (`MODEL_OPTIONS`: model name, columns) every step that takes them gets.

    A failing step raises (its `MLError` keeps its exit code); the steps before it have published
    their outputs under the run's workspace, as on an orchestrator, and the run's record
    (`<work>/runs/<run>/run.json`: its parameters, each finished step's result and tries) says where
    it stopped, for `resume`. `done`: that record, when resuming: its finished steps are not run again.
    """
    spec = pipeline(name)
    params = dict(params or {})
    _check_params(spec, params)
    _preflight(spec, params, orchestrator, as_of, model or {})  # fails in seconds, before anything is staged
    run_id = run_id or new_run_id(spec.name)
    who = orchestrator or ORCHESTRATOR
    record: dict[str, Any] = {"pipeline": spec.name, "params": params, "orchestrator": orchestrator, "run_id": run_id,
                              "model": dict(model or {}), "as_of": as_of or datetime.now(UTC).isoformat(),
                              "state": "running", "results": {}, "steps": {}, **(dict(done) if done else {})}
    context = {"as_of": as_of}
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for step in spec.steps:
        if step.name in record["results"]:  # finished before this resume: reused as it is
            results[step.name] = record["results"][step.name]
            timings[step.name] = {**record["steps"][step.name], "state": "done before"}
            continue
        kwargs = step_kwargs(step, params, results, context, model)
        log.info("step %s (%d/%d)", step.name, len(results) + 1, len(spec.steps))
        began = time.monotonic()
        tries = int(record["steps"].get(step.name, {}).get("tries", 0)) + 1
        try:
            results[step.name] = step.function()(run_id=run_id, orchestrator=orchestrator, **kwargs)
        except BaseException as exc:
            record["steps"][step.name] = {"state": "failed", "tries": tries}
            from ml.core.logs import MaskSecrets

            error = MaskSecrets().scrub(f"{type(exc).__name__}: {exc}")
            _save(record | {"state": "failed", "failed_step": step.name, "error": error})
            raise
        timings[step.name] = {"state": "success", "duration_s": round(time.monotonic() - began, 2), "tries": tries,
                              "cache": results[step.name].get("cache")}
        record["results"][step.name], record["steps"][step.name] = results[step.name], timings[step.name]
        _save(record)
    _save(record | {"state": "success"})
    summary = summarize(spec, results)
    return {
        "orchestrator": who, "pipeline": spec.command, "run_id": run_id, "state": "success", "succeeded": True,
        "wall_s": round(time.monotonic() - started, 2), "finished_at": datetime.now(UTC).isoformat(),
        "steps": timings, "results": results, "summary": summary, "warnings": warnings(summary),
    }


def record_uri(run_id: str) -> str:
    """Where an embedded run keeps its record (parameters, finished steps' results): its workspace."""
    from ml.core import workspace
    from ml.core.config import get_settings

    return workspace.run_uri(get_settings(), run_id, "run.json")


def _save(record: Mapping[str, Any]) -> None:
    from ml.core import storage

    storage.write_json(record_uri(record["run_id"]), dict(record))


def resume(run_id: str) -> dict[str, Any]:
    """Run the steps a failed embedded run did not finish, with its parameters and run id; the finished ones
    are reused as they are (their results, tries and times are the record's), not run again."""
    from ml.core import storage
    from ml.core.errors import BadInputError

    uri = record_uri(run_id)
    if not storage.exists(uri):
        raise BadInputError(f"no embedded run {run_id!r} here ({uri} does not exist); pass the run id a failed "
                            "run-training or run-inference printed, with the same ML_HOME / ML_WORK_URI")
    record = storage.read_json(uri)
    if record.get("state") == "success":
        raise BadInputError(f"run {run_id} succeeded already; nothing to resume (start a new run instead)")
    log.info("resuming %s run %s after %s (failed in %s)", record["pipeline"], run_id,
             ", ".join(record["results"]) or "no finished step", record.get("failed_step"))
    done = {k: record[k] for k in ("results", "steps", "as_of")}
    return run(record["pipeline"], record["params"], run_id=run_id, orchestrator=record.get("orchestrator"),
               as_of=record.get("as_of"), model=record.get("model") or None, done=done)


def _preflight(spec: Pipeline, params: Mapping[str, Any], orchestrator: str | None, as_of: str | None,
               model: Mapping[str, Any]) -> None:
    """The pipeline's checks before its first step, for the run's model and options (ml/pipelines/preflight.py)."""
    if not spec.preflight:
        return
    module, _, name = spec.preflight.partition(":")
    options = {p.option: params[p.name] for p in spec.params() if params.get(p.name) not in (None, "")}
    chosen = {k: v for k, v in model.items() if v not in (None, "")}
    getattr(importlib.import_module(module), name)(orchestrator=orchestrator, as_of=as_of, **chosen, **options)


def _check_params(spec: Pipeline, params: Mapping[str, Any]) -> None:
    """An unknown run parameter is a caller's bug here (the CLI offers only the spec's)."""
    known = {p.name for p in spec.params()}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"pipeline {spec.name} has no parameter {unknown[0]!r}; known: {', '.join(sorted(known))}")
