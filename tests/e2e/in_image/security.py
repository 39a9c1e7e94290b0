"""The "security" phase's attempts that need the project's clients, inside the ml image.

stdin: {"secrets": {name: value} of the stack's secrets (from .env; never printed), "mlflow_admin":
[user, password]}. Prints one JSON object on the last stdout line: {"checks": [...], "security":
[{"what", "expected", "got", "passed"}]}. Called by tests/e2e/security.py through
`stack.in_ml_image("security")`.

    python -m tests.e2e.in_image.security < secrets.json
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ml.pipelines.spec import pipelines

from ..checklist import check, emit, last_json
from .common import airflow, dagster, mlflow_client, model_name
from .verify import dagster_compute_logs

ROWS: list[dict[str, Any]] = []


def row(what: str, expected: str, got: str, passed: bool) -> None:
    ROWS.append({"what": what, "expected": expected, "got": got, "passed": bool(passed)})
    check(f"security: {what}", passed, f"expected {expected}; got {got}")


def attempt(what: str, expected: str, fn: Callable[[], tuple[str, bool]]) -> None:
    """`fn` returns (got, passed); an exception is a failed row with its one-line reason."""
    try:
        got, passed = fn()
    except Exception as exc:
        got, passed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200], False
    row(what, expected, got, passed)


def wrong_key() -> tuple[str, bool]:
    from minio import Minio
    from minio.error import S3Error

    endpoint = os.environ["ML_S3_ENDPOINT"].split("://", 1)[1]
    client = Minio(endpoint, access_key=os.environ["ML_S3_ACCESS_KEY"], secret_key="wrong-secret-key-0123", secure=False)
    try:
        client.put_object("datasets", "security/probe.txt", io.BytesIO(b"x"), 1)
    except S3Error as exc:
        return exc.code, exc.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")
    return "written", False


def forged_metric_tag(admin: list[str]) -> tuple[str, bool]:
    """A version registered by hand, its run measured 0.01, its tag claims 0.9999: promote keeps the champion.

    Registered as MLflow's admin (the operator's login may not write the training experiment):
    whoever may edit the registered model's tags must still not decide who is champion.
    """
    from mlflow import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin
    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    name, metric = model_name(), os.environ.get("ML_PROMOTION_METRIC", "test_macro_f1")
    champion = client.get_model_version_by_alias(name, "champion")
    source = client.get_run(champion.run_id)
    signature = source.data.tags.get("task_signature", "")
    run = client.create_run(source.info.experiment_id, run_name="security-forged-metric",
                            tags={"task_signature": signature})
    client.log_metric(run.info.run_id, metric, 0.01)
    client.log_text(run.info.run_id, "artifact_path: model\nflavors: {}\n", "model/MLmodel")
    client.set_terminated(run.info.run_id)
    forged = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    try:
        client.set_model_version_tag(name, forged.version, f"metric.{metric}", "0.9999")
        client.set_model_version_tag(name, forged.version, "task_signature", signature)
        proc = subprocess.run([sys.executable, "-m", "ml", "promote", "--run-id", "security", "--version",
                               str(forged.version)], capture_output=True, text=True, check=False, timeout=600)
        outcome = last_json(proc.stdout or "")
        after = client.get_model_version_by_alias(name, "champion").version
        got = f"v{forged.version} promoted: {outcome.get('promoted') if outcome else '?'}; champion v{after}"
        return got, proc.returncode == 0 and str(after) == str(champion.version) and not (outcome or {}).get("promoted")
    finally:
        client.delete_model_version(name, forged.version)
        client.delete_run(run.info.run_id)


def found(values: dict[str, str], texts: Iterable[str]) -> tuple[list[str], int]:
    """Names of the secrets that occur in any of `texts`, and how many texts were read."""
    leaked, count = set(), 0
    for text in texts:
        count += 1
        leaked |= {name for name, value in values.items() if value in text}
    return sorted(leaked), count


def airflow_texts() -> Iterable[str]:
    """Every task instance (its rendered fields: the plain step environment) and every try's log."""
    client = airflow()
    for dag in sorted({p.airflow_dag for p in pipelines().values()}):
        runs = client.get(f"/api/v2/dags/{dag}/dagRuns", limit=1000).get("dag_runs", [])
        for run in runs:
            yield json.dumps(run)
            for ti in client.task_instances(dag, run["dag_run_id"]):
                yield json.dumps(ti)
                for attempt_no in range(1, int(ti.get("try_number") or 0) + 1):
                    yield client.task_log(dag, run["dag_run_id"], ti["task_id"], attempt_no)


_RUNS = """
query Runs { runsOrError(limit: 1000) { ... on Runs { results { runId runConfigYaml tags { key value } } } } }
"""


def dagster_texts() -> Iterable[str]:
    for run in dagster().query(_RUNS)["runsOrError"].get("results", []):
        yield json.dumps(run)
        yield dagster_compute_logs(run["runId"])


def mlflow_texts() -> Iterable[str]:
    client = mlflow_client()
    for experiment in client.search_experiments():
        token = None
        while True:
            page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
            for run in page:
                yield json.dumps({"params": run.data.params, "tags": run.data.tags})
            token = page.token
            if not token:
                break
    for model in client.search_registered_models():
        yield json.dumps(model.tags or {})
        for version in client.search_model_versions(f"name='{model.name}'"):
            yield json.dumps(version.tags or {})


def scan(what: str, values: dict[str, str], texts: Callable[[], Iterable[str]]) -> tuple[str, bool]:
    leaked, count = found(values, texts())
    return f"{len(leaked)} of {len(values)} secrets in {count} texts" + (f": {leaked}" if leaked else ""), \
        count > 0 and bool(values) and not leaked


def main() -> int:
    given = json.loads(sys.stdin.read() or "{}")
    values: dict[str, str] = given.get("secrets", {})
    operator = (os.environ.get("MLFLOW_TRACKING_USERNAME", ""), os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    attempt("object store with a wrong secret key", "refused", wrong_key)
    attempt("a version registered with a forged metric tag", "not promoted, champion unchanged",
            lambda: forged_metric_tag(given.get("mlflow_admin", ["", ""])))
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = operator
    attempt("scan: every Airflow task log, try and rendered step environment", "none found",
            lambda: scan("airflow", values, airflow_texts))
    attempt("scan: every Dagster run's config, tags and compute logs", "none found",
            lambda: scan("dagster", values, dagster_texts))
    attempt("scan: every MLflow param and tag (runs, models, versions)", "none found",
            lambda: scan("mlflow", values, mlflow_texts))
    return emit(security=ROWS)


if __name__ == "__main__":
    raise SystemExit(main())
