"""The MLflow model registry: registering versions, promoting the champion, resolving aliases.

Aliases: every new version gets `challenger`; the best evaluated version holds `champion`.

Why promotion is race-safe
--------------------------
MLflow has no transactions, so "compare with the champion, then move the alias" alone is racy:
two runs finishing together could each see a stale champion and the slower, worse one would
win. Instead `promote` never compares against the alias. It recomputes the best version from
the registry itself (highest promotion metric, ties to the newer version: a total order every
run agrees on), points `champion` at it, then re-reads the registry and repeats until a read
*after* its own write still agrees. Every promoter does this after its last write, and a
version counts as a candidate only once its metric tag is set (before its own promotion
starts), so the last write to the alias always comes from a run that then confirmed it names
the best finished version. A worse version can hold `champion` only until the next promoter
finishes, never after the last one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ml import logs, tracking
from ml.config import Settings
from ml.errors import BadInputError

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "metric."
MAX_PROMOTE_ROUNDS = 20
#: MLflow's warning, for every logged PythonModel object, that it is serialised with CloudPickle.
CLOUDPICKLE_NOTICE = "serialized using CloudPickle"


def client() -> MlflowClient:
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the served model, read from what is installed now."""
    from importlib.metadata import version

    pins = []
    for dist in ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "mlflow", "pyarrow", "tqdm",
                 "pydantic-settings", "minio", "tenacity"):
        pins.append(f"{dist}=={version(dist).split('+')[0]}")
    return pins


