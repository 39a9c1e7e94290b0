"""Airflow test setup: a private AIRFLOW_HOME, the repo's DAG folder, a migrated metadata DB.

Airflow reads its configuration once, when `airflow` is first imported, so the variables are
set here, when pytest collects this folder, before any test imports airflow (the test modules
import it inside fixtures and tests). They only name Airflow settings, so other tests are not
affected; the previous values come back and the temporary home is removed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "airflow" / "dags"

_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
}
_SAVED_ENV = {name: os.environ.get(name) for name in AIRFLOW_ENV}

if "airflow.configuration" in sys.modules:  # pragma: no cover - a setup error, not a test result
    raise RuntimeError(
        "airflow was imported before tests/airflow/conftest.py could set AIRFLOW_HOME; "
        "import airflow lazily in other test modules"
    )
os.environ.update(AIRFLOW_ENV)

#: Environment variables the DAG files and the launcher seam read at parse time.
LAUNCHER_ENV = (
    "ML_LAUNCHER",
    "ML_IMAGE",
    "ML_DOCKER_NETWORK",
    "ML_DOCKER_URL",
    "ML_GPUS",
    "ML_MEM_LIMIT",
    "ML_SHM_SIZE",
    "ML_CPUS",
    "ML_DATASET_URI",
    "ML_INFERENCE_INPUT_TEMPLATE",
    "ML_BASE_MODEL",
    "ML_EPOCHS",
    "ML_LEARNING_RATE",
    "ML_BATCH_SIZE",
    "ML_SEED",
    "ML_MAX_TRAIN_SAMPLES",
    "ML_PROMOTION_MODE",
)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for name, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The private AIRFLOW_HOME with a migrated SQLite metadata DB (`airflow db migrate`)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**os.environ, **AIRFLOW_ENV},
        cwd=_HOME,
        capture_output=True,
        text=True,
        timeout=1800,  # a bound on a hang: a loaded machine migrates slowly
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    print(f"airflow db migrate: {time.monotonic() - started:.1f} s")
    return _HOME


@pytest.fixture
def load_dags(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Parse the DAG folder the way Airflow does (`BundleDagBag`) under a given launcher environment.

    With `clear=True` the launcher and param settings not named are removed from the
    environment first, so each test sees the defaults.
    """

    def load(clear: bool = True, **env: str) -> Any:
        from airflow.dag_processing.dagbag import BundleDagBag

        for name in LAUNCHER_ENV if clear else ():
            monkeypatch.delenv(name, raising=False)
        for name in [name for name in os.environ if name.startswith("ML_K8S_")] if clear else ():
            monkeypatch.delenv(name)  # the kubernetes launcher's settings (ml.launch.kube.PodSettings)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER)

    return load


@pytest.fixture
def repo_cwd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run from the repo root, so `python -m ml` finds the package in the local launcher."""
    monkeypatch.chdir(REPO)
    yield REPO


def _task_states(dag_run: Any) -> dict[str, tuple[str | None, int]]:
    return {ti.task_id: (str(ti.state) if ti.state else None, ti.try_number) for ti in dag_run.get_task_instances()}


def _xcom_results(dag_run: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key="return_value")
        ).all()
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


@pytest.fixture
def task_states() -> Callable[[Any], dict[str, tuple[str | None, int]]]:
    """dag_run -> {task_id: (state, try_number)}."""
    return _task_states


@pytest.fixture
def xcom_results() -> Callable[[Any], dict[str, Any]]:
    """dag_run -> {task_id: XCom `return_value`}, read from the metadata DB."""
    return _xcom_results
