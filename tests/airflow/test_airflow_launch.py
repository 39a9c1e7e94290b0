"""The Airflow side of the launch policy: exit codes as Airflow exceptions, the local launcher.

The policy itself (argv, environment split, GPUs, sizes) is tested without Airflow in
tests/ml/launch/test_launch_policy.py.

The local-launcher tests run the real `python -m ml` in its embedded mode (files under a
temporary ML_HOME, no services) and call the operator's `execute` directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUN_ID = "manual__2026-11-25T06:34:22.842943+00:00"


@pytest.fixture
def launch(load_dags) -> Any:
    """The launcher modules, imported the way the DAG files import them (DAG folder on sys.path)."""
    load_dags()
    import ml_airflow.launch_local
    import ml_airflow.step_failure

    class Modules:
        step_failure = staticmethod(ml_airflow.step_failure.step_failure)
        step_result = staticmethod(ml_airflow.step_failure.step_result)
        MlLocalOperator = ml_airflow.launch_local.MlLocalOperator

    return Modules


def test_bad_input_exit_code_fails_without_retry(launch):
    from airflow.sdk.exceptions import AirflowFailException

    error = launch.step_failure("train", 2, ["INFO loading", "error: no label column in s3://d/x.csv; add it", ""])
    assert isinstance(error, AirflowFailException)
    assert (
        str(error)
        == "ml train rejected its input (exit 2, not retried): error: no label column in s3://d/x.csv; add it"
    )


@pytest.mark.parametrize(
    ("code", "words"), [(75, "a service stayed unreachable (exit 75, retried)"), (1, "failed (exit 1, retried)")]
)
def test_other_exit_codes_are_retried(launch, code, words):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    error = launch.step_failure("predict", code, ["Traceback ...", "error: predict failed: ValueError: x"])
    assert isinstance(error, AirflowException) and not isinstance(error, AirflowFailException)
    assert str(error) == f"ml predict {words}: error: predict failed: ValueError: x"


def test_result_is_the_json_object_on_the_last_stdout_line(launch):
    from airflow.sdk.exceptions import AirflowException

    assert launch.step_result("s", ["noise", '{"a": 1, "b": [2]}', ""]) == {"a": 1, "b": [2]}
    with pytest.raises(AirflowException, match="not a JSON object"):
        launch.step_result("s", ['{"a": 1}', "trailing words"])
    with pytest.raises(AirflowException, match="not a JSON object"):
        launch.step_result("s", ["[1, 2]"])


# --- the local launcher with the real ml CLI (embedded mode) ----------------------------------


@pytest.fixture
def embedded_ml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_cwd: Path) -> Path:
    """ml in its embedded mode: storage and MLflow under a temporary ML_HOME."""
    for name in list(os.environ):
        if name.startswith(("ML_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ML_HOME", str(tmp_path / "ml-home"))
    return tmp_path


def local_operator(launch: Any, step: str, python: str = "", **options: str) -> Any:
    from ml.launch.exits import step_argv

    command = step_argv(step, RUN_ID, "airflow", options)
    return launch.MlLocalOperator(task_id=step.replace("-", "_"), step=step, command=command, python=python)


def test_local_launcher_returns_the_json_of_the_last_stdout_line(launch, embedded_ml):
    dataset = embedded_ml / "demo.csv"
    subprocess.run(
        [sys.executable, "-m", "ml", "demo-data", "--output-uri", str(dataset), "--rows", "60"],
        check=True,
        capture_output=True,
    )
    result = local_operator(launch, "load-training-data", dataset_uri=str(dataset)).execute(context={})
    assert result["dataset_uri"] == str(dataset)
    assert sum(result["rows"].values()) == 60
    assert "manual__2026-11-25T06_34_22" in result["data_uri"]  # a path private to the run id


def test_local_launcher_fails_bad_input_at_once(launch, embedded_ml):
    from airflow.sdk.exceptions import AirflowFailException

    missing = embedded_ml / "missing.csv"
    with pytest.raises(AirflowFailException) as failure:
        local_operator(launch, "load-training-data", dataset_uri=str(missing)).execute(context={})
    message = str(failure.value)
    assert message.startswith("ml load-training-data rejected its input (exit 2, not retried): error: ")
    assert str(missing) in message and "\n" not in message


def test_local_launcher_retries_a_crash(launch, embedded_ml, monkeypatch):
    """An interpreter that dies (exit 1, no output) is an ordinary, retried failure."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    with pytest.raises(AirflowException) as failure:
        local_operator(launch, "load-training-data", python="/bin/false", dataset_uri="/x.csv").execute(context={})
    assert not isinstance(failure.value, AirflowFailException)
    assert str(failure.value) == "ml load-training-data failed (exit 1, retried): (the step printed nothing)"


def test_local_launcher_stops_the_step_when_the_task_times_out(launch, embedded_ml, monkeypatch):
    """Airflow ends a task that overruns `execution_timeout` by raising in `execute`: the step goes too."""
    import signal

    hang = embedded_ml / "hanging-python"
    hang.write_text("#!/bin/sh\nexec sleep 120\n")
    hang.chmod(0o755)
    operator = local_operator(launch, "train", python=str(hang), data_uri="/x")

    class Timeout(BaseException):
        pass

    def on_alarm(signum, frame):
        if operator._proc is None:  # not started yet (a loaded machine): time out once the step runs
            signal.alarm(1)
            return
        raise Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(2)
    try:
        with pytest.raises(Timeout):
            operator.execute(context={})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert operator._proc is not None and operator._proc.poll() is not None  # the step process is gone
    # killed by the launcher at once (no grace to wait out), not ended by itself 120 s later, however slow the machine
    assert operator._proc.returncode == -signal.SIGKILL, operator._proc.returncode
