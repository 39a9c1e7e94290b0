"""`python -m ml <command>`: a sub-command per step and per pipeline of the spec, plus helpers.

The steps and pipelines are the spec's (`ml/pipelines/spec.py`): a step's options come from its
function's signature, a pipeline's (`run-training`, `run-inference`) from its run parameters.

Contract (docs/steps.md): logs go to stderr; the LAST stdout line is one JSON object (the step's
outputs); failures print one `error: ...` line and exit 2 (bad input, do not retry), 75
(transient, retry) or 1 (anything else).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import time
import traceback
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml import __version__
from ml.cli import help as clihelp
from ml.cli import output
from ml.core import logs
from ml.core.config import Settings, get_settings, with_overrides
from ml.core.errors import EXIT_FAILURE, MLError
from ml.core.terminal import MAX_ERROR_CHARS, printable


def demo_data(*, output_uri: str, rows: int = 2000, labelled: bool = True, seed: int = 7) -> dict[str, Any]:
    """Write the built-in SYNTHETIC demo dataset (CSV) to a local path or s3:// URI."""
    import csv
    import tempfile
    from pathlib import Path

    from ml.core import storage
    from ml.data import demo

    records = demo.rows(rows, seed=seed, with_labels=labelled)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        storage.publish(path, output_uri)
    return {"output_uri": output_uri, "rows": rows, "labelled": labelled, "synthetic": True}


def upload(*, source_uri: str, output_uri: str) -> dict[str, Any]:
    """Copy a data file (local path, s3:// or http(s)://) to a local path or s3:// URI, atomically.

    For your own data in the stack: `docker compose run --rm -v "$PWD/x.csv:/in/x.csv:ro" ml-cli
    python -m ml upload --source-uri /in/x.csv --output-uri s3://datasets/x.csv`.
    """
    import tempfile

    from ml.core import storage

    with tempfile.TemporaryDirectory() as tmp:
        local = storage.fetch(source_uri, Path(tmp) / (Path(source_uri).name or "data"))
        storage.publish(local, output_uri)
        size = local.stat().st_size
    return {"source_uri": source_uri, "output_uri": output_uri, "bytes": size}


def init_storage(*, extra_buckets: str = "") -> dict[str, Any]:
    """Create the buckets the settings name, plus `extra_buckets` (idempotent); local mode creates the folders."""
    from ml.core import storage

    s = get_settings()
    if not s.uses_s3:
        for uri in (s.work_uri, s.results_uri):
            Path(uri).mkdir(parents=True, exist_ok=True)
        return {"mode": "local", "created": [s.work_uri, s.results_uri]}
    names = sorted({*storage.bucket_names(s), *(b.strip() for b in extra_buckets.split(",") if b.strip())})
    return {"mode": "s3", "buckets": names, "created": storage.ensure_buckets(names)}


def show_settings() -> dict[str, Any]:
    """The effective settings (environment + defaults), secrets masked."""
    return get_settings().public()


def cache_command(action: typing.Literal["list", "prune"], *, older_than_days: float | None = None) -> dict[str, Any]:
    """List the step cache's entries, or prune those past ML_CACHE_RETENTION_DAYS and the stale ones."""
    from ml.pipelines import cache

    return cache.cache_command(action, older_than_days=older_than_days)


def resume(*, run: str) -> dict[str, Any]:
    """Resume a failed embedded run (run-training, run-inference) from its failed step; the steps it finished are reused."""
    from ml.pipelines import embedded

    return embedded.resume(run)


def _commands() -> dict[str, tuple[Callable[..., dict[str, Any]], str]]:
    """Every command: the spec's steps and pipelines, then the helpers and the lifecycle commands."""
    from ml.lifecycle import commands
    from ml.pipelines import describe, models
    from ml.pipelines.spec import pipelines

    table: dict[str, tuple[Callable[..., dict[str, Any]], str]] = {}
    for spec in pipelines().values():
        table.update({step.name: (step.function(), "step") for step in spec.steps})
    for spec in pipelines().values():
        if spec.cli:
            table[spec.cli] = (describe.pipeline_command(spec), "pipeline")
    table.update({
        "pipelines": (describe.show_pipelines, "helper"),
        "models": (models.show_models, "helper"),
        "demo-data": (demo_data, "helper"),
        "upload": (upload, "helper"),
        "init-storage": (init_storage, "helper"),
        "settings": (show_settings, "helper"),
        "cache": (cache_command, "helper"),
        "resume": (resume, "pipeline"),
    })
    table.update({name: (fn, "lifecycle") for name, fn in commands.COMMANDS.items()})
    return table


