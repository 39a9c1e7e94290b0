"""The model-lifecycle commands people run: history, versions, rollback, unpin, approve, reject.

Each is a step-like function (keyword arguments in, a small JSON-able dict out) that the CLI
exposes (`python -m ml rollback ...`, `make rollback ...`) and that Airflow's approval tasks and
Dagster's review job call, so every entry point applies the one rule of `ml.lifecycle.champion`.
`actor` names who acted: a person (default: `cli:<user>`) or a pipeline run. A person's change
from the CLI also names the MLflow login that authorised it (`cli:alice [mlflow:ml-operator]`):
`--actor` is text anyone may type, the login is what the server checked.
"""

from __future__ import annotations

import getpass
import logging
import os
from typing import Any

from ml.core.config import Settings, settings_for
from ml.core.errors import BadInputError
from ml.lifecycle import champion, history, tracking

log = logging.getLogger(__name__)


def _settings(model_name: str | None, orchestrator: str | None) -> Settings:
    s = settings_for(orchestrator, model_name=model_name)
    tracking.configure(s)
    return s


def _who(actor: str | None, run_id: str | None, orchestrator: str | None) -> str:
    """`actor` (default: `default_actor`), plus the MLflow login when a person acts from the CLI."""
    name = actor or default_actor(run_id, orchestrator)
    login = os.environ.get("MLFLOW_TRACKING_USERNAME", "")
    return f"{name} [mlflow:{login}]" if login and not run_id else name


def default_actor(run_id: str | None = None, orchestrator: str | None = None) -> str:
    """Who acts when --actor is not given: the pipeline run (`<orchestrator>:<run id>`), else `cli:<login>`."""
    if run_id:
        return f"{orchestrator or 'cli'}:{run_id}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli:unknown"


def show_history(*, model_name: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Every move of `champion` (time, action, from, to, who, code and image, reason); a table on stderr."""
    s = _settings(model_name, orchestrator)
    state = champion.read_state(s)
    return {"model_name": s.model_name, "experiment": history.experiment_name(s), "champion_version": state.champion,
            "pinned": state.pin.__dict__ if state.pin else None, "promotion_mode": s.promotion_mode,
            "moves": [m.as_dict() for m in history.read(s)]}


def show_versions(*, model_name: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Every version of the model: its score, aliases, review state and task (the choices for rollback and approve)."""
    from ml.lifecycle import versions

    return versions.list_versions(_settings(model_name, orchestrator))


def rollback(*, version: str, reason: str, actor: str | None = None, new_task: bool = False,
             model_name: str | None = None, run_id: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Point `champion` at an earlier version and pin it: automatic promotion leaves it until `unpin`."""
    s = _settings(model_name, orchestrator)
    return champion.rollback(s, str(version), reason, _who(actor, run_id, orchestrator), new_task=new_task)


def unpin(*, actor: str | None = None, model_name: str | None = None, run_id: str | None = None,
          orchestrator: str | None = None) -> dict[str, Any]:
    """Release a pinned champion: the next training run promotes automatically again."""
    s = _settings(model_name, orchestrator)
    return champion.unpin(s, _who(actor, run_id, orchestrator))


def approve(*, version: str, reason: str = "", actor: str | None = None, new_task: bool = False,
            model_name: str | None = None, run_id: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Make a version champion by a person's decision (clears a pin; the quality gate still applies)."""
    s = _settings(model_name, orchestrator)
    return champion.approve(s, str(version), reason, _who(actor, run_id, orchestrator), new_task=new_task)


def reject(*, version: str, reason: str = "", actor: str | None = None, model_name: str | None = None,
           run_id: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Refuse a version: it is never promoted automatically; the refusal is in the history."""
    s = _settings(model_name, orchestrator)
    return champion.reject(s, str(version), reason, _who(actor, run_id, orchestrator))


def review(*, version: str, decision: str, reason: str = "", actor: str | None = None, new_task: bool = False,
           model_name: str | None = None, run_id: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """Apply a reviewer's decision on a pending version: `approve` or `reject` (approval tasks and jobs)."""
    choice = decision.strip().lower()
    common = {"version": version, "reason": reason, "actor": actor, "model_name": model_name, "run_id": run_id,
              "orchestrator": orchestrator}
    if choice == "approve":
        return approve(new_task=new_task, **common)
    if choice == "reject":
        return reject(**common)
    raise BadInputError(f"review decision {decision!r} is neither approve nor reject; pass --decision approve|reject")


#: The commands people run (`review`, the review pipeline's step, comes from the pipeline spec).
COMMANDS = {"history": show_history, "versions": show_versions, "rollback": rollback, "unpin": unpin,
            "approve": approve, "reject": reject}
