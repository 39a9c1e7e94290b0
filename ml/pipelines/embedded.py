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
        model: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every step of pipeline `name` with run parameters `params`; the run's outcome.

    `model`: the model options (`MODEL_OPTIONS`: model name, columns) every step that takes them gets.

    A failing step raises (its `MLError` keeps its exit code); the steps before it have published
    their outputs under the run's workspace, as on an orchestrator.
    """
    spec = pipeline(name)
    params = dict(params or {})
    _check_params(spec, params)
    _preflight(spec, params, orchestrator, as_of, model or {})  # fails in seconds, before anything is staged
    run_id = run_id or new_run_id(spec.name)
    who = orchestrator or ORCHESTRATOR
    context = {"as_of": as_of}
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    for step in spec.steps:
        kwargs = step_kwargs(step, params, results, context, model)
        log.info("step %s (%d/%d)", step.name, len(results) + 1, len(spec.steps))
        began = time.monotonic()
        results[step.name] = step.function()(run_id=run_id, orchestrator=orchestrator, **kwargs)
        timings[step.name] = {"state": "success", "duration_s": round(time.monotonic() - began, 2)}
    summary = summarize(spec, results)
    return {
        "orchestrator": who, "pipeline": spec.command, "run_id": run_id, "state": "success", "succeeded": True,
        "wall_s": round(time.monotonic() - started, 2), "finished_at": datetime.now(UTC).isoformat(),
        "steps": timings, "results": results, "summary": summary, "warnings": warnings(summary),
    }


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
