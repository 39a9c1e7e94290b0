"""The step cache: a step whose inputs, parameters and code are unchanged is reused, not run again.

Why here, once: every runner calls a step through `Step.function()`, which is `cached(step)` (Airflow
tasks run `python -m ml <step>`, Dagster assets and the embedded chain call it in process), so the
decision is made by one rule and is the same on Airflow, Dagster and the CLI for the same call.

- **Key**: `ml/pipelines/cache_key.py` (the step, its resolved parameters and settings, its inputs by
  content, the base model, the code).
- **What is cached**: the steps the spec marks `cacheable` (load-training-data, train, evaluate,
  load-inference-data, predict): their outputs are a function of the key's parts and they change
  nothing else. **Never**: register (creates a registry version; it is idempotent per training run
  instead, so a training whose train was a hit answers with the version that run registered),
  promote and review (they move aliases: decided now, every time), load-model (reads an alias,
  which moves), check-drift (records a monitoring run), save-predictions (publishes where readers
  look). Their JSON says `"cache": "off"`. A check a cached step makes against something that moves
  (load-training-data's task check against the champion's task) is made again on a hit
  (`cache_recheck` in the spec), so a hit refuses what the step would refuse.
- **Entries**: `<ML_WORK_URI>/cache/<step>/<key>.json`, written after the step returned (its outputs
  are published by then): its result, the run that made it, when, and the checksum of every output
  it names. The outputs stay where that run published them and are reused in place, byte for byte;
  a hit re-checks their checksums, so an output deleted or rewritten since makes the entry stale (a
  miss that replaces it), never a wrong hit. An entry is written only where none is valid; two
  identical runs at once both miss and both write it, each write atomic (an S3 PUT, a local
  rename), so the entry is one complete entry, either run's, and both are valid.
- **Modes** (`ML_CACHE`, or the run parameter `cache`): `on` (default) looks up and records; `off`
  neither; `refresh` runs the step and replaces its entry.
- **Retention**: `python -m ml cache list|prune`; prune removes entries older than
  `ML_CACHE_RETENTION_DAYS` and stale ones (their outputs are gone or changed).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ml.core import storage
from ml.core.config import Settings, settings_for
from ml.core.errors import BadInputError
from ml.pipelines import cache_key
from ml.pipelines.cache_key import Step

log = logging.getLogger(__name__)

HIT, MISS, OFF = "hit", "miss", "off"
MODES = ("on", "off", "refresh")
_FIELDS = ("cache", "cache_key", "cache_source_run")


def cached(step: Step) -> Callable[..., dict[str, Any]]:
    """The step's function behind the cache: same keywords (plus `cache` on a cacheable step), same result
    plus `cache` (hit, miss or off), `cache_key` and `cache_source_run` (the run whose outputs it returns)."""
    own = step.own_function()

    @functools.wraps(own)
    def run(*, run_id: str, orchestrator: str | None = None, cache: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return call(step, own, run_id=run_id, orchestrator=orchestrator, mode=cache, kwargs=kwargs)

    signature = inspect.signature(own)
    if step.cacheable:
        extra = inspect.Parameter("cache", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None")
        params = list(signature.parameters.values())
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
        signature = signature.replace(parameters=[*params[:at], extra, *params[at:]])
    run.__signature__ = signature  # type: ignore[attr-defined]
    return run


def call(step: Step, own: Callable[..., dict[str, Any]], *, run_id: str, orchestrator: str | None,
         mode: str | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Run `own` for `step`, or reuse the outputs of an earlier identical call (see the module docstring)."""
    settings = settings_for(orchestrator, model_name=kwargs.get("model_name"))  # a model's own work area
    mode = mode or settings.cache
    if mode not in MODES:
        raise BadInputError(f"cache={mode!r} is not one of {', '.join(MODES)}; set --cache / ML_CACHE")
    if not step.cacheable or mode == "off":
        return _mark(own(run_id=run_id, orchestrator=orchestrator, **kwargs), OFF, None, None)
    try:
        key = cache_key.key(step, kwargs, orchestrator)
    except (cache_key.Uncacheable, BadInputError) as exc:  # bad input: the step itself says best what is wrong
        log.info("cache off for %s: %s", step.name, exc)
        return _mark(own(run_id=run_id, orchestrator=orchestrator, **kwargs), OFF, None, None)
    if mode == "on":
        entry = lookup(settings, step.name, key)
        if entry is not None and step.cache_recheck:  # a check against something that moves: made again
            module, _, name = step.cache_recheck.partition(":")
            getattr(importlib.import_module(module), name)(result=entry["result"], orchestrator=orchestrator, **kwargs)
        if entry is not None:
            log.info("cache hit: %s reuses the outputs of run %s (key %s)", step.name, entry["run_id"], key[:16])
            return _mark(entry["result"], HIT, key, entry["run_id"])
    log.info("cache %s: %s runs (key %s)", "refresh" if mode == "refresh" else "miss", step.name, key[:16])
    result = own(run_id=run_id, orchestrator=orchestrator, **kwargs)
    record(settings, step.name, key, run_id, orchestrator or settings.orchestrator, result, replace=mode == "refresh")
    return _mark(result, MISS, key, run_id)


