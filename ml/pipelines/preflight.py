"""Checks before a pipeline's first step: what would fail later fails now, in seconds, with nothing written.

Why: the embedded chain (`python -m ml run-training`, `make demo`) ran the data split before the
train step found that the base model cannot be had (`Tiny`, a misspelled Hub id), and an
inference before any training staged its input and created an empty `mlflow.db` before finding
no model. Each check here reads only what it checks, so a failure leaves no trace. The steps
call the same checks (`train` the base model, ml/model/base_model.py; `load-model` the registry), so
orchestrated runs fail with the same lines.
"""

from __future__ import annotations

import logging

from ml.core import storage
from ml.core.config import settings_for
from ml.core.errors import BadInputError
from ml.data.demo import default_dataset
from ml.lifecycle.registry import require_registry
from ml.model.base_model import check as check_base_model

log = logging.getLogger(__name__)


def training(*, dataset_uri: str | None = None, base_model: str | None = None, orchestrator: str | None = None,
             **model: object) -> None:
    """The training chain can start: its dataset exists (embedded default or given), its base model can be had.

    `model`: the run's model options (model name, columns), so the checks read that model's settings.
    """
    s = settings_for(orchestrator, base_model=base_model, **_model_options(model))
    check_input(dataset_uri or default_dataset(s))
    check_base_model(s.base_model, s.retry_attempts)


def inference(*, input_uri: str | None = None, version: str | None = None, alias: str = "champion",
              partition_date: str | None = None, as_of: str | None = None, orchestrator: str | None = None,
              **model: object) -> None:
    """The inference chain can start: the model's version to use exists, and so does its input (given, or the day's file)."""
    from ml.data import partitions
    from ml.lifecycle import registry, tracking

    s = settings_for(orchestrator, **_model_options(model))
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


def _model_options(given: dict[str, object]) -> dict[str, str]:
    """The model options among a pipeline's other options (MODEL_OPTIONS: model name, columns)."""
    from ml.pipelines.spec import MODEL_OPTIONS

    return {k: str(v) for k, v in given.items() if k in MODEL_OPTIONS and v not in (None, "")}


def check_input(uri: str) -> None:
    """A local input file exists and has a format we read; remote ones are checked when read."""
    from ml.data import tables

    if uri.startswith("hf://"):
        return
    tables.detect_format(uri)  # a folder or an unknown extension, by name
    if storage.is_s3(uri) or storage.is_http(uri):
        return
    path = storage.local_path(uri)
    if not path.is_file():
        raise BadInputError(f"{uri} does not exist (looked in {path.resolve().parent}); check the path")
