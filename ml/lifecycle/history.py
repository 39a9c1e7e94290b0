"""The champion's history: every move of the alias, kept durably in MLflow and readable as a table.

Why MLflow runs: the registry keeps only where an alias points now. Each move (promotion,
rollback, approval, rejection, pin/unpin) is written as one finished run in the experiment
`champion-history/<model name>`, so it survives with the registry's own database, needs no
sequence number (run ids are unique, so concurrent writers never collide) and is visible in the
MLflow UI as a table. `python -m ml history` / `make history` read the same runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ml.core.config import Settings
from ml.lifecycle import once, tracking

TAG = "history."
FIELDS = ("action", "new", "actor", "on_behalf_of", "reason", "decision", "git_sha", "image", "image_id")


def experiment_name(settings: Settings) -> str:
    return f"champion-history/{settings.model_name}"


PERSON_ACTIONS = frozenset({"rollback", "pin", "approve"})  # moves a person asked for, not the rule


@dataclass(frozen=True)
class Move:
    """One recorded decision: a move of `champion`, or (`moved` False) a rejection or a pin change."""

    at: str
    action: str
    previous: str
    new: str
    actor: str
    moved: bool = False
    on_behalf_of: str = ""  # the training run whose version a promoter moved the alias to, when not its own
    reason: str = ""
    decision: str = ""
    git_sha: str = ""
    image: str = ""
    image_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _experiment(settings: Settings) -> str:
    return tracking.named_experiment(settings, experiment_name(settings), tags={"ml.kind": "champion-history"})


def now_ms() -> int:
    return int(time.time() * 1000)


def record(settings: Settings, action: str, previous: str | None, new: str | None, actor: str, *,
           moved: bool, at_ms: int | None = None, reason: str = "", decision: str = "",
           provenance: dict[str, str] | None = None, on_behalf_of: str = "") -> Move:
    """Write one entry as a finished run; returns it as recorded.

    `at_ms` orders the entries: for a move, the moment *before* the read that confirmed the alias
    held the new value (see `ml.lifecycle.champion.converge`), so a later writer's entry always sorts after.
    """
    from mlflow.tracking import MlflowClient

    at_ms = at_ms or now_ms()
    move = Move(at=datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds"), action=action,
                previous=f"{previous}" if previous else "", new=f"{new}" if new else "", actor=actor, moved=moved,
                on_behalf_of=on_behalf_of if on_behalf_of != actor else "", reason=reason, decision=decision,
                **(provenance or {}))
    tags = {TAG + k: str(v) for k, v in move.as_dict().items() if v and k not in ("at", "previous", "moved")}
    tags[TAG + "moved"] = "true" if moved else "false"
    tags["mlflow.note.content"] = decision or reason or action
    label = f"{action} -> v{move.new}" if moved else f"{action} (champion v{move.new or '-'})"
    experiment = _experiment(settings)
    client = MlflowClient()
    run = once.create_run(settings, experiment, start_time=at_ms, tags=tags, run_name=label)  # one entry, however retried
    tracking.call("record champion history",
                  lambda: client.set_terminated(run.info.run_id, "FINISHED", end_time=at_ms), settings)
    return move


def read(settings: Settings) -> list[Move]:
    """Every recorded entry, oldest first; `previous` is where the move before left the alias.

    Two writers that both moved the alias to the same version in a race leave two entries; the
    second says nothing new and is dropped here, so each move is listed once. When one of the two
    is a person's rollback or pin, theirs is the entry kept: it is why the alias is there.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = tracking.call("find champion history", lambda: client.get_experiment_by_name(experiment_name(settings)),
                          settings)
    if found is None:
        return []

    def search() -> list[Any]:
        out, token = [], None
        while True:
            page = client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"],
                                      max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    runs = tracking.call("read champion history", search, settings)
    moves: list[Move] = []
    current = ""
    for run in runs:
        tags = run.data.tags
        at = datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(timespec="milliseconds")
        moved = tags.get(TAG + "moved") == "true"
        entry = Move(at=at, previous=current, moved=moved, **{k: tags.get(TAG + k, "") for k in FIELDS})
        if moved and entry.new == current and moves and moves[-1].moved:  # the same move twice (a race)
            if entry.action in PERSON_ACTIONS and moves[-1].action not in PERSON_ACTIONS:
                moves[-1] = replace(entry, previous=moves[-1].previous)
            continue
        moves.append(entry)
        if moved:
            current = entry.new
    return moves


def last_move_to(settings: Settings, version: str, attempts: int = 5, wait_s: float = 1.0) -> Move | None:
    """The latest recorded move of `champion` to `version`, for a run that found the move already made.

    The promoter that moved it records the entry right after its confirming read: a few short
    reads give it time to land. None when the alias was moved without an entry (by hand in the UI).
    """
    for attempt in range(attempts):
        found = [m for m in read(settings) if m.moved and m.new == str(version)]
        if found:
            return found[-1]
        if attempt + 1 < attempts:
            time.sleep(wait_s)
    return None


def champion_at(moves: list[Move], when: str) -> str | None:
    """Which version was champion at ISO time `when` (None before the first move)."""
    current = None
    for move in moves:
        if move.at <= when:
            current = move.new or current
    return current


def table(moves: list[Move]) -> str:
    """The moves as an aligned text table for a terminal."""
    header = ("time (UTC)", "action", "from", "to", "by", "git sha", "image", "reason / decision")
    rows = [(m.at.replace("+00:00", "")[:23], m.action, f"v{m.previous}" if m.previous else "-",
             f"v{m.new}" if m.new else "-", m.actor + (f" for {m.on_behalf_of}" if m.on_behalf_of else ""), m.git_sha or "-",
             (m.image_id or m.image or "-")[:30], m.reason or m.decision) for m in moves]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + str(r[-1])
             for r in [header, *rows]]
    return "\n".join(lines) if rows else "no champion moves recorded yet"
