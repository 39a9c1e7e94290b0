"""What counts as new training data under the watched prefix, and the key of the run it starts.

Why here: both orchestrators watch the same prefix (`ML_NEW_DATA_PREFIX`) and must agree on which
objects start a run and on that run's identity. An object is a *training file* when its name has
a suffix the loader reads (`ml.data.tables.FORMATS`) and it is not a folder marker or a hidden/underscore
file (`_SUCCESS`, `.keep`). Its run key is a short hash of key and ETag: the same bytes under the
same key give the same key (no second run), a changed file gets a new ETag and so a new run. Dagster
uses it as the sensor's run key, Airflow in the training run's id; each orchestrator then refuses a
second run with it, so "never twice" holds across restarts without state of our own.

With several models (the model catalog), each has its own prefix (a model other than the default
watches `<ML_NEW_DATA_PREFIX><model>/` unless its entry names one) and a file belongs to the model
whose prefix is the longest that holds it (`watches`): a file under `training/support-tickets/`
trains `support-tickets`, never the default model watching `training/`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from ml.core import storage
from ml.core.config import check_catalog, get_settings, load_settings, model_settings
from ml.data.tables import FORMATS

#: Prefix of the Airflow run id of a training run started by new data (the rest is the run key).
RUN_ID_PREFIX = "new_data__"


@dataclass(frozen=True)
class NewObject:
    """One training file seen under the prefix: where it is, its version, its run key."""

    uri: str
    key: str
    etag: str
    run_key: str

    @property
    def run_id(self) -> str:
        """Deterministic run id (Airflow): the orchestrator refuses a second run with it."""
        return f"{RUN_ID_PREFIX}{self.run_key}"

    def tags(self) -> dict[str, str]:
        """Run tags naming the object and its version."""
        return {"ml/new_data_uri": self.uri, "ml/new_data_etag": self.etag, "ml/new_data_run_key": self.run_key}

    def payload(self) -> dict[str, Any]:
        """Small JSON for an orchestrator event (Airflow's asset event)."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> NewObject:
        return cls(**{name: str(payload[name]) for name in ("uri", "key", "etag", "run_key")})


def batch_payload(objects: list[NewObject]) -> dict[str, Any]:
    """One event for every object a listing found new (Airflow's asset event).

    One event per listing, not per object: Airflow 3.3 queues an asset-triggered run once per
    asset, and events that land while that queue entry exists but after its time are not
    consumed by the run it creates (they wait for the next event). Five files landing together
    must start five runs now, so they travel in one event.
    """
    return {"objects": [obj.payload() for obj in objects]}


def objects_of(payload: dict[str, Any]) -> list[NewObject]:
    """The objects of an event payload: a batch (`batch_payload`) or a single object's payload."""
    items = payload.get("objects", [payload])
    return [NewObject.from_payload(item) for item in items]


def run_key(key: str, etag: str) -> str:
    """Short stable hash of an object's key and ETag; only [0-9a-f], so valid as run id and run key."""
    return hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:20]


def is_training_file(key: str) -> bool:
    """A file the loader reads, not a folder marker, hidden or underscore file."""
    name = PurePosixPath(key).name
    if not name or key.endswith("/") or name.startswith((".", "_")):
        return False
    return PurePosixPath(name).suffix.lower() in FORMATS


def training_objects(prefix: str | None = None, exclude: tuple[str, ...] | list[str] = ()) -> list[NewObject]:
    """Every training file under `prefix` (default `ML_NEW_DATA_PREFIX`) now, by key (one listing),
    but those under a prefix of `exclude` (another model's, nested in this one)."""
    prefix = prefix or get_settings().new_data_prefix
    bucket, _ = storage.split_s3(prefix)
    etags = storage.list_etags(prefix)
    return [
        NewObject(uri=f"s3://{bucket}/{key}", key=key, etag=etag, run_key=run_key(key, etag))
        for key, etag in sorted(etags.items())
        if is_training_file(key) and not any(f"s3://{bucket}/{key}".startswith(other) for other in exclude)
    ]


@dataclass(frozen=True)
class Watch:
    """One model's watch: its prefix, the nested prefixes of other models it leaves to them, its poll."""

    model: str
    prefix: str
    exclude: tuple[str, ...]
    poll_s: int
    enabled: bool  # the model's train_on_new_data (ML_TRAIN_ON_NEW_DATA)


def watches() -> list[Watch]:
    """Every model of the catalog with its prefix and whether it trains on new data, the default first."""
    base = load_settings()
    found = check_catalog(base)
    models = sorted(found.names(), key=lambda m: not found.is_default(m))
    every = {m: model_settings(m, base) for m in models}
    prefixes = {m: s.new_data_prefix for m, s in every.items()}
    return [Watch(model=m, prefix=s.new_data_prefix, poll_s=s.new_data_poll_s, enabled=s.train_on_new_data,
                  exclude=tuple(sorted(p for o, p in prefixes.items() if o != m and p.startswith(s.new_data_prefix))))
            for m, s in every.items()]


def watch_of(model: str) -> Watch:
    """The watch of `model` now (the catalog and settings as they are at this moment)."""
    found = [w for w in watches() if w.model == model]
    if not found:
        from ml.core.errors import BadInputError

        raise BadInputError(f"model {model!r} is no longer in the model catalog; reload the code location")
    return found[0]


def unseen(objects: list[NewObject], seen: set[str]) -> list[NewObject]:
    """The objects whose run key is not in `seen` (a watcher's memory of what it reported)."""
    return [obj for obj in objects if obj.run_key not in seen]
