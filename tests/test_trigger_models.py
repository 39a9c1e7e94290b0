"""`make train|infer|backfill MODEL=...`: the trigger finds a model's DAG and job by the catalog's rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.core.config import reset_settings


@pytest.fixture
def catalog(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = local_env / "models.yaml"
    path.write_text("models:\n  text-classifier: {}\n  support-tickets: {text_column: message}\n")
    monkeypatch.setenv("ML_MODEL_CATALOG", str(path))
    reset_settings()
    return path


def test_a_model_names_its_dag_job_and_run_config(catalog: Path) -> None:
    from ml_trigger.backfill import _names
    from ml_trigger.dagster_api import dagster_run_config
    from ml_trigger.params import model_spec

    assert model_spec("train", None).airflow_dag == "ml_training"
    assert model_spec("train", "support-tickets").airflow_dag == "ml_training__support-tickets"
    assert model_spec("infer", "support-tickets").dagster_job == "inference_job__support_tickets"
    assert _names("support-tickets") == ("ml_inference__support-tickets", "daily_inference_job__support_tickets")
    config = dagster_run_config("train", {"dataset_uri": "s3://d/t.csv"}, "support-tickets")
    assert config == {"ops": {"support_tickets__training_data": {"config": {"dataset_uri": "s3://d/t.csv"}}}}


def test_a_model_not_in_the_catalog_is_a_usage_error_before_any_call(catalog: Path, monkeypatch, capsys) -> None:
    from ml_trigger.cli import main

    monkeypatch.setenv("AIRFLOW_URL", "http://127.0.0.1:9")  # nothing listens: no call may be made
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
    assert main(["train", "--model", "support-ticket", "--orchestrator", "airflow"]) == 2
    err = capsys.readouterr().err
    assert "model 'support-ticket' is not in the model catalog" in err and "did you mean 'support-tickets'?" in err
    assert main(["backfill", "--from", "2026-11-20", "--to", "2026-11-20", "--model", "spam", "-o", "dagster"]) == 2
