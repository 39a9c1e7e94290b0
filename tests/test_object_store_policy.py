"""Least privilege in the object store, on the store CI runs (SeaweedFS): each service's identity
may do what its MinIO policy (docker/minio/policies) allows and nothing else. The identities are
made from those policy files by the CI stand-in's own translator (.ci/s3-standin-identities.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import ACCESS_KEY, BUCKETS, SECRET_KEY, S3Server

from ml.core.errors import BadInputError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
USERS = {name: (f"ml-{name}", f"{name}-secret-0123456789") for name in ("steps", "mlflow", "operator")}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("policy-s3")
    env = {**os.environ, "MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY}
    for name, (user, password) in USERS.items():
        env[f"S3_{name.upper()}_USER"], env[f"S3_{name.upper()}_PASSWORD"] = user, password
    config = root / "s3.json"
    config.write_text(subprocess.run([sys.executable, str(ROOT / ".ci/s3-standin-identities.py"),
                                      str(ROOT / "docker/minio/policies")], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    server = S3Server.start(root, config)
    server.client().put_object("datasets", "demo/train.csv", io.BytesIO(b"text,label\n"), 11)
    try:
        yield server
    finally:
        server.stop()


def as_user(store: S3Server, name: str):
    from minio import Minio

    user, password = USERS[name]
    return Minio(store.endpoint.split("://")[1], access_key=user, secret_key=password, secure=False)


def allowed(fn) -> bool:
    from minio.error import S3Error

    try:
        fn()
        return True
    except S3Error as exc:
        assert exc.code == "AccessDenied", exc
        return False


def put(client, bucket: str, key: str = "probe/x.txt"):
    return lambda: client.put_object(bucket, key, io.BytesIO(b"x"), 1)


def get(client, bucket: str, key: str):
    return lambda: client.get_object(bucket, key).read()


def test_steps_read_datasets_and_write_only_work_and_results(store: S3Server) -> None:
    steps = as_user(store, "steps")
    assert allowed(get(steps, "datasets", "demo/train.csv"))
    assert allowed(lambda: list(steps.list_objects("datasets", "demo/", recursive=True)))
    assert allowed(put(steps, "ml-work")) and allowed(put(steps, "predictions"))
    assert not allowed(put(steps, "datasets"))
    assert not allowed(put(steps, "mlflow", "artifacts/1/x/artifacts/model/python_model.pkl"))
    assert not allowed(lambda: list(steps.list_objects("mlflow", "", recursive=True)))
    assert not allowed(lambda: steps.make_bucket("evil"))
    assert not allowed(lambda: steps.remove_object("datasets", "demo/train.csv"))


def test_mlflow_alone_writes_its_artifacts(store: S3Server) -> None:
    mlflow = as_user(store, "mlflow")
    assert mlflow.bucket_exists("mlflow")  # what docker/mlflow-start.sh asks before serving
    assert allowed(put(mlflow, "mlflow", "artifacts/1/x"))
    assert not allowed(get(mlflow, "datasets", "demo/train.csv")) and not allowed(put(mlflow, "predictions"))


def test_the_operator_uploads_datasets_and_reads_results(store: S3Server) -> None:
    operator = as_user(store, "operator")
    assert allowed(put(operator, "datasets", "training/new.csv"))
    assert allowed(lambda: list(operator.list_objects("predictions", "", recursive=True)))
    assert not allowed(put(operator, "predictions")) and not allowed(put(operator, "mlflow"))


def test_a_step_writing_to_the_mlflow_bucket_is_denied_with_one_line(store: S3Server, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.core import storage
    from ml.core.config import reset_settings

    user, password = USERS["steps"]
    for key, value in {"ML_S3_ENDPOINT": store.endpoint, "ML_S3_ACCESS_KEY": user, "ML_S3_SECRET_KEY": password,
                       "ML_RETRY_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    src = tmp_path / "evil.pkl"
    src.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="object store refused upload s3://mlflow/artifacts"):
        storage.publish(src, "s3://mlflow/artifacts/1/abc/artifacts/model/python_model.pkl")
    assert storage.publish(src, "s3://predictions/ok/x.bin") == "s3://predictions/ok/x.bin"


def test_every_bucket_the_pipeline_uses_is_in_a_policy() -> None:
    import json

    named = set()
    for path in (ROOT / "docker/minio/policies").glob("*.json"):
        for statement in json.loads(path.read_text())["Statement"]:
            named |= {r.removeprefix("arn:aws:s3:::").split("/", 1)[0] for r in statement["Resource"]}
    assert named == set(BUCKETS)
