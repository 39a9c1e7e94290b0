"""The cache key of one step call: everything that decides the step's outputs, and nothing else.

A key is the SHA-256 of a canonical JSON of these parts:

- `step`: the step's name (two steps never share an entry);
- `settings`: every `ml.core.config` field that may shape an output, resolved as the step will see it
  (the environment's values, the step's explicit parameters on top: a parameter left unset is its
  default, so `epochs` unset and `epochs=3` with a default of 3 are one key). Left out are the
  fields that only say where services are, who runs, how often to retry, or that the input parts
  below address by content (`_NOT_OUTPUT_SHAPING`);
- `params`: the step's run parameters that are not settings (`version`, `alias`, ...);
- `inputs`: the outputs of upstream steps, by content: a `*_uri` keyword by the checksum of what
  it names (`content`), an id (`mlflow_run_id`, a model version) as is. Why content and not the
  upstream step's key: an orchestrator hands a step only URIs, and the same content reached by two
  paths (a hit upstream, a rerun that wrote the same bytes) must be the same key;
- `resolved`: what the step reads that its keywords only name or leave to a default (the spec's
  `cache_inputs`: the dataset, the day's inference file, the base model), by name and content;
- `code`: `ml`'s version, the SHA-256 of every `ml/**/*.py` file, and the versions of the libraries
  that compute the outputs (torch, transformers, tokenizers, numpy, pyarrow, safetensors). Why not
  the image digest: it changes with every rebuild even when none of that changed, differs between
  the Airflow and Dagster images that run the same `ml`, and embedded runs have none; the source
  hash changes with any edit of `ml` (a step or a helper it calls) even at the same version.

Content is the store's checksum where it has one (an S3 ETag, per object of a folder) and the
bytes' SHA-256 for a local file or folder. An input that has no cheap checksum (http(s)://, hf://)
makes the call uncacheable (`Uncacheable`): it runs, and its JSON says `"cache": "off"`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from ml.core import storage
from ml.core.config import Settings, settings_for


class Step(Protocol):
    """What the cache reads of a step of the spec (ml.pipelines.spec.Step, which imports this module)."""

    name: str
    cacheable: bool
    cache_inputs: str
    cache_recheck: str
    inputs: Mapping[str, Any]
    context: tuple[str, ...]

    def own_function(self) -> Any: ...

#: Settings that cannot change a step's outputs: connections, credentials, provenance tags, retries,
#: the cache's own control, watchers; and the input locations, which `resolved` addresses by content.
_NOT_OUTPUT_SHAPING = frozenset({
    "home", "s3_endpoint", "s3_access_key", "s3_secret_key", "s3_region", "data_bucket", "work_uri", "results_uri",
    "http_allowed_networks", "http_max_bytes", "mlflow_tracking_uri", "mlflow_public_uri", "dataset_uri",
    "inference_input_template", "train_on_new_data", "new_data_prefix", "new_data_poll_s", "retry_attempts",
    "orchestrator", "image", "image_id", "git_sha", "result_path", "cache", "cache_retention_days", "num_threads",
})
#: The libraries whose versions are part of the code identity: they compute the outputs' numbers and bytes.
_LIBRARIES = ("torch", "transformers", "tokenizers", "numpy", "pyarrow", "safetensors")
_CHUNK = 1 << 20


class Uncacheable(Exception):
    """The call reads something that has no cheap checksum; it runs without the cache."""


def key(step: Step, kwargs: Mapping[str, Any], orchestrator: str | None = None) -> str:
    """The cache key of `step` called with `kwargs` (hex SHA-256); `Uncacheable` when an input has no checksum."""
    return digest(parts(step, kwargs, orchestrator))


def digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `payload`."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def parts(step: Step, kwargs: Mapping[str, Any], orchestrator: str | None = None) -> dict[str, Any]:
    """The parts the key hashes (see the module docstring)."""
    fields = Settings.model_fields
    kwargs = _with_defaults(step, kwargs)
    overrides = {k: v for k, v in kwargs.items() if k in fields}
    settings = settings_for(orchestrator, **overrides)
    dumped = settings.model_dump(mode="json")
    inputs = {kw: content(kwargs[kw]) if kw.endswith("_uri") else kwargs[kw] for kw in step.inputs
              if kwargs.get(kw) is not None}
    params = {k: v for k, v in kwargs.items()
              if k not in fields and k not in step.inputs and k not in step.context and v is not None}
    resolved: dict[str, Any] = {}
    if step.cache_inputs:
        module, _, name = step.cache_inputs.partition(":")
        found = getattr(importlib.import_module(module), name)(orchestrator=orchestrator, **kwargs)
        resolved = {k: [v, content(v) if isinstance(v, str) else None] for k, v in found.items()}
        params = {k: v for k, v in params.items() if k not in found}
    return {
        "step": step.name,
        "settings": {k: v for k, v in dumped.items() if k not in _NOT_OUTPUT_SHAPING},
        "params": params,
        "inputs": inputs,
        "resolved": resolved,
        "code": code_identity(),
    }


def _with_defaults(step: Step, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`kwargs` with the step function's defaults for what is not given (or given as None), so that an option
    passed at its default (the CLI, i.e. Airflow) and one left out (Dagster, the embedded runner) are one key."""
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(step.own_function()).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
                and name not in ("run_id", "orchestrator")}
    return {**defaults, **{k: v for k, v in kwargs.items() if v is not None}}


def content(uri: str) -> str | None:
    """A checksum of what `uri` names (a file or a folder), None when it names nothing.

    `Uncacheable` for http(s):// and hf:// URIs (no checksum without downloading them).
    """
    if storage.is_http(uri) or uri.startswith("hf://"):
        raise Uncacheable(f"{uri.split('://')[0]}:// input has no checksum")
    if storage.is_s3(uri):
        _, key_ = storage.split_s3(uri)
        listing = storage.list_etags(uri)
        if listing:  # a folder: every object's key below it and ETag
            prefix = key_.rstrip("/") + "/"
            return "s3-folder:" + digest({k[len(prefix):]: v for k, v in sorted(listing.items())})
        tag = storage.etag(uri) if key_ else None
        return f"s3:{tag}" if tag else None
    path = storage.local_path(uri)
    if path.is_file():
        return "sha256:" + file_sha256(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return "folder:" + digest({p.relative_to(path).as_posix(): file_sha256(p) for p in files})
    return None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (never whole in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@cache
def code_identity() -> str:
    """`ml`'s version, the hash of its source and the versions of the libraries that compute the outputs."""
    import ml

    return digest({"ml": ml.__version__, "source": source_digest(Path(ml.__file__).parent),
                   "libraries": {name: _version(name) for name in _LIBRARIES}})


def source_digest(root: Path) -> str:
    """SHA-256 over every `*.py` file under `root`: its path and its bytes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"
