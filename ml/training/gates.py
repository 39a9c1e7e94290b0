"""The rules a run must pass before its output may be used: one verdict for every orchestrator.

- `require_rows`: a training split with no rows (or an input with no texts) is bad input, found
  when the data is loaded, not later as a crash in training or evaluation.
- `quality_gate`: a model whose test macro-F1 is below `ML_MIN_TEST_MACRO_F1` is not registered.

`evaluate` returns the gate's verdict in its result, `register` enforces the same verdict, and
Dagster's blocking checks only display these verdicts: nothing else holds a threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ml.core.config import Settings
from ml.core.errors import BadInputError

GATE_METRIC = "test_macro_f1"


def require_rows(rows: Mapping[str, int], source: str, hint: str) -> None:
    """Bad input when any part of `rows` (split or input name -> row count) is empty."""
    empty = sorted(name for name, count in rows.items() if count < 1)
    if empty:
        raise BadInputError(f"{source}: no rows in {', '.join(empty)}; {hint}")


@dataclass(frozen=True)
class GateVerdict:
    """Whether a model may be registered, and the one line that says why."""

    passed: bool
    metric: str
    value: float | None
    minimum: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quality_gate(metrics: Mapping[str, float], settings: Settings) -> GateVerdict:
    """The registration gate on the test metrics: `GATE_METRIC` at least `min_test_macro_f1`."""
    minimum = settings.min_test_macro_f1
    value = metrics.get(GATE_METRIC)
    if value is None:
        return GateVerdict(False, GATE_METRIC, None, minimum, f"no {GATE_METRIC}: run evaluate before register")
    passed = float(value) >= minimum
    sign = ">=" if passed else "<"
    reason = f"{GATE_METRIC} {float(value):.4f} {sign} ML_MIN_TEST_MACRO_F1 {minimum:.4f}"
    if not passed:
        reason += ": not registered; train longer (epochs), on more or cleaner data, or from a stronger base model"
    return GateVerdict(passed, GATE_METRIC, float(value), minimum, reason)
