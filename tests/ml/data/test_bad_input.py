"""Every bad input: one clear `error:` line, a distinct non-zero exit code, nothing published."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT
from tests.ml.cli_helpers import error_line, run_cli


def nothing_published(home: Path) -> bool:
    runs = home / ".ml" / "work" / "runs"
    return not runs.exists() or not any(p.is_file() for p in runs.rglob("*"))


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "missing.csv", "does not exist"),
        (b"", "empty.csv", "is empty"),
        (b"text,label\n", "header-only.csv", "no data rows"),
        (b"id,body,label\n1,hello,a\n2,bye,b\n", "no-text.csv", "no column 'text'"),
        (b"id,text\n1,hello\n2,bye\n", "no-label.csv", "no column 'label'"),
        (b"text,label\n,a\n   ,b\n", "blank.csv", "2 rows have a null or empty 'text'"),
        (b"text,label\ngood,pos\nfine,pos\nnice,pos\n", "one-class.csv", "a classifier needs at least two classes"),
        (b"text,label\nx,1\n", "data.xlsx", "unknown data format '.xlsx'"),
        (b"text,label\ncaf\xe9 ok,a\nbad,b\n", "latin1.csv", "UTF-8"),
        (b'{"text": "x", "label": "a"}\n{"text": ', "broken.jsonl", "cannot read"),
    ],
)
def test_bad_training_data(local_env: Path, capsys, content, name, expected) -> None:
    path = local_env / name
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", str(path))
    assert code == EXIT_BAD_INPUT
    assert expected in error_line(err)
    assert out == ""
    assert nothing_published(local_env)


def test_dropped_blank_texts_are_counted(local_env: Path, capsys, caplog) -> None:
    path = local_env / "some-blank.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(30)) + ",a\n  ,b\n")
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", str(path))
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["dropped_rows"] == 2 and sum(result["rows"].values()) == 30
    assert "dropped 2 rows with a null or empty text" in caplog.text


def test_result_file_holds_the_stdout_json_and_only_on_success(local_env: Path, capsys, monkeypatch) -> None:
    """ML_RESULT_PATH: what pod launchers read (the KubernetesPodOperator XCom sidecar's return.json)."""
    result_path = local_env / "xcom" / "return.json"
    monkeypatch.setenv("ML_RESULT_PATH", str(result_path))
    good = local_env / "good.csv"
    good.write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(30)))
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", str(good))
    assert code == 0, err
    assert json.loads(result_path.read_text()) == json.loads(out.splitlines()[-1])
    assert sorted(p.name for p in result_path.parent.iterdir()) == ["return.json"]  # no temporary file left

    result_path.unlink()
    code, _, _ = run_cli(capsys, "load-training-data", "--run-id", "r2", "--dataset-uri", str(local_env / "nope.csv"))
    assert code == EXIT_BAD_INPUT
    assert not result_path.exists()


def test_bad_inference_data(local_env: Path, capsys) -> None:
    path = local_env / "blank.csv"
    path.write_text("text\n\n \n")
    code, _, err = run_cli(capsys, "load-inference-data", "--run-id", "r2", "--input-uri", str(path))
    assert code == EXIT_BAD_INPUT
    assert "null or empty 'text'" in error_line(err) or "no data rows" in error_line(err)
    assert nothing_published(local_env)


def test_no_registered_model_says_run_training_first(local_env: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "load-model", "--run-id", "r3")
    assert code == EXIT_BAD_INPUT
    assert "no registered model 'text-classifier'" in error_line(err)
    assert "train one first: python -m ml run-training" in error_line(err)


def test_unknown_explicit_version(local_env: Path, capsys, demo_csv: Path) -> None:
    from ml.pipelines import embedded

    embedded.run("training", {"dataset_uri": str(demo_csv), "epochs": 1})
    capsys.readouterr()
    code, _, err = run_cli(capsys, "load-model", "--run-id", "r4", "--version", "99")
    assert code == EXIT_BAD_INPUT
    assert "has no version 99" in error_line(err)
    code, _, err = run_cli(capsys, "load-model", "--run-id", "r4", "--alias", "staging")
    assert code == EXIT_BAD_INPUT
    assert "has no alias 'staging'" in error_line(err)


