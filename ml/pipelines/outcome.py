"""How a finished run reads for people: the same lines for `make train|infer` and the embedded runner.

The outcome is a plain dict (what both print as their JSON line): orchestrator, pipeline, run id,
state, per-step times under ml's step names, the error if any, the spec's summary, its `warnings`
(input drift) and the links.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def warnings(summary: Mapping[str, Any] | None) -> list[str]:
    """What a finished run's summary must not let pass quietly: input drift (the texts are not what the
    model was trained on, so its labels may be wrong even though the run succeeded)."""
    summary = summary or {}
    if summary.get("drift") == "drift":
        model = f"{summary.get('model_name')} v{summary.get('model_version')}"
        return [f"WARNING: input drift: the texts differ from what {model} was trained on, its labels may be "
                f"wrong; {summary.get('drift_summary') or ''}".rstrip("; ")]
    return []


def describe(outcome: Mapping[str, Any]) -> str:
    """The end of a run for people (stderr): state, each step's time, the summary, the links."""
    mark = "SUCCEEDED" if outcome.get("succeeded") else "FAILED"
    lines = [f"\n{outcome.get('orchestrator')} {outcome.get('pipeline')} run {outcome.get('run_id')}: {mark} "
             f"({outcome.get('state')}) in {float(outcome.get('wall_s') or 0):.1f}s"]
    results = outcome.get("results") or {}
    for step, info in (outcome.get("steps") or {}).items():
        seconds = info.get("duration_s")
        result = results.get(step)
        cache = result.get("cache") if isinstance(result, Mapping) else None
        note = f"  cache {cache}" + (f" (run {result.get('cache_source_run')})" if cache == "hit" else "") if cache else ""
        lines.append(f"  {step:<44} {info.get('state')!s:<16} {'' if seconds is None else f'{seconds:.1f}s'}{note}")
    if outcome.get("error"):
        lines.append(f"  reason: {outcome['error']}")
    for key, value in (outcome.get("summary") or {}).items():
        if value is not None:
            lines.append(f"  {key}: {value}")
    lines += [f"  {line}" for line in warnings(outcome.get("summary"))]
    for name, link in (outcome.get("links") or {}).items():
        lines.append(f"  {name} UI: {link}")
    return "\n".join(lines)
