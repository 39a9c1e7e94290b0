"""The e2e's one check list: a check is {"name", "passed", "detail"}, shown the moment it is made.

Every part of the e2e records its checks here: the driver on the host, the scripts in the ml image
(`in_image/`), the browser checks in the project venv (`in_venv/`). A script in a container prints
its list as the last line of its stdout (`emit`); the driver reads it back (`last_json`) and merges
it. Standard library only, so it imports the same everywhere.

While a phase runs, `PHASE` names it: each check made in its thread (or in a thread started with
`in_phase`) carries the phase's name, which is how the driver counts each phase's checks even when
several phases run at once.
"""

from __future__ import annotations

import contextvars
import json
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

#: The phase the current thread works for ("" outside any phase).
PHASE: contextvars.ContextVar[str] = contextvars.ContextVar("e2e_phase", default="")


def say(message: str) -> None:
    """A progress line on stderr (stdout carries the JSON result of a script)."""
    print(message, file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    """An exception as `Type: first line of its message`."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def in_phase(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` bound to the caller's phase: for work handed to another thread (a thread pool does not
    carry context variables over by itself)."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(fn, *args, **kwargs)


class CheckList:
    """Checks in the order they were made; safe to use from several threads."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        """Record one check and show it at once; returns whether it passed."""
        self.add([{"name": name, "passed": bool(passed), "detail": str(detail)}])
        say(f"[check] {'PASS' if passed else 'FAIL'}  {name}{'  -- ' + str(detail) if detail else ''}")
        return bool(passed)

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        """Checks made elsewhere (a script's JSON list), counted for the current phase."""
        phase = PHASE.get()
        rows = [{**item, "passed": bool(item.get("passed")), "detail": str(item.get("detail", "")),
                 **({"phase": phase} if phase else {})} for item in items]
        with self._lock:
            self.items.extend(rows)

    def guarded(self, name: str, fn: Callable[[], T]) -> T | None:
        """Run `fn`; an exception is a failed check named `name` with its one-line reason, never a crash."""
        try:
            return fn()
        except Exception as exc:
            self.check(name, False, one_line(exc))
            return None

    def of_phase(self, phase: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.items if c.get("phase") == phase]

    def all_passed(self) -> bool:
        """At least one check, and every one passed: an empty list proves nothing."""
        with self._lock:
            return bool(self.items) and all(c["passed"] for c in self.items)


#: The list of this process (a script in the ml image has one; the driver has one).
CHECKS = CheckList()
check = CHECKS.check
guarded = CHECKS.guarded


def emit(**extra: Any) -> int:
    """Print this process's checks (and `extra`) as the last stdout line; the exit code they mean."""
    print(json.dumps({"checks": CHECKS.items, **extra}, default=str), flush=True)
    return 0 if CHECKS.all_passed() else 1


def last_json(text: str) -> dict[str, Any] | None:
    """The JSON object on the last line of `text` that starts with `{` (a script's result), or None."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None