def test_object_store_unreachable_is_transient(local_env: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ML_S3_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    code, _, err = run_cli(capsys, "load-training-data", "--run-id", "r5", "--dataset-uri", "s3://datasets/x.csv")
    assert code == EXIT_TRANSIENT
    line = error_line(err)
    assert "object store at http://127.0.0.1:9 unreachable" in line and "after 2 attempts" in line


def test_mlflow_unreachable_is_transient(local_env: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, _, err = run_cli(capsys, "load-model", "--run-id", "r6")
    assert code == EXIT_TRANSIENT
    assert "MLflow at http://127.0.0.1:9 unreachable" in error_line(err)


def test_cuda_requested_without_gpu(local_env: Path, capsys, monkeypatch, demo_csv: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, out, _ = run_cli(capsys, "load-training-data", "--run-id", "r7", "--dataset-uri", str(demo_csv))
    data_uri = json.loads(out.splitlines()[-1])["data_uri"]
    monkeypatch.setenv("ML_DEVICE", "cuda")
    from ml.core.config import reset_settings

    reset_settings()
    code, _, err = run_cli(capsys, "train", "--run-id", "r7", "--data-uri", data_uri)
    assert code == EXIT_BAD_INPUT
    assert "no CUDA device is visible" in error_line(err)


def test_invalid_setting_is_bad_input(local_env: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ML_EPOCHS", "zero")
    code, _, err = run_cli(capsys, "settings")
    assert code == EXIT_BAD_INPUT
    assert "ML_EPOCHS" in error_line(err)


def test_real_process_exit_codes_and_json_line(local_env: Path, demo_csv: Path) -> None:
    """The contract as orchestrators see it: a subprocess, JSON on the last stdout line."""
    ok = subprocess.run([sys.executable, "-m", "ml", "load-training-data", "--run-id", "p1", "--dataset-uri",
                         str(demo_csv)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["rows"]["train"] > 0
    bad = subprocess.run([sys.executable, "-m", "ml", "load-training-data", "--run-id", "p2", "--dataset-uri",
                          str(local_env / "nope.csv")], capture_output=True, text=True, check=False)
    assert bad.returncode == EXIT_BAD_INPUT
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ")
    usage = subprocess.run([sys.executable, "-m", "ml", "train"], capture_output=True, text=True, check=False)
    assert usage.returncode == EXIT_BAD_INPUT


def test_quality_gate_keeps_a_weak_model_out_of_the_registry(local_env: Path, capsys, monkeypatch, demo_csv: Path) -> None:
    from mlflow.tracking import MlflowClient

    from ml import steps

    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0.99")  # the synthetic data has 5% flipped labels
    loaded = steps.load_training_data(run_id="gate", dataset_uri=str(demo_csv))
    trained = steps.train(run_id="gate", data_uri=loaded["data_uri"], epochs=1)
    evaluated = steps.evaluate(run_id="gate", data_uri=loaded["data_uri"], model_uri=trained["model_uri"],
                               mlflow_run_id=trained["mlflow_run_id"])
    assert evaluated["gate"]["passed"] is False and evaluated["gate"]["minimum"] == 0.99
    capsys.readouterr()
    code, _, err = run_cli(capsys, "register", "--run-id", "gate", "--model-uri", trained["model_uri"],
                           "--mlflow-run-id", trained["mlflow_run_id"])
    assert code == EXIT_BAD_INPUT
    line = error_line(err)
    assert "< ML_MIN_TEST_MACRO_F1 0.9900: not registered; train longer (epochs)" in line
    assert evaluated["gate"]["reason"] in line  # register enforces the verdict evaluate returned
    assert MlflowClient().search_registered_models() == []
    tags = MlflowClient().get_run(trained["mlflow_run_id"]).data.tags
    assert tags["quality_gate"] == "rejected" and tags["quality_gate_reason"] == evaluated["gate"]["reason"]
