"""Shared fixtures: embedded-mode settings for unit tests, real S3 + MLflow servers for integration."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/services.py
sys.path.append(str(ROOT))  # ml_trigger/ and bench/, not in the ml wheel

from services import Services  # noqa: E402

SST2 = ROOT.parent / "shared" / "data" / "sst2"


def _clear_ml_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not inherit a developer's ML_* settings."""
    for key in list(os.environ):
        if key.startswith("ML_") or key in MLFLOW_GLOBALS:
            monkeypatch.delenv(key, raising=False)


MLFLOW_GLOBALS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")  # mlflow.set_*_uri writes them to os.environ


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from the same settings, and the MLflow URIs one test set do not reach the next."""
    from ml.core.config import reset_settings

    for key in MLFLOW_GLOBALS:  # put back as they were when the test ends, whatever the test did
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Embedded mode in a temporary folder: local storage, SQLite MLflow, short training."""
    _clear_ml_env(monkeypatch)
    monkeypatch.setenv("ML_HOME", str(tmp_path / ".ml"))
    monkeypatch.setenv("ML_EPOCHS", "2")
    monkeypatch.setenv("ML_BATCH_SIZE", "16")  # enough optimizer steps for `tiny` on 600 rows
    monkeypatch.setenv("ML_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0")  # short test trainings; the gate has its own test
    monkeypatch.setenv("ML_MIN_TRAIN_STEPS", "0")  # the epochs a test asks for; the minimum has its own test
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def demo_csv(tmp_path: Path) -> Path:
    """A small synthetic labelled CSV (600 rows, three classes)."""
    import csv

    from ml.data import demo

    path = tmp_path / "demo.csv"
    records = demo.rows(600, seed=3)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return path


@pytest.fixture(scope="session")
def live_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A real S3 server and a real MLflow server for the whole session, with demo data uploaded."""
    from ml.cli import demo_data
    from ml.core.config import reset_settings

    services = Services.start(tmp_path_factory.mktemp("services"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in services.env.items():
                mp.setenv(key, value)
            reset_settings()
            demo_data(output_uri=services.demo_dataset_uri, rows=900, seed=5)
            demo_data(output_uri=services.demo_inference_uri, rows=300, labelled=False, seed=6)
        reset_settings()
        yield services
    finally:
        services.stop()


@pytest.fixture
def live_env(live_services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """`live_services` applied to os.environ, with a model name of this test's own."""
    _clear_ml_env(monkeypatch)
    for key, value in live_services.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ML_MODEL_NAME", f"test-model-{uuid.uuid4().hex[:8]}")
    # These tests prove what each run computes (its own run id in its outputs); the step cache, which
    # would reuse an earlier identical call across the session's shared buckets, has its own tests.
    monkeypatch.setenv("ML_CACHE", "off")
    return live_services


@pytest.fixture
def prefix(live_env: Services, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh new-data prefix (`ML_NEW_DATA_PREFIX`) of this test's own in the datasets bucket."""
    from ml.core.config import reset_settings

    uri = f"s3://datasets/training-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv("ML_NEW_DATA_PREFIX", uri)
    reset_settings()
    return uri


@pytest.fixture
def bad_dataset_uri(live_env: Services) -> str:
    """An s3:// CSV whose label column is missing."""
    import tempfile

    from ml.core import storage

    uri = f"s3://datasets/bad/{uuid.uuid4().hex[:8]}/no-label.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.csv"
        path.write_text("id,text\n1,great product\n2,awful service\n")
        storage.publish(path, uri)
    return uri


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    if not (SST2 / "train.tsv").is_file():
        pytest.skip(f"SST-2 not found at {SST2} (only on the development machines)")
    return SST2
