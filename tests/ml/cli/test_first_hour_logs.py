"""Issue 17, item 8: a step's stderr without library noise, each line once, run names with one prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ml.core import workspace
from tests.ml.training.test_first_hour_training import separable_csv

ROOT = Path(__file__).resolve().parents[3]
NOISE = ("\x1b[", "Add type hints", "CloudPickle", "Downloading artifacts", "Loading weights", "Writing model shards")


def step_env(home: Path, **extra: str) -> dict[str, str]:
    """A step process's environment: this checkout's `ml`, embedded mode in `home`, a short training."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "MLFLOW_", "HF_"))}
    env.update({"PYTHONPATH": str(ROOT), "ML_HOME": str(home / ".ml"), "ML_EPOCHS": "1", "ML_MIN_TRAIN_STEPS": "0",
                "ML_MIN_TEST_MACRO_F1": "0", "ML_RETRY_ATTEMPTS": "2", **extra})
    return env


def run_step(home: Path, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m ml *argv` as an orchestrator runs it: its own process, stderr a pipe (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "ml", *argv], cwd=home, env=step_env(home, **extra),
                          capture_output=True, text=True, timeout=600, check=False)


def test_training_and_inference_logs_have_no_library_noise(tmp_path: Path) -> None:
    data = separable_csv(tmp_path / "small.csv", rows=60)
    trained = run_step(tmp_path, "run-training", "--dataset-uri", str(data))
    assert trained.returncode == 0, trained.stderr
    inferred = run_step(tmp_path, "run-inference", "--input-uri", str(data))
    assert inferred.returncode == 0, inferred.stderr
    for stderr in (trained.stderr, inferred.stderr):
        assert [n for n in NOISE if n in stderr] == [], stderr
    result = json.loads(trained.stdout.splitlines()[-1])
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / '.ml' / 'mlflow.db'}")
    name = client.get_run(result["summary"]["mlflow_run_id"]).info.run_name
    assert name == workspace.safe_run_name(result["run_id"]) and name.startswith("cli-training-"), name


def test_run_name_has_the_orchestrator_prefix_once() -> None:
    assert workspace.mlflow_run_name("cli", "cli-training-abc").startswith("cli-training-abc-")
    assert workspace.mlflow_run_name("airflow", "manual__2026-11-25").startswith("airflow-manual__2026-11-25-")
    assert workspace.mlflow_run_name("dagster", "3f2a").startswith("dagster-3f2a-")


def test_hub_warning_is_printed_once(tmp_path: Path) -> None:
    code = ("import logging; from ml.core import logs; logs.configure(); "
            "logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s [Retry 1/5].')")
    done = subprocess.run([sys.executable, "-c", code], env=step_env(tmp_path), capture_output=True, text=True,
                          timeout=600, check=True)
    assert done.stderr.count("Retrying in 1s") == 1, done.stderr