def _mark(result: Mapping[str, Any], status: str, key: str | None, source: str | None) -> dict[str, Any]:
    return {**{k: v for k, v in result.items() if k not in _FIELDS},
            "cache": status, "cache_key": key, "cache_source_run": source}


def entry_uri(settings: Settings, step: str, key: str) -> str:
    return storage.join(settings.work_uri, "cache", step, f"{key}.json")


def outputs_of(settings: Settings, result: Mapping[str, Any]) -> dict[str, str | None]:
    """The outputs a result names (its `*_uri` values in the work store) and their checksums now."""
    base = settings.work_uri.rstrip("/") + "/"
    return {value: cache_key.content(value) for name, value in result.items()
            if name.endswith("_uri") and isinstance(value, str) and value.startswith(base)}


def lookup(settings: Settings, step: str, key: str) -> dict[str, Any] | None:
    """The valid entry of `key`: it exists and every output it names still has its checksum; else None."""
    entry = _read(entry_uri(settings, step, key))
    if entry is None:
        return None
    now = outputs_of(settings, entry["result"])
    if now != entry["outputs"]:
        log.warning("cache entry %s of %s is stale (its outputs changed or were removed); running the step",
                    key[:16], step)
        return None
    return entry


def record(settings: Settings, step: str, key: str, run_id: str, orchestrator: str, result: Mapping[str, Any],
           *, replace: bool = False) -> None:
    """Write the entry of `key` (once; `replace` for refresh, or when the one there is stale)."""
    uri = entry_uri(settings, step, key)
    if not replace and lookup(settings, step, key) is not None:
        return  # an identical run wrote it first: keep that one
    entry = {"key": key, "step": step, "run_id": run_id, "orchestrator": orchestrator,
             "created_at": datetime.now(UTC).isoformat(), "outputs": outputs_of(settings, result),
             "result": {k: v for k, v in result.items() if k not in _FIELDS}}
    storage.write_json(uri, entry)


def _read(uri: str) -> dict[str, Any] | None:
    if not storage.exists(uri):
        return None
    try:
        entry = storage.read_json(uri)
    except BadInputError:  # not JSON: not an entry this module wrote completely; treat as absent
        log.warning("cache entry %s is unreadable; ignoring it", uri)
        return None
    return entry if {"run_id", "result", "outputs"} <= set(entry) else None


def entries(settings: Settings) -> list[dict[str, Any]]:
    """Every entry: step, key, source run, orchestrator, when, its age in days and its outputs, newest first."""
    found = []
    now = datetime.now(UTC)
    for uri in _entry_uris(settings):
        entry = _read(uri)
        if entry is None:
            continue
        created = datetime.fromisoformat(entry["created_at"])
        found.append({"uri": uri, "step": entry["step"], "key": entry["key"], "run_id": entry["run_id"],
                      "orchestrator": entry.get("orchestrator"), "created_at": entry["created_at"],
                      "age_days": round((now - created) / timedelta(days=1), 2), "outputs": sorted(entry["outputs"])})
    return sorted(found, key=lambda e: e["created_at"], reverse=True)


def _entry_uris(settings: Settings) -> list[str]:
    root = storage.join(settings.work_uri, "cache")
    if storage.is_s3(root):
        return [storage.join(root, rel) for rel in storage.list_folder(root) if rel.endswith(".json")]
    folder = storage.local_path(root)
    return sorted(str(p) for p in folder.glob("*/*.json")) if folder.is_dir() else []


def prune(settings: Settings, older_than_days: float | None = None) -> list[dict[str, Any]]:
    """Remove the entries older than `older_than_days` (default ML_CACHE_RETENTION_DAYS) and the stale ones."""
    limit = settings.cache_retention_days if older_than_days is None else older_than_days
    removed = []
    for entry in entries(settings):
        stale = lookup(settings, entry["step"], entry["key"]) is None
        if stale or entry["age_days"] >= limit:
            storage.remove(entry["uri"])
            removed.append({**entry, "reason": "stale" if stale else f"older than {limit:g} days"})
    return removed


def cache_command(action: Literal["list", "prune"], *, older_than_days: float | None = None) -> dict[str, Any]:
    """List the step cache's entries, or prune those past retention (ML_CACHE_RETENTION_DAYS) and the stale ones."""
    settings = settings_for()
    if action == "prune":
        removed = prune(settings, older_than_days)
        log.info("removed %d cache entries", len(removed))
        return {"action": "prune", "removed": removed, "kept": len(entries(settings))}
    return {"action": "list", "entries": entries(settings), "retention_days": settings.cache_retention_days}

