"""MLflow asks who you are, and each writer may do only what it needs (docker/mlflow-users.py).

A real MLflow server behind its basic-auth app (as compose runs it), on SQLite, artifacts in a real
S3 server; the users and rights are made by the very script compose's `mlflow-users` runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from services import MlflowServer, S3Server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("admin", "admin-password-0123456789")
STEPS = ("ml-steps", "steps-password-0123456789")
OPERATOR = ("ml-operator", "operator-password-0123456789")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs flask-wtf (the dev extra)")
    root = tmp_path_factory.mktemp("mlflow-auth")
    s3 = S3Server.start(root)
    mlflow = MlflowServer.start(root, s3.endpoint, admin_password=ADMIN[1])
    catalog = root / "models.yaml"
    catalog.write_text("models:\n  text-classifier: {}\n  support-tickets:\n    text_column: message\n")
    env = {**os.environ, "ML_MODEL_CATALOG": str(catalog), "MLFLOW_TRACKING_URI": mlflow.url, "MLFLOW_TRACKING_USERNAME": ADMIN[0],
           "MLFLOW_TRACKING_PASSWORD": ADMIN[1], "MLFLOW_STEPS_USER": STEPS[0], "MLFLOW_STEPS_PASSWORD": STEPS[1],
           "MLFLOW_OPERATOR_USER": OPERATOR[0], "MLFLOW_OPERATOR_PASSWORD": OPERATOR[1]}
    try:
        for _ in range(2):  # idempotent: compose runs it on every `make up`
            subprocess.run([sys.executable, str(ROOT / "docker/mlflow-users.py")], env=env, check=True,
                           capture_output=True, text=True, timeout=300)
        yield mlflow
    finally:
        mlflow.stop()
        s3.stop()


def client(server: MlflowServer, login: tuple[str, str], monkeypatch: pytest.MonkeyPatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login[1])
    return MlflowClient(server.url, registry_uri=server.url)


def forbidden(fn) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        fn()
    except MlflowException as exc:
        if "403" in str(exc) or exc.error_code == "PERMISSION_DENIED":
            return True
        raise  # another failure is not a refusal: show it
    return False


def test_every_api_asks_who_you_are(server: MlflowServer) -> None:
    api = f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(api, timeout=30).status_code == 401
    assert requests.get(api, auth=(ADMIN[0], "wrong-password-0123"), timeout=30).status_code == 401
    assert requests.get(api, auth=ADMIN, timeout=30).status_code == 200
    # the cache of verified logins (auth_cache_ttl_seconds, as docker/mlflow-start.sh sets it) holds
    # only what was verified: after a good login, a wrong password is still refused
    for password in ("wrong-password-0123", ADMIN[1] + "x", ""):
        assert requests.get(api, auth=(ADMIN[0], password), timeout=30).status_code == 401
    assert requests.get(api, auth=ADMIN, timeout=30).status_code == 200
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200  # the healthcheck stays open


def test_the_steps_write_the_pipeline_and_the_operator_only_moves_the_champion(server, monkeypatch) -> None:
    steps = client(server, STEPS, monkeypatch)
    training = steps.get_experiment_by_name("text-classification").experiment_id
    run = steps.create_run(training)
    steps.log_metric(run.info.run_id, "test_macro_f1", 0.9)
    version = steps.create_model_version("text-classifier", f"{run.info.artifact_uri}/model", run.info.run_id)
    steps.set_registered_model_alias("text-classifier", "champion", version.version)
    extra = steps.create_model_version("text-classifier", f"{run.info.artifact_uri}/model", run.info.run_id)
    steps.delete_model_version("text-classifier", extra.version)  # ml/once.py removes a retry's copy
    history = steps.get_experiment_by_name("champion-history/text-classifier").experiment_id
    steps.create_run(history)

    operator = client(server, OPERATOR, monkeypatch)
    operator.set_registered_model_alias("text-classifier", "champion", version.version)  # make rollback
    operator.set_model_version_tag("text-classifier", version.version, "review", "approved")
    operator.create_run(history)  # its champion-history entry
    assert forbidden(lambda: operator.create_run(training))
    assert forbidden(lambda: operator.log_metric(run.info.run_id, "test_macro_f1", 0.99))  # no forged measurement
    assert forbidden(lambda: operator.delete_model_version("text-classifier", version.version))
    monitoring = operator.get_experiment_by_name("monitoring/text-classifier").experiment_id
    assert forbidden(lambda: operator.create_run(monitoring))


def test_every_model_of_the_catalog_gets_the_same_rights(server, monkeypatch) -> None:
    """A second model of the catalog: the steps register and record, the operator moves its champion."""
    steps = client(server, STEPS, monkeypatch)
    run = steps.create_run(steps.get_experiment_by_name("text-classification").experiment_id)
    version = steps.create_model_version("support-tickets", f"{run.info.artifact_uri}/model", run.info.run_id)
    steps.create_run(steps.get_experiment_by_name("champion-history/support-tickets").experiment_id)
    operator = client(server, OPERATOR, monkeypatch)
    operator.set_registered_model_alias("support-tickets", "champion", version.version)
    operator.create_run(operator.get_experiment_by_name("champion-history/support-tickets").experiment_id)
    assert forbidden(lambda: operator.delete_model_version("support-tickets", version.version))



def test_the_catalog_comes_from_its_file_or_from_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compose mounts config/models.yaml (ML_MODEL_CATALOG); Kubernetes passes its text (ML_MODEL_CATALOG_TEXT)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlflow_users", ROOT / "docker/mlflow-users.py")
    users = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(users)
    monkeypatch.setenv("ML_MODEL_CATALOG", "")
    monkeypatch.setenv("ML_MODEL_CATALOG_TEXT", "models:\n  text-classifier: {}\n  support-tickets: {}\n")
    assert users.catalog_models("text-classifier") == ["text-classifier", "support-tickets"]
    catalog = tmp_path / "models.yaml"
    catalog.write_text("models:\n  reviews: {}\n")
    monkeypatch.setenv("ML_MODEL_CATALOG", str(catalog))  # the file wins where both are set
    assert users.catalog_models("text-classifier") == ["text-classifier", "reviews"]
    monkeypatch.setenv("ML_MODEL_CATALOG", "")
    monkeypatch.setenv("ML_MODEL_CATALOG_TEXT", "")
    assert users.catalog_models("text-classifier") == ["text-classifier"]