def log_model(model_dir: Path, mlflow_run_id: str, settings: Settings) -> str:
    """Log the trained folder as a pyfunc model in the run; returns its `runs:/` URI."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    import ml
    from ml.serving import TextClassifier

    example = pd.DataFrame({"text": ["a short example text", "another one"]})
    wrapper = TextClassifier()
    wrapper.load_context(SimpleNamespace(artifacts={"model": str(model_dir)}))
    signature = infer_signature(example, wrapper.predict(None, example))

    def log_to_run() -> str:
        # The wrapper object is pickled by reference to ml.serving, shipped in code_paths: MLflow's
        # notice against pickling arbitrary objects is about code we do not log here.
        with mlflow.start_run(run_id=mlflow_run_id), logs.dropped("mlflow.pyfunc", CLOUDPICKLE_NOTICE):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=wrapper,
                artifacts={"model": str(model_dir)},
                code_paths=[str(Path(ml.__file__).parent)],
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(),
            )
        return info.model_uri

    return tracking.call("log model", log_to_run, settings)


def register(model_uri: str, tags: dict[str, str], settings: Settings) -> str:
    """A new version of the registered model, tagged, with alias `challenger`; returns its number."""
    import mlflow

    name = settings.model_name
    found = tracking.call("register model", lambda: mlflow.register_model(model_uri, name, await_registration_for=300), settings)
    version = str(found.version)
    c = client()
    for key, value in tags.items():
        tracking.call("tag version", lambda k=key, v=value: c.set_model_version_tag(name, version, k, v), settings)
    tracking.call("set challenger", lambda: c.set_registered_model_alias(name, CHALLENGER, version), settings)
    return version


def _all_versions(settings: Settings) -> list[ModelVersion]:
    c = client()
    name = settings.model_name

    def search() -> list[ModelVersion]:
        out, token = [], None
        while True:
            page = c.search_model_versions(f"name='{name}'", max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    return tracking.call("list versions", search, settings)


def _score(version: ModelVersion, metric: str) -> float | None:
    raw = (version.tags or {}).get(METRIC_TAG_PREFIX + metric)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def best_version(versions: list[ModelVersion], metric: str) -> ModelVersion | None:
    """The version every promoter agrees on: highest metric, ties to the newest."""
    scored = [(s, int(v.version), v) for v in versions if (s := _score(v, metric)) is not None]
    return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None


def champion_version(settings: Settings) -> str | None:
    from mlflow.exceptions import MlflowException

    c = client()

    def get() -> str | None:
        try:
            return str(c.get_model_version_by_alias(settings.model_name, CHAMPION).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc).lower():
                return None
            raise

    return tracking.call("get champion", get, settings)


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    champion_version: str
    decision: str


#: How the registry's database reports two concurrent first writes of the same alias (SQLite, Postgres).
_WRITE_CONFLICTS = ("unique constraint", "duplicate key")


def _set_champion(c: MlflowClient, name: str, version: str, settings: Settings) -> None:
    """Point `champion` at `version`; a concurrent promoter winning the same write is not an error.

    Two promoters that both create the alias at once make the second INSERT fail on the alias
    table's unique key. That is the race the promote loop already resolves: it re-reads the
    registry after every write and decides again.
    """
    from mlflow.exceptions import MlflowException

    try:
        tracking.call("set champion", lambda: c.set_registered_model_alias(name, CHAMPION, version), settings)
    except MlflowException as exc:
        if not any(marker in str(exc).lower() for marker in _WRITE_CONFLICTS):
            raise
        log.info("a concurrent promoter wrote %s first; reading the registry again", CHAMPION)


def promote(version: str, settings: Settings) -> Promotion:
    """Point `champion` at the best evaluated version (see the module docstring for why this is safe)."""
    name, metric = settings.model_name, settings.promotion_metric
    ours = next((v for v in _all_versions(settings) if str(v.version) == str(version)), None)
    if ours is None:
        raise BadInputError(f"model {name!r} has no version {version}; register it first")
    our_score = _score(ours, metric)
    if our_score is None:
        raise BadInputError(f"version {version} of {name!r} has no {metric} tag; run evaluate and register first")
    previous = champion_version(settings)
    c = client()
    for _ in range(MAX_PROMOTE_ROUNDS):
        best = best_version(_all_versions(settings), metric)
        assert best is not None  # ours is scored
        target = str(best.version)
        if champion_version(settings) != target:
            _set_champion(c, name, target, settings)
        # Confirm with a fresh read after our write: a concurrent promoter may have written since.
        confirmed = best_version(_all_versions(settings), metric)
        if confirmed is not None and str(confirmed.version) == str(best.version) and champion_version(settings) == str(best.version):
            break
        time.sleep(0.2)
    final = champion_version(settings) or ""
    promoted = final == str(version)
    prev_text = f"v{previous}" if previous else "none"
    if promoted:
        decision = f"promoted v{version} ({metric}={our_score:.4f}) to {CHAMPION}; previous champion: {prev_text}"
    else:
        best_score = _score(next(v for v in _all_versions(settings) if str(v.version) == final), metric)
        decision = (f"kept v{final} as {CHAMPION} ({metric}={best_score:.4f}); v{version} scored {our_score:.4f}")
    tracking.call("tag decision", lambda: c.set_model_version_tag(name, str(version), "promotion_decision", decision), settings)
    log.info(decision)
    return Promotion(promoted=promoted, champion_version=final, decision=decision)


def resolve(settings: Settings, version: str | None = None, alias: str = CHAMPION) -> ModelVersion:
    """One concrete version for an explicit number or an alias; clear errors when there is none."""
    from mlflow.exceptions import MlflowException

    c = client()
    name = settings.model_name

    def get() -> ModelVersion:
        try:
            return c.get_model_version(name, str(version)) if version else c.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if tracking.is_unreachable(exc):
                raise
            has_model = bool(c.search_registered_models(f"name='{name}'"))
            if not has_model:
                raise BadInputError(f"no registered model {name!r} in MLflow at {settings.mlflow_tracking_uri}; run training first") from exc
            what = f"version {version}" if version else f"alias {alias!r}"
            raise BadInputError(f"registered model {name!r} has no {what}; run training first or pick an existing version") from exc

    return tracking.call("resolve model", get, settings)


def download(name: str, version: str, dest: Path, settings: Settings) -> Path:
    """The Hugging Face folder inside a registered version's pyfunc artifacts."""
    import mlflow

    root = tracking.call(
        "download model",
        lambda: mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest)),
        settings,
    )
    folder = Path(root) / "artifacts" / "model"
    if not (folder / "config.json").is_file():
        raise BadInputError(f"models:/{name}/{version} holds no transformers model; it was not logged by this pipeline")
    return folder
