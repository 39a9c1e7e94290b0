"""Who may hold `champion`: the one rule for promotion, rollback (pin), approval and rejection.

The rule, applied identically by the CLI, Airflow and Dagster (docs/pipelines.md, "Model lifecycle"):

1. **Task.** A version's task signature (the `task_signature` tag train put on its MLflow run:
   the sorted label set and the text and label column names) says what it answers. The model's task is the champion's signature
   (with no champion yet: the lowest-numbered evaluated version's). Only versions of that task are
   ever promoted automatically; another task is registered, never promoted, and says why.
2. **Pin.** A rollback points `champion` at a version and pins it (registered-model tag
   `champion_pin`): automatic promotion then leaves it alone until `unpin` or an approval.
3. **Mode.** `ML_PROMOTION_MODE=auto`: the best eligible version (highest promotion metric, ties to
   the newer) holds `champion`. `approval`: a training run marks its version `pending` and a person
   decides (`approve` moves the alias and clears a pin, `reject` records the refusal).
4. **Eligible.** Evaluated, of the model's task, and not `pending`, `rejected` or `demoted` (the
   champion a rollback replaced: a bad model is not re-elected by its old score).

Scores and tasks are measurements read from each version's MLflow run (the promotion metric that
evaluate logged, the signature train tagged: `registry.measured`), never from the version's own
tags, which anyone allowed to edit the registered model can write: a version registered by hand
with a forged `metric.*` tag is not promoted by it.

Why automatic promotion is race-safe: MLflow has no transactions, so a promoter never compares
with a value it read earlier. It computes the target from a fresh read of the whole registry
(pin first, then the best eligible version: a total order every promoter agrees on), writes the
alias only when it differs, and repeats until a read *after* its own write still agrees. The
last write to the alias is therefore always followed by a confirming read of the final state.
A rollback writes its pin before it moves the alias, so every later confirmation restores it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml.core import hints
from ml.core.config import Settings
from ml.core.errors import BadInputError
from ml.lifecycle import history, registry
from ml.lifecycle.signature import describe_signature, task_signature

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

SIGNATURE_TAG = registry.SIGNATURE_TAG
REVIEW_TAG = "review"
PIN_TAG = "champion_pin"
#: "true" on a version trained with `--new-task`: the model's task changes to it on purpose.
NEW_TASK_TAG = "new_task"
INELIGIBLE = ("pending", "rejected", "demoted")
MAX_ROUNDS = 20


@dataclass(frozen=True)
class Pin:
    version: str
    actor: str
    reason: str
    at: str

    def describe(self) -> str:
        return f"v{self.version} pinned by {self.actor} at {self.at[:19]}: {self.reason}"


@dataclass(frozen=True)
class State:
    """One read of everything the rule looks at."""

    versions: list[ModelVersion]
    champion: str | None
    pin: Pin | None
    measured: dict[str, registry.Measured] = field(default_factory=dict)  # version -> what its run measured

    def get(self, version: str) -> ModelVersion | None:
        return next((v for v in self.versions if str(v.version) == str(version)), None)

    def score(self, version: ModelVersion | None) -> float | None:
        """The promotion metric of `version`'s run (None: not evaluated, no run, or no such version)."""
        found = self.measured.get(str(version.version)) if version is not None else None
        return found.score if found is not None else None

    def signature(self, version: ModelVersion | None) -> str | None:
        found = self.measured.get(str(version.version)) if version is not None else None
        return found.signature if found is not None else None

    def task(self, metric: str) -> str | None:
        """The model's task signature (see the module docstring, rule 1)."""
        champ = self.get(self.champion) if self.champion else None
        if champ is not None:
            return self.signature(champ)
        scored = sorted((int(v.version), v) for v in self.versions if self.score(v) is not None)
        return self.signature(scored[0][1]) if scored else None

    def eligible(self, metric: str) -> list[ModelVersion]:
        task = self.task(metric)
        return [v for v in self.versions if self.score(v) is not None
                and self.signature(v) == task and review_of(v) not in INELIGIBLE]

    def target(self, metric: str) -> str | None:
        """Where `champion` must point now: the pin, else the best eligible version (highest score, ties to the newer)."""
        if self.pin is not None:
            return self.pin.version
        scored = [(self.score(v), int(v.version), v) for v in self.eligible(metric)]
        return str(max(scored, key=lambda t: (t[0], t[1]))[2].version) if scored else None


