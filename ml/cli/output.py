"""How the CLI shows a command's result: a view for people, the JSON line for programs.

The step contract (docs/steps.md) is one JSON object on the last stdout line, and orchestrators
always read stdout through a pipe, so they always get it. The commands people run by hand
(`run-training`, `pipelines`, `history`, `versions`, `settings`, the lifecycle actions) also have a view:
tables and summaries on stderr, and on a terminal no JSON line unless `--json` asks for it
(the convention of `make train`'s client too). When piped, both come: stderr for the
eyes, stdout for `jq`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ml.core import terminal


def _history(result: dict[str, Any], wall_s: float) -> None:
    rows = [(m["at"].replace("T", " ")[:19], m["action"], f"v{m['previous']}" if m["previous"] else "-",
             f"v{m['new']}" if m["new"] else "-", m["actor"], m["git_sha"], (m["image_id"] or m["image"])[:30],
             m["decision"] or m["reason"]) for m in result["moves"]]
    title = f"champion history of {result['model_name']!r} (MLflow experiment {result['experiment']!r})"
    if rows:
        _table(title, ("time (UTC)", "action", "from", "to", "by", "git sha", "image", "decision"), rows,
               wrap=("by", "image", "decision"), optional=("image", "git sha"))
    else:
        _say(f"{title}: no champion moves recorded yet")
    _say(_champion_line(result))


def _versions(result: dict[str, Any], wall_s: float) -> None:
    rows = [(v["version"], v["created"].replace("T", " ")[:16], "-" if v["score"] is None else f"{v['score']:.4f}",
             ", ".join(v["aliases"]), v["review"], _task(v), v["base_model"], v["dataset_uri"]) for v in result["versions"]]
    title = f"versions of {result['model_name']!r}, newest first"
    if rows:
        metric = result["versions"][0]["metric"]
        _table(title, ("version", "created (UTC)", metric, "aliases", "review", "task (labels)", "base model", "dataset"),
               rows, wrap=("task (labels)", "base model", "dataset"), optional=("dataset", "base model", "created (UTC)"))
    else:
        _say(f"{title}: none registered yet; train one: {_train_hint()}")
    _say(_champion_line(result))


def _train_hint() -> str:
    from ml.core import hints
    from ml.core.config import get_settings

    return hints.train(get_settings())


def _task(version: dict[str, Any]) -> str:
    labels = ", ".join(version["labels"] or ["?"])
    return labels if version["same_task"] in (True, None) else f"{labels} (other task)"


def _champion_line(result: dict[str, Any]) -> str:
    pin = result.get("pinned")
    pinned = f"pinned by {pin['actor']}: {pin['reason']}" if pin else "not pinned"
    return f"champion now: v{result.get('champion_version') or '-'} ({pinned}); promotion mode {result['promotion_mode']}"


def _settings(result: dict[str, Any], wall_s: float) -> None:
    from ml.cli.help import variable
    from ml.core.config import Settings

    rows = [(variable(name), result[name], "environment" if variable(name) in os.environ else "default",
             field.description or "") for name, field in Settings.model_fields.items() if name in result]
    _table("effective settings (secrets masked)", ("variable", "value", "from", "meaning"), rows,
           wrap=("value", "meaning"), optional=("meaning",))


def _run(result: dict[str, Any], wall_s: float) -> None:
    """An embedded pipeline run: the lines `make train|infer` end with, then how to browse MLflow."""
    from ml.pipelines.outcome import describe

    _say(describe(result))
    metrics = _metrics((result.get("summary") or {}).get("metrics"))
    for key, value in (("test metrics", metrics), ("browse", _browse())):
        if value:
            _say(f"  {key}: {value}")


def _pipelines(result: dict[str, Any], wall_s: float) -> None:
    from ml.pipelines.describe import table

    _say(table().rstrip())


def _models(result: dict[str, Any], wall_s: float) -> None:
    from ml.pipelines.models import table

    _say(table(result))


def _metrics(metrics: dict[str, Any] | None) -> str | None:
    shown = {k: v for k, v in (metrics or {}).items() if k in ("test_accuracy", "test_macro_f1")}
    return " ".join(f"{k}={v:.4f}" for k, v in shown.items()) or None


def _browse() -> str | None:
    """How to open MLflow's UI on an embedded (SQLite) registry; None with a server (its URL is the link)."""
    from ml.core.config import get_settings

    uri = get_settings().mlflow_tracking_uri
    if not uri.startswith("sqlite:"):
        return None
    beside = Path(sys.executable).parent / "mlflow"  # this venv's, named in full unless it is the one on PATH
    program = "mlflow" if shutil.which("mlflow") == str(beside) or not beside.exists() else str(beside)
    return f"{program} ui --backend-store-uri {uri}"


def _quiet(result: dict[str, Any], wall_s: float) -> None:
    """Lifecycle actions: their decision is already logged; nothing more to show."""


def _views() -> dict[str, Callable[[dict[str, Any], float], None]]:
    """The view of each command that has one (the pipelines' commands are the spec's)."""
    from ml.pipelines.spec import pipelines

    views = {"history": _history, "versions": _versions, "settings": _settings, "pipelines": _pipelines,
             "models": _models, "rollback": _quiet, "unpin": _quiet, "approve": _quiet, "reject": _quiet}
    views.update({spec.cli: _run for spec in pipelines().values() if spec.cli})
    return views


def add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """`--json` for the commands that have a view."""
    if command in _views():
        parser.add_argument("--json", dest="_json", action="store_true",
                            help="print the JSON result on stdout even on a terminal (always done when piped)")


def emit(command: str, result: dict[str, Any], *, as_json: bool, stdout: TextIO, wall_s: float) -> str:
    """Show `result` (view on stderr; the JSON line on stdout unless a person reads it on a terminal)."""
    line = json.dumps(result, default=str)
    view = _views().get(command)
    if view is not None:
        view(result, wall_s)
    if view is None or as_json or not terminal.is_terminal(stdout):
        stdout.write(line + "\n")
        stdout.flush()
    return line


def _table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]], *, wrap: tuple[str, ...],
           optional: tuple[str, ...] = ()) -> None:
    terminal.table(title, header, rows, stream=sys.stderr, wrap=wrap, optional=optional)


def _say(line: str) -> None:
    print(terminal.printable(line, multiline=True), file=sys.stderr, flush=True)
