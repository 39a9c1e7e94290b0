"""e2e phase "security": try to break into the running stack, record what each attempt got.

Every attempt is a row {"what", "expected", "got", "passed"} under `security` in e2e.json (and a
check). From the host: every UI and API without credentials and with a wrong password (Airflow, MLflow,
Dagster's proxy and its GraphQL websocket, the object store and the MinIO console). In the steps' own
container (dagster-code: the ml image with the steps' object-store identity, as every step
container has it): writing to MLflow's bucket, an `output_uri` outside the results location, data
URIs to the metadata address and to services inside the compose network (a listener there proves
no request arrived). Inside the ml image (in_image/security.py): a forged metric tag, a wrong object
store key, and a scan of every task and run log, MLflow param and tag for the stack's secrets.

    python3 -m tests.e2e.run --only security     # against a running stack with a champion

22 checks: 10 from the host, 6 as a step, 5 in the image, 1 scan of the services' logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from typing import Any

from . import stack

#: How many attempts `run` records (the phase declares it).
EXPECTED_CHECKS = 22
LISTENER = "mlpipes-security-listener"
#: .env variables whose values are secrets (the scan looks for each of them).
SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "_KEY", "TOKEN")


def row(what: str, expected: str, got: str, passed: bool) -> None:
    """One attempt: into e2e.json's `security` list and the check list."""
    stack.add_rows("security", [{"what": what, "expected": expected, "got": got, "passed": bool(passed)}])
    stack.record(f"security: {what}", passed, f"expected {expected}; got {got}")


def port(name: str, default: str) -> str:
    return os.environ.get(name) or stack.env_file_value(name) or default


def http_status(method: str, url: str, body: dict[str, Any] | None = None, *, login: tuple[str, str] | None = None,
                headers: dict[str, str] | None = None) -> str:
    import base64

    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    if login:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except OSError as exc:
        return f"no answer ({type(exc).__name__})"


def from_host() -> None:
    airflow = f"http://127.0.0.1:{port('AIRFLOW_PORT', '8080')}"
    got = http_status("GET", f"{airflow}/api/v2/dags")
    row("Airflow API without credentials", "401", got, got == "401")
    got = http_status("POST", f"{airflow}/auth/token", {"username": port("AIRFLOW_ADMIN_USER", "admin"),
                                                         "password": "wrong-" + uuid.uuid4().hex})
    row("Airflow login with a wrong password", "401", got, got == "401")
    got = http_status("GET", f"http://127.0.0.1:{port('MINIO_PORT', '9000')}/mlflow?list-type=2")
    row("object store: listing MLflow's bucket without credentials", "403", got, got == "403")
    got = http_status("GET", f"http://127.0.0.1:{port('MINIO_CONSOLE_PORT', '9001')}/api/v1/buckets")
    row("MinIO console API without a session", "401 or 403 (CI's stand-in has no console: nothing listens)", got,
        got in ("401", "403") or got.startswith("no answer"))
    mlflow = f"http://127.0.0.1:{port('MLFLOW_PORT', '5000')}"
    api = f"{mlflow}/api/2.0/mlflow/registered-models/search?max_results=1"
    got = http_status("GET", api)
    row("MLflow API without credentials", "401", got, got == "401")
    got = http_status("GET", api, login=(port("MLFLOW_ADMIN_USER", "admin"), "wrong-" + uuid.uuid4().hex))
    row("MLflow API with a wrong password", "401", got, got == "401")
    got = http_status("GET", f"{mlflow}/")
    row("MLflow UI without credentials", "401", got, got == "401")
    dagster = f"http://127.0.0.1:{port('DAGSTER_PORT', '3000')}"
    query = {"query": "{ version }"}
    got = http_status("POST", f"{dagster}/graphql", query)
    row("Dagster GraphQL API without credentials", "401", got, got == "401")
    got = http_status("POST", f"{dagster}/graphql", query, login=(port("DAGSTER_ADMIN_USER", "admin"), "wrong-" + uuid.uuid4().hex))
    row("Dagster GraphQL API with a wrong password", "401", got, got == "401")
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "c2VjdXJpdHktcGhhc2UtcHJvYmU=", "Sec-WebSocket-Protocol": "graphql-ws"}
    got = http_status("GET", f"{dagster}/graphql", headers=upgrade)
    row("Dagster GraphQL websocket without credentials", "401", got, got == "401")
    got = http_status("POST", f"{dagster}/graphql", query, login=(port("DAGSTER_ADMIN_USER", "admin"),
                                                                  port("DAGSTER_ADMIN_PASSWORD", "")))
    row("Dagster GraphQL API with the login (the proxy lets it through)", "200", got, got == "200")