def review_of(version: ModelVersion) -> str:
    return (version.tags or {}).get(REVIEW_TAG, "")


def read_state(settings: Settings) -> State:
    versions = registry.all_versions(settings)
    return State(versions=versions, champion=registry.champion_version(settings), pin=read_pin(settings),
                 measured=registry.measured(settings, versions, settings.promotion_metric))


def read_pin(settings: Settings) -> Pin | None:
    raw = registry.model_tags(settings).get(PIN_TAG)
    return Pin(**json.loads(raw)) if raw else None


def write_pin(settings: Settings, pin: Pin | None) -> None:
    if pin is None:
        registry.delete_model_tag(settings, PIN_TAG)
    else:
        registry.set_model_tag(settings, PIN_TAG, json.dumps(pin.__dict__))


def provenance(version: ModelVersion | None) -> dict[str, str]:
    """The code and image that made a version, for its history line."""
    tags = (version.tags or {}) if version is not None else {}
    return {"git_sha": tags.get("git_sha", ""), "image": tags.get("image", ""), "image_id": tags.get("image_id", "")}


def owner(version: ModelVersion | None) -> str:
    """Whose version it is: the pipeline run that trained it (`airflow:<run id>`, `dagster:<run id>`)."""
    tags = (version.tags or {}) if version is not None else {}
    run = tags.get("pipeline_run_id", "")
    return f"{tags.get('orchestrator') or 'cli'}:{run}" if run else ""


def evidence(state: State, target: str, metric: str) -> str:
    """Why the rule puts `champion` on `target`: the pin, or its score as the best of the task."""
    if state.pin is not None and state.pin.version == str(target):
        return f"pinned: {state.pin.describe()}"
    score = state.score(state.get(target))  # what its run measured (State reads the promotion metric)
    shown = f"{score:.4f}" if score is not None else "unscored"
    return f"v{target} {metric}={shown}, the best of its task (ties go to the newer version)"


def move_champion(settings: Settings, target: str, action: str, actor: str, *, reason: str = "",
                  decision: str = "", on_behalf_of: str = "") -> State:
    """Point `champion` at `target`, confirm with a fresh read, record the move if it held.

    The entry's time is taken before the confirming read: a writer that moves the alias after
    that read confirms (and records) later, so the history's order is the alias's order.
    """
    registry.set_champion(settings, target)
    at = history.now_ms()
    confirmed = read_state(settings)
    if confirmed.champion == target:
        history.record(settings, action, None, target, actor, moved=True, at_ms=at, reason=reason,
                       decision=decision, provenance=provenance(confirmed.get(target)), on_behalf_of=on_behalf_of)
    return confirmed


def converge(settings: Settings, action: str, actor: str, *, reason: str = "",
             decision: str = "") -> tuple[State, bool]:
    """Move `champion` to the rule's target until a read after the last write agrees (race-safe).

    Returns the confirming state and whether this call recorded a move (at most one: the loop
    ends at the first confirmed write). The entry names the target's evidence (`reason` when the
    caller gives one) and, when the target is another run's version, that run (`on_behalf_of`).
    """
    metric = settings.promotion_metric
    state = read_state(settings)
    for _ in range(MAX_ROUNDS):
        target = state.target(metric)
        if target is None or state.champion == target:  # `state` is a read after every earlier write
            return state, False
        verb = "restore pin" if state.pin is not None and action not in ("rollback", "pin") else action
        state = move_champion(settings, target, verb, actor, reason=reason or evidence(state, target, metric),
                              decision=decision, on_behalf_of=owner(state.get(target)))
        if state.champion == target:
            return state, True
    return state, False


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    champion_version: str
    decision: str
    awaiting_approval: bool = False


