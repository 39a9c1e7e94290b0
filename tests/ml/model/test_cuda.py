"""CUDA paths (bf16 training step, bf16 inference: what ML_PRECISION=auto picks on a bf16 GPU). Run on a machine with an NVIDIA GPU:
`make test PYTEST_ARGS="-m cuda"`; skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_train_and_predict_on_cuda_in_bf16(local_env: Path, demo_csv: Path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    from ml.pipelines import embedded

    monkeypatch.setenv("ML_DEVICE", "cuda")
    loaded_run = embedded.run("training", {"dataset_uri": str(demo_csv), "epochs": 3})
    assert loaded_run["summary"]["metrics"]["test_accuracy"] >= 0.8
    inference_csv = local_env / "new.csv"
    inference_csv.write_text("text\nThe tent is excellent. Worth every penny.\nThe app is useless. Avoid it.\n")
    result = embedded.run("inference", {"input_uri": str(inference_csv)})["summary"]
    table = pq.read_table(result["predictions_uri"])
    assert table.column("predicted_label").to_pylist() == ["positive", "negative"]


def test_training_step_reports_cuda_device(local_env: Path, demo_csv: Path, monkeypatch) -> None:
    from ml import steps

    monkeypatch.setenv("ML_DEVICE", "auto")
    loaded = steps.load_training_data(run_id="cuda", dataset_uri=str(demo_csv))
    trained = steps.train(run_id="cuda", data_uri=loaded["data_uri"], epochs=1)
    assert (trained["device"], trained["precision"]) == ("cuda", "bf16")  # ML_PRECISION=auto on a bf16 GPU