def in_step_container(command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` in the running dagster-code container: the ml image with the steps' identity."""
    return stack.sh([*stack.compose_cmd(), "exec", "-T", "dagster-code", *command], check=False, capture=True,
                    timeout=300)


def step(*args: str) -> tuple[int, str]:
    """`python -m ml ARGS` as a step; (exit code, its `error:` line)."""
    script = 'err=$(python -m ml "$@" 2>&1 >/dev/null); code=$?; printf "%s\\n" "$err" | grep "^error: " | tail -1; exit $code'
    proc = in_step_container(["sh", "-c", script, "ml", *args])
    lines = (proc.stdout or "").strip().splitlines()
    return proc.returncode, lines[-1] if lines else ""


def listener(action: str) -> str:
    """A plain HTTP server inside the compose network that logs every request it gets."""
    compose = stack.compose_cmd()
    if action == "start":
        stack.sh(["docker", "rm", "-f", LISTENER], check=False, capture=True)
        stack.sh([*compose, "run", "-d", "--rm", "--no-deps", "--name", LISTENER, "ml-cli", "python", "-u", "-m",
                    "http.server", "8000", "--directory", "/tmp"], check=False, capture=True)
        return ""
    if action == "logs":  # http.server logs each request on stderr, which `docker logs` replays on its stderr
        proc = subprocess.run(["docker", "logs", LISTENER], capture_output=True, text=True, check=False, timeout=60)
        return (proc.stdout or "") + (proc.stderr or "")
    stack.sh(["docker", "rm", "-f", LISTENER], check=False, capture=True)
    return ""


def as_a_step() -> None:
    probe = ("import pathlib, tempfile\nfrom ml.core import storage\nfrom ml.core.errors import MLError\n"
             "p = pathlib.Path(tempfile.mkdtemp()) / 'x.pkl'; p.write_bytes(b'not a model')\n"
             "try:\n    storage.publish(p, 's3://mlflow/artifacts/security-probe/python_model.pkl'); print('WRITTEN')\n"
             "except MLError as exc:\n    print(str(exc).split(';')[0])\n")
    proc = in_step_container(["python", "-c", probe])
    got = (proc.stdout or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    row("a step's object-store identity writes into MLflow's bucket", "AccessDenied", got[0][-120:],
        "AccessDenied" in got[0])

    code, line = step("save-predictions", "--run-id", "security", "--predictions-uri", "s3://ml-work/none.parquet",
                      "--output-uri", "s3://mlflow/artifacts/security-probe/predictions.parquet")
    row("output_uri outside the results location (s3://mlflow/...)", "exit 2", f"exit {code}: {line[:100]}",
        code == 2 and "outside the results location" in line)

    code, line = step("load-training-data", "--run-id", "security", "--dataset-uri",
                      "http://169.254.169.254/latest/meta-data/iam/security-credentials/x.csv")
    row("dataset URI to the cloud metadata address", "exit 2, refused", f"exit {code}: {line[:100]}",
        code == 2 and "refused" in line)

    code, line = step("load-training-data", "--run-id", "security", "--dataset-uri", "http://mlflow:5000/export.csv")
    row("dataset URI to a compose service (mlflow:5000)", "exit 2, refused", f"exit {code}: {line[:100]}",
        code == 2 and "refused" in line)

    token = uuid.uuid4().hex
    listener("start")
    try:
        # the control: a plain request from the step's container, repeated until the listener answers
        # (any HTTP status), so the listener is known to be up and to log what reaches it
        control = in_step_container(["python", "-c", (
            "import time, urllib.request, urllib.error\nfor _ in range(60):\n    try:\n"
            f"        urllib.request.urlopen('http://{LISTENER}:8000/control-{token}', timeout=5); break\n"
            "    except urllib.error.HTTPError:\n        break\n    except OSError:\n        time.sleep(1)\n"
            "else:\n    raise SystemExit(1)\n")])
        code, line = step("load-training-data", "--run-id", "security", "--dataset-uri",
                          f"http://{LISTENER}:8000/refused-{token}.csv")
        logs = listener("logs")
    finally:
        listener("stop")
    reached = f"refused-{token}" in logs
    seen = f"control-{token}" in logs  # the listener does log what reaches it
    row("dataset URI to a listener inside the network", "exit 2, no request reached it",
        f"exit {code}, listener saw the data request: {reached} (control request seen: {seen}, exit {control.returncode})",
        code == 2 and not reached and seen)


def secrets() -> dict[str, str]:
    """Name -> value of every secret in .env (values of 8+ characters: shorter ones match by chance)."""
    found = {}
    path = stack.ROOT / ".env"
    for line in path.read_text().splitlines() if path.exists() else []:
        name, _, value = line.partition("=")
        if any(word in name for word in SECRET_WORDS) and len(value.strip()) >= 8:
            found[name] = value.strip()
    return found


def service_logs(values: dict[str, str]) -> None:
    proc = stack.sh([*stack.compose_cmd(), "logs", "--no-color"], check=False, capture=True, timeout=600)
    text = proc.stdout or ""
    leaked = sorted(name for name, value in values.items() if value in text)
    row("scan: the logs of every service for the stack's secrets", "none found",
        f"{len(leaked)} of {len(values)} secrets in {len(text.splitlines())} lines" + (f": {leaked}" if leaked else ""),
        proc.returncode == 0 and not leaked and bool(values))


def run() -> None:
    """Every attempt of the module docstring, each recorded as one row."""
    from_host()
    as_a_step()
    values = secrets()
    admin = [port("MLFLOW_ADMIN_USER", "admin"), port("MLFLOW_ADMIN_PASSWORD", "")]
    result = stack.in_ml_image("security", stdin=json.dumps({"secrets": values, "mlflow_admin": admin}), timeout=1800)
    stack.add_rows("security", (result or {}).get("security", []))  # its checks were merged by in_ml_image
    service_logs(values)
