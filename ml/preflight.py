"""Checks before a pipeline's first step: what would fail later fails now, in seconds, with nothing written.

Why: the embedded chain (`python -m ml run-training`, `make demo`) ran the data split before the
train step found that the base model cannot be had (`Tiny`, a misspelled Hub id), and an
inference before any training staged its input and created an empty `mlflow.db` before finding
no model. Each check here reads only what it checks, so a failure leaves no trace. The steps
call the same checks (`train` the base model, ml/base_model.py; `load-model` the registry), so
orchestrated runs fail with the same lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ml import hints, storage
from ml.base_model import check as check_base_model
from ml.config import Settings, settings_for
from ml.errors import BadInputError

log = logging.getLogger(__name__)


def training(*, dataset_uri: str | None = None, base_model: str | None = None, orchestrator: str | None = None,
             **_: object) -> None:
    """The training chain can start: its dataset exists (embedded default or given), its base model can be had."""
    s = settings_for(orchestrator, base_model=base_model)
    check_input(dataset_uri or default_dataset(s))
    check_base_model(s.base_model, s.retry_attempts)


def inference(*, input_uri: str | None = None, version: str | None = None, alias: str = "champion",
              partition_date: str | None = None, as_of: str | None = None, orchestrator: str | None = None,
              **_: object) -> None:
    """The inference chain can start: a model to use exists, and so does its input (given, or the day's file)."""
    from ml import partitions, registry, tracking

    s = settings_for(orchestrator)
    require_registry(s)
    if input_uri:
        check_input(input_uri)
    elif not s.uses_s3:
        day = partitions.partition_date(as_of, partition_date)
        uri = partitions.input_uri_for(s.inference_input_template, day)
        if not storage.is_s3(uri) and not storage.local_path(uri).is_file():
            raise BadInputError(f"no --input-uri given and the input of {day} ({uri}) does not exist; pass --input-uri "
                                f"path/to/texts.csv (a {s.text_column!r} column), or put that day's file there")
    tracking.configure(s)
    registry.resolve(s, version=str(version) if version else None, alias=alias)


def default_dataset(s: Settings) -> str:
    """`ML_DATASET_URI`; in embedded mode its default is the demo set, and its absence one line saying what to do."""
    uri = s.dataset_uri
    if not s.uses_s3 and not storage.is_s3(uri) and not storage.local_path(uri).exists():
        demo = str(s.home.resolve() / "demo" / "train.csv")
        if uri == demo:
            raise BadInputError(
                f"no training data: no --dataset-uri given and the embedded default {uri} does not exist; pass "
                f"--dataset-uri path/to/your.csv (columns {s.text_column!r} and {s.label_column!r}), or create the "
                f"synthetic demo set: python -m ml demo-data --output-uri {uri}")
    return uri


def check_input(uri: str) -> None:
    """A local input file exists and has a format we read; remote ones are checked when read."""
    from ml import data

    if uri.startswith("hf://"):
        return
    data.detect_format(uri)  # a folder or an unknown extension, by name
    if storage.is_s3(uri) or storage.is_http(uri):
        return
    path = storage.local_path(uri)
    if not path.is_file():
        raise BadInputError(f"{uri} does not exist (looked in {path.resolve().parent}); check the path")


def require_registry(s: Settings) -> None:
    """Embedded mode: the SQLite registry exists. Opening a missing one would create an empty `mlflow.db`."""
    uri = s.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise BadInputError(f"no registered model {s.model_name!r} yet: {uri} does not exist; train one first: "
                            f"{hints.train(s)}")