def _scalar_type(annotation: Any) -> type:
    """`int | None` -> int; the CLI only passes scalars."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {"Any": Any})  # annotations are postponed (from __future__)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation if annotation in (int, float, str, bool) else str


# Help for options that are not settings fields; `<function>.<option>` overrides a plain name.
STEP_OPTION_HELP: dict[str, str] = {
    "run_id": "The orchestrator's run id; every path the step writes derives from it.",
    "data_uri": "Staged data of this run (the data_uri a load step printed).",
    "model_uri": "Trained model folder (the model_uri train printed).",
    "mlflow_run_id": "MLflow run of the training (the mlflow_run_id train printed).",
    "predictions_uri": "Staged predictions (the predictions_uri predict printed).",
    "check_drift.data_uri": "Staged inference input of this run (the data_uri load-inference-data printed).",
    "check_drift.version": "Model version that made the predictions (its drift reference is compared).",
    "version": "Registered model version; default: the version the alias points to.",
    "alias": "Registry alias to resolve when no --version is given.",
    "input_uri": "Texts to label: CSV, TSV, JSONL or Parquet with a text column ($ML_TEXT_COLUMN); a local path, "
                 "s3:// or http(s) URI; default: the day's partition from $ML_INFERENCE_INPUT_TEMPLATE.",
    "partition_date": "Day to label (YYYY-MM-DD) when no --input-uri is given.",
    "save_predictions.partition_date": "The day this run labelled (the partition_date load-inference-data printed): "
                                       "publish to that day's stable location, $ML_RESULTS_URI/daily/<day>/.",
    "as_of": "When the run was triggered (ISO time); without --partition-date the day before is labelled.",
    "output_uri": "Where to publish the predictions; default: under $ML_RESULTS_URI, one folder per run.",
    "rows": "Number of rows to generate.",
    "extra_buckets": "More buckets to create, comma-separated (compose: MLflow's, whose own user may not create it).",
    "labelled": "Include the label column (training data) or not (inference input).",
    "reason": "Why (kept in the champion history).",
    "actor": "Who decides (default: cli:<your login>); kept in the champion history.",
    "new_task": "Allow a version whose task (labels, columns) differs from the champion's; the model's task changes.",
    "rollback.version": "Version to make champion and pin.",
    "approve.version": "Version to make champion.",
    "reject.version": "Version to refuse.",
    "review.version": "Version the reviewer decided on.",
    "decision": "approve or reject.",
    "demo_data.output_uri": "Where to write the CSV (local path or s3:// URI).",
    "upload.source_uri": "The file to copy: a local path, s3:// or http(s)://.",
    "upload.output_uri": "Where to put it: a local path or s3:// URI (written atomically).",
    "demo_data.seed": "Random seed of the generator (same seed, same rows).",
    "cache_command.action": "list: every entry, newest first; prune: remove the entries past retention and the stale "
                            "ones (their outputs are gone or changed).",
    "cache_command.older_than_days": "prune: remove entries at least this many days old (default: "
                                     "ML_CACHE_RETENTION_DAYS).",
    "resume.run": "The run id of the failed run (its outcome printed it: cli-training-..., cli-inference-...).",
}


def _option_help(fn: Callable[..., Any], name: str, default: Any) -> str:
    """Help of one option: the settings field's description when the option overrides it, else the table.

    Why: `--help` is where a new user learns what an option does, its default now, and which variable sets it.
    """
    field = Settings.model_fields.get(name)
    own = getattr(fn, "option_help", {}).get(name) or STEP_OPTION_HELP.get(f"{fn.__name__}.{name}")
    if own is None and field is not None and default is None:
        text = field.description or name.replace("_", " ")
        return f"{text} ({clihelp.default_note(name)})".replace("%", "%%")
    text = own or STEP_OPTION_HELP.get(name, "")
    if default not in (None, inspect.Parameter.empty):
        text = f"{text} (default: {default})"
    return text.replace("%", "%%")


def _settings_options(fn: Callable[..., Any]) -> set[str]:
    """Options of `fn` that override a settings field (default None = the environment's value)."""
    return {name for name, param in inspect.signature(fn).parameters.items()
            if name in Settings.model_fields and param.default is None}


def _boolean(text: str) -> bool:
    """`true`/`false` (any case, also 1/0, yes/no): the value of a boolean option given one."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _add_options(parser: argparse.ArgumentParser, fn: Callable[..., Any]) -> None:
    """One `--option` per keyword-only parameter; a positional parameter (a Literal) is an argument with choices."""
    for name, param in inspect.signature(fn).parameters.items():
        flag = "--" + name.replace("_", "-")
        text = _option_help(fn, name, param.default)
        if param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:  # `cache list|prune`
            parser.add_argument(name, choices=typing.get_args(eval(param.annotation, {"typing": typing})),
                                help=text)
            continue
        kind = _scalar_type(param.annotation)
        required = param.default is inspect.Parameter.empty
        if kind is bool:  # `--flag`, `--no-flag`, or `--flag true|false` (what a templated task renders)
            parser.add_argument(flag, dest=name, nargs="?", const=True, type=_boolean, metavar="true|false",
                                default=None if required else param.default, help=text)
            parser.add_argument(f"--no-{flag[2:]}", dest=name, action="store_false", help=argparse.SUPPRESS)
        else:
            parser.add_argument(flag, dest=name, type=kind, required=required, help=text,
                                default=None if required else param.default, metavar=name.upper())


def validate_options(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Check settings-backed option values before the step runs (`--epochs 0` fails before loading data)."""
    updates = {k: v for k, v in kwargs.items() if k in _settings_options(fn) and v is not None}
    if updates:
        with_overrides(get_settings(), updates)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description="Text-classification pipeline steps.")
    parser.add_argument("--version", action="version", version=f"ml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for command, (fn, kind) in _commands().items():
        summary = (inspect.getdoc(fn) or "").splitlines()[0]
        child = sub.add_parser(command, help=f"[{kind}] {summary}", description=inspect.getdoc(fn),
                               epilog=clihelp.epilog(command), formatter_class=argparse.RawDescriptionHelpFormatter)
        child.set_defaults(_fn=fn)
        _add_options(child, fn)
        output.add_options(command, child)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.verbose)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("_fn", "_json", "command", "verbose")}
    stdout = sys.stdout
    started = time.monotonic()
    try:
        # Libraries sometimes print to stdout; keep it clean for the one JSON line.
        validate_options(args._fn, kwargs)
        with contextlib.redirect_stdout(sys.stderr):
            result = args._fn(**kwargs)
    except MLError as exc:
        scrubbed = logs.MaskSecrets().scrub(str(exc))
        for line in scrubbed.splitlines() or [""]:  # one line per mistake (a catalog may have several)
            print(f"error: {printable(line, limit=MAX_ERROR_CHARS)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug or an unexpected fault: full traceback, then the one line
        mask = logs.MaskSecrets()
        print(mask.scrub(traceback.format_exc()), file=sys.stderr, end="")
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: {args.command} failed: {type(exc).__name__}: {printable(mask.scrub(first), limit=MAX_ERROR_CHARS)}",
              file=sys.stderr)
        return EXIT_FAILURE
    line = output.emit(args.command, result, as_json=getattr(args, "_json", False), stdout=stdout,
                       wall_s=time.monotonic() - started)
    _write_result_file(line)
    return 0


def _write_result_file(line: str) -> None:
    """The result also as a file when `ML_RESULT_PATH` asks (pod launchers read it, not stdout).

    Written to a temporary name and renamed, so a reader never sees half a JSON object.
    """
    target = get_settings().result_path
    if not target:
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(line, encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["build_parser", "main"]