def _candidate(state: State, version: str, metric: str, name: str) -> tuple[ModelVersion, float]:
    ours = state.get(version)
    if ours is None:
        raise BadInputError(f"model {name!r} has no version {version}; register it first")
    score = state.score(ours)
    if score is None:
        raise BadInputError(f"version {version} of {name!r} has no {metric} in its MLflow run ({ours.run_id or 'none'}); "
                            "run evaluate and register first")
    return ours, score


def promote(version: str, settings: Settings, actor: str = "") -> Promotion:
    """A training run's promotion of its own new version, by the rule above."""
    name, metric = settings.model_name, settings.promotion_metric
    actor = actor or settings.orchestrator
    state = read_state(settings)
    ours, our_score = _candidate(state, version, metric, name)
    previous = state.champion
    task = state.task(metric)
    new_task = (ours.tags or {}).get(NEW_TASK_TAG) == "true"
    if state.signature(ours) != task and not (new_task and settings.promotion_mode == "auto" and state.pin is None):
        decision = (f"v{version} not promoted: its task is {describe_signature(state.signature(ours))}, but {name!r} "
                    f"answers {describe_signature(task)} (champion v{previous or '-'}); use one model per task (a "
                    "catalog entry, --model-name; ML_MODEL_NAME is the default model), or make it the champion "
                    f"explicitly: {hints.command(settings, 'approve', version=version, new_task=True, model_name=name)}")
        return _decided(settings, version, Promotion(False, previous or "", decision))
    if state.signature(ours) != task:  # trained with --new-task: the model's task changes now
        decision = (f"promoted v{version} ({metric}={our_score:.4f}) to {registry.CHAMPION} as {name!r}'s new task, "
                    f"{describe_signature(state.signature(ours))} (--new-task); previous champion: v{previous or '-'}")
        move_champion(settings, str(version), "new task", actor, reason=f"v{version} {metric}={our_score:.4f}, "
                      "trained with --new-task", decision=decision, on_behalf_of=owner(ours))
        return _decided(settings, version, Promotion(True, str(version), decision))
    if settings.promotion_mode == "approval":
        registry.set_version_tag(settings, version, REVIEW_TAG, "pending")
        champ = state.get(previous) if previous else None
        champ_score = state.score(champ)
        versus = f"champion v{previous} {champ_score:.4f}" if champ_score is not None else "no champion yet"
        decision = (f"v{version} ({metric}={our_score:.4f}; {versus}) awaits approval (ML_PROMOTION_MODE=approval): "
                    f"{hints.command(settings, 'approve', version=version)}, or "
                    f"{hints.command(settings, 'reject', version=version, reason='...')}")
        return _decided(settings, version, Promotion(False, previous or "", decision, awaiting_approval=True))
    if state.pin is not None:
        decision = (f"v{version} ({metric}={our_score:.4f}) stays challenger: champion {state.pin.describe()}; "
                    f"{hints.command(settings, 'unpin')} resumes automatic promotion")
        final, _ = converge(settings, "promote", actor)  # restores the pin should a racing promoter have moved it
        return _decided(settings, version, Promotion(False, final.champion or "", decision))
    final, moved = converge(settings, "promote", actor)
    return _decided(settings, version, _promotion_decision(settings, final, version, our_score, previous, moved, actor))


