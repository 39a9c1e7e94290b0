"""The spec for people and tools: `python -m ml pipelines [--json]`, and the pipeline commands.

(The CLI shows `pipelines` as tables on stderr, and its JSON line when piped or with `--json`:
`ml/cli/output.py`.)

`run-training` and `run-inference` are built here from the spec: one option per run parameter
(with the parameter's own help and bounds), plus the run id, the orchestrator name and, where a
step takes it, `--as-of`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ml.core.config import Settings
from ml.pipelines.params import Param
from ml.pipelines.spec import CONTEXT_HELP, MODEL_OPTIONS, Pipeline, Step, pipelines

#: Help of the model options (what the catalog entry and ML_* settings are to orchestrated runs).
MODEL_OPTION_HELP = {
    "model_name": "The model to train or use: a registered model of its own, with its own champion, history and "
                  "locations; with ML_MODEL_CATALOG, an entry of the catalog (default: $ML_MODEL_NAME).",
    "text_column": "Column holding the text (default: the model's catalog entry, else $ML_TEXT_COLUMN).",
    "label_column": "Column holding the label (default: the model's catalog entry, else $ML_LABEL_COLUMN).",
    "id_column": "Column holding the row id, kept under its name in the predictions (default: the model's catalog "
                 "entry, else $ML_ID_COLUMN; rows are numbered when the input has none).",
}

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}


def as_json() -> dict[str, Any]:
    """The spec as one JSON-able object (what `python -m ml pipelines --json` prints)."""
    return {"pipelines": {name: _pipeline_json(p) for name, p in pipelines().items()}}


def _pipeline_json(p: Pipeline) -> dict[str, Any]:
    out: dict[str, Any] = {"command": p.command, "cli": p.cli, "airflow_dag": p.airflow_dag,
                           "dagster_job": p.dagster_job, "dagster_group": p.dagster_group,
                           "params": [q.name for q in p.params()], "steps": [_step_json(s) for s in p.steps]}
    if p.daily:
        out["daily"] = {"dagster_job": p.daily.dagster_job, "dagster_group": p.daily.dagster_group,
                        "dagster_prefix": p.daily.dagster_prefix, "partition_param": p.daily.partition_param}
    return out


def _step_json(s: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"step": s.name, "function": s.call, "after": list(s.upstream),
                           "inputs": {k: f"{r.step}.{r.output}" for k, r in s.inputs.items()},
                           "params": list(s.params), "airflow_task": s.airflow_task, "limit_s": s.limit_s,
                           "cacheable": s.cacheable}
    for key in ("dagster_asset", "dagster_check", "dagster_op"):
        if getattr(s, key):
            out[key] = getattr(s, key)
    if s.dagster_checks:
        out["dagster_checks"] = dict(s.dagster_checks)
    return out


def _limit(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def table() -> str:
    """A table per pipeline: step, after, Airflow task, Dagster asset or check, time limit."""
    lines: list[str] = []
    for p in pipelines().values():
        daily = f"; daily: {p.daily.dagster_job} ({p.daily.dagster_prefix}/...)" if p.daily else ""
        lines += [f"{p.name}: {p.title}. Airflow DAG {p.airflow_dag}, Dagster job {p.dagster_job}{daily}",
                  f"  {'step':<20} {'after':<44} {'airflow task':<24} {'dagster':<32} limit"]
        for s in p.steps:
            dagster = s.dagster_asset or (f"check {s.dagster_check}" if s.dagster_check else f"op {s.dagster_op}")
            lines.append(f"  {s.name:<20} {', '.join(s.upstream) or '-':<44} {s.airflow_task:<24} {dagster:<32} "
                         f"{_limit(s.limit_s)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def show_pipelines() -> dict[str, Any]:
    """The pipelines as the spec declares them: steps, edges, names in each runner, time limits."""
    return as_json()


def pipeline_command(spec: Pipeline) -> Callable[..., dict[str, Any]]:
    """The embedded runner of `spec` as a CLI command: keyword-only options from its run parameters."""
    from ml.pipelines import embedded

    model_options = [o for o in MODEL_OPTIONS if any(o in s.model_options() for s in spec.steps)]

    def command(*, run_id: str | None = None, orchestrator: str | None = None, **values: Any) -> dict[str, Any]:
        as_of = values.pop("as_of", None)
        model = {o: values.pop(o) for o in model_options if o in values}
        return embedded.run(spec.name, values, run_id=run_id, orchestrator=orchestrator, as_of=as_of, model=model)

    options = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_annotation(p))
               for p in spec.params()]
    for name in (*model_options, "run_id", "orchestrator"):
        options.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None))
    if any("as_of" in s.context for s in spec.steps):
        options.append(inspect.Parameter("as_of", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None))
    command.__signature__ = inspect.Signature(options)  # type: ignore[attr-defined]
    command.__name__ = command.__qualname__ = spec.cli or spec.name
    command.__doc__ = (f"Run the {spec.name} pipeline in this process: {' -> '.join(s.name for s in spec.steps)}.\n\n"
                       "Every option is a run parameter that Airflow and Dagster offer too; unset ones take the "
                       "step's default. The outcome (each step's result, the summary) is the last stdout line.")
    # a parameter that overrides a setting gets the setting's description and its value now (ml/cli)
    command.option_help = {p.name: _cli_help(p.description) for p in spec.params()  # type: ignore[attr-defined]
                           if p.name not in Settings.model_fields}
    command.option_help.update({o: MODEL_OPTION_HELP[o] for o in model_options})
    command.option_help.update(run_id="The run's id; every path it writes derives from it (default: a new id).",
                               orchestrator="Who runs it, in run names and tags (default: cli).", **CONTEXT_HELP)
    return command


def _annotation(p: Param) -> Any:
    kind = _TYPES[p.schema.get("type", "string")]
    return kind | None


def _cli_help(form_text: str) -> str:
    """A form's help as option help: an option left out is what a form calls empty."""
    return form_text.replace(". Empty: ", ". Default: ").replace("Empty: ", "Default: ", 1)
