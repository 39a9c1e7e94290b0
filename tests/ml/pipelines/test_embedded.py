"""Both pipelines in the embedded mode (local folder + SQLite MLflow), as `make demo` runs them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ml import steps
from ml.pipelines import embedded


def test_training_is_reproducible_for_a_seed(local_env: Path, demo_csv: Path) -> None:
    loaded = steps.load_training_data(run_id="seeded", dataset_uri=str(demo_csv))
    first = steps.train(run_id="seeded-a", data_uri=loaded["data_uri"], epochs=1, seed=3)
    second = steps.train(run_id="seeded-b", data_uri=loaded["data_uri"], epochs=1, seed=3)
    assert first["metrics"] == second["metrics"]
    assert first["mlflow_run_id"] != second["mlflow_run_id"]


def test_demo_pipeline_registers_champion_and_publishes_predictions(local_env: Path, demo_csv: Path) -> None:
    trained = embedded.run("training", {"dataset_uri": str(demo_csv)})["summary"]
    assert trained["model_version"] == "1" and trained["promoted"] and trained["champion_version"] == "1"
    assert trained["metrics"]["test_accuracy"] >= 0.8  # the synthetic data is learnable (5% label noise)
    inference_csv = local_env / "new.csv"
    inference_csv.write_text("text\nThe tent is excellent. Worth every penny.\nThe app is useless. Avoid it.\n \n")
    result = embedded.run("inference", {"input_uri": str(inference_csv)})["summary"]
    table = pq.read_table(result["predictions_uri"])
    assert table.num_rows == 2 == result["rows"]  # the blank row is dropped (and counted)
    assert table.column("predicted_label").to_pylist() == ["positive", "negative"]
    assert table.column("id").to_pylist() == ["0", "1"]
    assert set(table.column("model_version").to_pylist()) == {"1"}
    probs = [table.column(f"prob_{c}").to_pylist() for c in ("negative", "neutral", "positive")]
    for row in zip(*probs, strict=True):
        assert abs(sum(row) - 1) < 1e-4