def _promotion_decision(settings: Settings, final: State, version: str, our_score: float, previous: str | None,
                        moved: bool, actor: str) -> Promotion:
    """What a training run's promotion did, naming who moved the alias, to whose version, on which evidence."""
    metric = settings.promotion_metric
    champion = final.champion or ""
    prev_text = f"v{previous}" if previous else "none"
    promoted = f"promoted v{version} ({metric}={our_score:.4f}) to {registry.CHAMPION}"
    if champion == str(version) and moved:
        return Promotion(True, champion, f"{promoted}; previous champion: {prev_text}")
    if champion == str(version):  # the move was made before this read: by another run's promoter, or an earlier try
        move = history.last_move_to(settings, version)
        before = ("v" + move.previous if move.previous else "none") if move else prev_text
        if move is not None and move.actor == actor:
            decision = f"{promoted} (an earlier try of this run moved it, at {move.at[:19]}); previous champion: {before}"
        else:
            who = (f"{move.actor} moved it there ({before} -> v{version}) at {move.at[:19]} on this run's behalf"
                   if move else "another promoter moved it there")
            decision = (f"v{version} ({metric}={our_score:.4f}) is {registry.CHAMPION}: {who}, found already made by "
                        f"this run's promotion; previous champion: {before}")
        return Promotion(True, champion, decision)
    best = final.get(champion)
    best_score = final.score(best)
    shown = f"{best_score:.4f}" if best_score is not None else "unscored"
    whose = owner(best)
    if moved:  # this run moved the alias, to another run's version
        decision = (f"v{version} ({metric}={our_score:.4f}) not promoted; this run moved {registry.CHAMPION} {prev_text} -> "
                    f"v{champion} ({whose or 'another run'}'s version, {metric}={shown}, the best of the task; ties go "
                    f"to the newer) on that run's behalf")
    else:
        decision = f"kept v{champion} as {registry.CHAMPION} ({metric}={shown}); v{version} scored {our_score:.4f}"
    return Promotion(False, champion, decision)


def _decided(settings: Settings, version: str, outcome: Promotion) -> Promotion:
    registry.set_version_tag(settings, version, "promotion_decision", outcome.decision)
    log.info(outcome.decision)
    return outcome


def _checked(settings: Settings, state: State, version: str, *, action: str = "approve", reason: str = "",
             new_task: bool = False) -> ModelVersion:
    """A version a person may make champion (`action`: rollback or approve): exists, READY, of the model's task
    (unless `new_task`)."""
    name = settings.model_name
    found = state.get(version)
    if found is None:
        known = ", ".join(sorted((str(v.version) for v in state.versions), key=int)) or "none"
        raise BadInputError(f"model {name!r} has no version {version} (versions: {known}); "
                            f"pick one from {hints.command(settings, 'versions')}")
    if str(found.status) != "READY":
        raise BadInputError(f"version {version} of {name!r} is {found.status}, not READY; wait for its registration or pick another")
    task = state.task(settings.promotion_metric)
    if not new_task and state.champion and state.signature(found) != task:
        raise BadInputError(
            f"version {version} of {name!r} answers {describe_signature(state.signature(found))}, the champion "
            f"{describe_signature(task)}; use a separate ML_MODEL_NAME, or change the model's task: "
            f"{hints.command(settings, action, version=version, reason=reason, new_task=True)}")
    return found


def rollback(settings: Settings, version: str, reason: str, actor: str, *, new_task: bool = False) -> dict[str, Any]:
    """Point `champion` at `version` and pin it; the replaced champion is marked `demoted`.

    `new_task`: the version may answer another task than the champion (the model's task changes).
    """
    if not reason.strip():
        raise BadInputError("rollback needs a reason (--reason \"...\"): it is kept in the champion history")
    state = read_state(settings)
    found = _checked(settings, state, version, action="rollback", reason=reason, new_task=new_task)
    previous = state.champion
    pin = Pin(version=str(found.version), actor=actor, reason=reason, at=datetime.now(UTC).isoformat(timespec="seconds"))
    write_pin(settings, pin)  # before the alias: every racing promoter's confirmation now restores it
    if previous != str(version):  # a move (also when there was no champion)
        if previous:
            registry.set_version_tag(settings, previous, REVIEW_TAG, "demoted")
            decision = f"rolled back champion v{previous} -> v{version} and pinned it: {reason}"
        else:
            decision = f"made v{version} champion (there was none) and pinned it: {reason}"
        action = "rollback"
    else:
        decision, action = f"pinned champion v{version}: {reason}", "pin"
    final, moved = converge(settings, action, actor, reason=reason, decision=decision)
    if not moved:  # the alias already pointed there (or a racing promoter restored the pin first): listed once anyway
        history.record(settings, action, str(version), str(version), actor, moved=False, reason=reason,
                       decision=decision, provenance=provenance(found))
    log.info(decision)
    return {"model_name": settings.model_name, "champion_version": final.champion, "previous": previous,
            "pinned": True, "decision": decision}


