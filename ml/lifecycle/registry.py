"""The MLflow model registry: log and register versions, read and write aliases and tags.

Aliases: every new version gets `challenger`; `champion` is moved only by the rule in
`ml.lifecycle.champion` (promotion, rollback, approval), which is also where its race-safety is argued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ml.core import hints, logs, redact
from ml.core.config import Settings
from ml.core.errors import BadInputError
from ml.lifecycle import tracking

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG_PREFIX = "metric."
#: The run tag (set by train) and version tag (a copy) naming what a model answers (`ml.champion`).
SIGNATURE_TAG = "task_signature"
#: MLflow's warning, for every logged PythonModel object, that it is serialised with CloudPickle.
CLOUDPICKLE_NOTICE = "serialized using CloudPickle"
#: MLflow's notice that it checks the input example we pass: it fails loudly if the check does.
VALIDATION_NOTICE = "Validating input example against model signature"


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
    from ml.inference.serving import TextClassifier

    example = pd.DataFrame({"text": ["a short example text", "another one"]})
    wrapper = TextClassifier()
    wrapper.load_context(SimpleNamespace(artifacts={"model": str(model_dir)}))
    signature = infer_signature(example, wrapper.predict(None, example))

    def log_to_run() -> str:
        # The wrapper object is pickled by reference to ml.inference.serving, shipped in code_paths: MLflow's
        # notice against pickling arbitrary objects is about code we do not log here.
        with mlflow.start_run(run_id=mlflow_run_id), logs.dropped("mlflow.pyfunc", CLOUDPICKLE_NOTICE, VALIDATION_NOTICE):
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


def version_of_run(settings: Settings, mlflow_run_id: str) -> str | None:
    """The version an earlier attempt registered from this MLflow run, if any (lowest number)."""
    from ml.lifecycle import once

    found = once.versions_of_run(settings, mlflow_run_id)
    return found[0] if found else None


def register(model_uri: str, tags: dict[str, str], settings: Settings, mlflow_run_id: str) -> str:
    """A new version of the registered model (one per run, however often retried: `ml.once`), born
    with its tags, with alias `challenger`; returns its number."""
    from ml.lifecycle import once

    return tag_version(once.register_version(settings, model_uri, mlflow_run_id, tags), {}, settings)


def tag_version(version: str, tags: dict[str, str], settings: Settings) -> str:
    """Tag `version` and point `challenger` at it (idempotent: a retry may do it again)."""
    name = settings.model_name
    c = client()
    for key, value in tags.items():
        tracking.call("tag version", lambda k=key, v=value: c.set_model_version_tag(name, version, k, v), settings)
    tracking.call("set challenger", lambda: c.set_registered_model_alias(name, CHALLENGER, version), settings)
    return version


def all_versions(settings: Settings) -> list[ModelVersion]:
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


@dataclass(frozen=True)
class Measured:
    """What a version's MLflow run measured: the promotion metric evaluate logged, the task train tagged.

    The champion rule and the gate read these from the run, never from the version's tags
    (`metric.*`, `task_signature` on a version are copies for people: anyone who may edit the
    registered model can change them).
    """

    score: float | None
    signature: str | None


_MEASURED: dict[tuple[str, str, str], Measured] = {}  # (tracking URI, run id, metric): a finished run's measurement


def measured(settings: Settings, versions: list[ModelVersion], metric: str) -> dict[str, Measured]:
    """Version number -> its run's measurement (no run, or a run without the metric: score None)."""
    c = client()
    out = {}
    for v in versions:
        key = (settings.mlflow_tracking_uri, v.run_id or "", metric)
        if key not in _MEASURED:
            found = _measure(settings, c, v.run_id, metric)
            if found.score is None:
                out[str(v.version)] = found  # not evaluated yet: read again next time
                continue
            _MEASURED[key] = found
        out[str(v.version)] = _MEASURED[key]
    return out


def _measure(settings: Settings, c: MlflowClient, run_id: str | None, metric: str) -> Measured:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return Measured(None, None)

    def get() -> Measured:
        try:
            run = c.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return Measured(None, None)
            raise
        value = run.data.metrics.get(metric)
        return Measured(float(value) if value is not None else None, run.data.tags.get(SIGNATURE_TAG))

    return tracking.call("read version's run", get, settings)


def champion_version(settings: Settings) -> str | None:
    """The version `champion` points to now, or None when it is not set."""
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



#: How the registry's database reports two concurrent first writes of the same alias (SQLite, Postgres).
_WRITE_CONFLICTS = ("unique constraint", "duplicate key")


def set_champion(settings: Settings, version: str) -> None:
    """Point `champion` at `version`; a concurrent writer winning the same write is not an error.

    Two writers that both create the alias at once make the second INSERT fail on the alias
    table's unique key. `ml.lifecycle.champion.converge` re-reads the registry after every write and
    decides again, so that race needs no handling here beyond not failing.
    """
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        tracking.call("set champion", lambda: c.set_registered_model_alias(settings.model_name, CHAMPION, version), settings)
    except MlflowException as exc:
        if not any(marker in str(exc).lower() for marker in _WRITE_CONFLICTS):
            raise
        log.info("a concurrent writer set %s first; reading the registry again", CHAMPION)


def set_version_tag(settings: Settings, version: str, key: str, value: str) -> None:
    c = client()
    tracking.call(f"tag version {key}", lambda: c.set_model_version_tag(settings.model_name, str(version), key, value), settings)


def model_tags(settings: Settings) -> dict[str, str]:
    """Tags of the registered model itself ({} when it does not exist yet)."""
    from mlflow.exceptions import MlflowException

    c = client()

    def get() -> dict[str, str]:
        try:
            return dict(c.get_registered_model(settings.model_name).tags or {})
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise

    return tracking.call("read model tags", get, settings)


def aliases(settings: Settings) -> dict[str, str]:
    """Alias -> version of the registered model ({} when it does not exist yet).

    Why not the versions' own `aliases`: version searches leave them empty on some stores.
    """
    from mlflow.exceptions import MlflowException

    c = client()

    def get() -> dict[str, str]:
        try:
            return {k: str(v) for k, v in (c.get_registered_model(settings.model_name).aliases or {}).items()}
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise

    return tracking.call("read aliases", get, settings)


def set_model_tag(settings: Settings, key: str, value: str) -> None:
    c = client()
    tracking.call(f"tag model {key}", lambda: c.set_registered_model_tag(settings.model_name, key, value), settings)


def delete_model_tag(settings: Settings, key: str) -> None:
    c = client()
    tracking.call(f"untag model {key}", lambda: c.delete_registered_model_tag(settings.model_name, key), settings)


def run_metrics(settings: Settings, version: ModelVersion) -> dict[str, float]:
    """The metrics of the training run that produced `version` (the quality gate reads them)."""
    c = client()
    return dict(tracking.call("get run", lambda: c.get_run(version.run_id), settings).data.metrics)


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
                raise BadInputError(f"no registered model {name!r} in MLflow at {redact.uri(settings.mlflow_tracking_uri)}; "
                                    f"train one first: {hints.train(settings)}") from exc
            what = f"version {version}" if version else f"alias {alias!r}"
            raise BadInputError(f"registered model {name!r} has no {what}; pick one from "
                                f"{hints.command(settings, 'versions')}, or train one: {hints.train(settings)}") from exc

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


def require_registry(s: Settings) -> None:
    """Embedded mode: the SQLite registry exists. Opening a missing one would create an empty `mlflow.db`."""
    uri = s.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise BadInputError(f"no registered model {s.model_name!r} yet: {uri} does not exist; train one first: "
                            f"{hints.train(s)}")