def unpin(settings: Settings, actor: str) -> dict[str, Any]:
    """Let automatic promotion move `champion` again (the alias itself stays where it is)."""
    pin = read_pin(settings)
    if pin is None:
        raise BadInputError(f"champion of {settings.model_name!r} is not pinned; nothing to unpin")
    write_pin(settings, None)
    champion = registry.champion_version(settings)
    decision = f"unpinned v{pin.version}; the next training run promotes automatically again"
    history.record(settings, "unpin", champion, champion, actor, moved=False, decision=decision)
    return {"model_name": settings.model_name, "champion_version": champion, "pinned": False, "decision": decision}


def approve(settings: Settings, version: str, reason: str, actor: str, *, new_task: bool = False) -> dict[str, Any]:
    """A person's promotion: `champion` -> `version`, any pin cleared; the gate still applies."""
    from ml.training import gates

    state = read_state(settings)
    found = _checked(settings, state, version, action="approve", reason=reason or None, new_task=new_task)
    gate = gates.quality_gate(registry.run_metrics(settings, found), settings)
    if not gate.passed:
        raise BadInputError(f"version {version} of {settings.model_name!r} is below the quality gate: {gate.reason}")
    if state.pin is not None:
        write_pin(settings, None)
    registry.set_version_tag(settings, version, REVIEW_TAG, "approved")
    registry.set_version_tag(settings, version, "review_by", actor)
    decision = f"approved v{version} as champion (previous: v{state.champion or '-'})" + (f": {reason}" if reason else "")
    if state.champion != str(version):
        move_champion(settings, str(version), "approve", actor, reason=reason, decision=decision)
    else:
        history.record(settings, "approve", state.champion, state.champion, actor, moved=False, reason=reason,
                       decision=decision, provenance=provenance(found))
    registry.set_version_tag(settings, version, "promotion_decision", decision)
    log.info(decision)
    return {"model_name": settings.model_name, "version": str(version), "champion_version": str(version),
            "approved": True, "decision": decision}


def reject(settings: Settings, version: str, reason: str, actor: str) -> dict[str, Any]:
    """A person's refusal: `version` is never promoted automatically; recorded in the history."""
    state = read_state(settings)
    found = state.get(version)
    if found is None:
        raise BadInputError(f"model {settings.model_name!r} has no version {version}; "
                            f"pick one from {hints.command(settings, 'versions')}")
    if state.champion == str(version):
        raise BadInputError(f"v{version} is the champion; roll back to another version instead: "
                            f"{hints.command(settings, 'rollback', version='N', reason='...')}")
    registry.set_version_tag(settings, version, REVIEW_TAG, "rejected")
    registry.set_version_tag(settings, version, "review_by", actor)
    decision = f"rejected v{version}" + (f": {reason}" if reason else "")
    registry.set_version_tag(settings, version, "promotion_decision", decision)
    history.record(settings, "reject", state.champion, state.champion, actor, moved=False, reason=reason,
                   decision=decision, provenance=provenance(found))
    log.info(decision)
    return {"model_name": settings.model_name, "version": str(version), "champion_version": state.champion,
            "approved": False, "decision": decision}


__all__ = ["Promotion", "approve", "describe_signature", "promote", "read_state", "reject", "rollback", "task_signature",
           "unpin"]
