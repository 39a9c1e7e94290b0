"""Fast unit tests of the ml modules on tiny data (no servers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ml.core import storage, workspace
from ml.core.config import Settings, get_settings
from ml.core.errors import BadInputError
from ml.data import tables
from ml.model import batching
from ml.training.metrics import classification_metrics


def test_import_is_cheap_and_side_effect_free(tmp_path: Path) -> None:
    """A property, not a timing: the import pulls in no heavy library (how long it takes is for the benchmarks)."""
    code = ("import sys; import ml, ml.steps, ml.cli, ml.core.config; "
            "print([m for m in ('torch','transformers','pandas','mlflow','pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []  # nothing created in the working directory


def test_settings_defaults_are_embedded_mode(local_env: Path) -> None:
    s = get_settings()
    assert not s.uses_s3
    assert s.work_uri == str(local_env / ".ml" / "work")
    assert s.mlflow_tracking_uri == f"sqlite:///{local_env / '.ml' / 'mlflow.db'}"


def test_settings_from_env_and_secrets_masked(monkeypatch) -> None:
    monkeypatch.setenv("ML_S3_ENDPOINT", "http://minio:9000/")
    monkeypatch.setenv("ML_S3_SECRET_KEY", "very-secret")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("ML_EPOCHS", "7")
    s = Settings()
    assert (s.s3_endpoint, s.work_uri, s.results_uri, s.epochs) == ("http://minio:9000", "s3://ml-work", "s3://predictions", 7)
    assert s.mlflow_tracking_uri == "http://mlflow:5000"
    assert "very-secret" not in json.dumps(s.public())


def test_safe_run_names_are_distinct_and_key_safe() -> None:
    a = workspace.safe_run_name("manual__2026-11-25T06:34:22.842943+00:00")
    b = workspace.safe_run_name("manual__2026-11-25T06:34:22.842943-00:00")
    assert a != b
    assert all(ch.isalnum() or ch in "._-" for ch in a)
    with pytest.raises(BadInputError):
        workspace.safe_run_name(" ")


def test_local_publish_is_atomic_and_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    target = tmp_path / "out" / "result.bin"
    storage.publish(src, str(target))
    assert target.read_bytes() == b"x" * 1000

    def broken_copy(a, b):
        Path(b).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(storage.shutil, "copyfile", broken_copy)
    src.write_bytes(b"y" * 1000)
    with pytest.raises(OSError):
        storage.publish(src, str(target))
    assert target.read_bytes() == b"x" * 1000  # the old result is intact
    assert [p.name for p in target.parent.iterdir()] == ["result.bin"]  # no temp file left


def test_folders_without_success_marker_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    storage.publish_dir(tmp_path / "model", str(tmp_path / "published"))
    assert (tmp_path / "published" / "_SUCCESS").exists()
    copy = storage.fetch_dir(str(tmp_path / "published"), tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["config.json"]
    (tmp_path / "partial").mkdir()
    with pytest.raises(BadInputError, match="not a complete published folder"):
        storage.fetch_dir(str(tmp_path / "partial"), tmp_path / "copy2")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_every_format_reads_the_same_rows(tmp_path: Path, fmt: str) -> None:
    import pandas as pd

    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x, with comma", "y\twith tab", "z \"quoted\""], "label": [0, 1, 0]})
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t", quoting=1)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    table = tables.read_table(path, tables.detect_format(str(path)), str(path))
    assert table.column("text").to_pylist() == frame["text"].tolist()
    assert tables.label_strings(table.column("label")) == ["0", "1", "0"]


def test_stratified_split_is_deterministic_and_stratified() -> None:
    labels = ["a"] * 80 + ["b"] * 20
    first = tables.stratified_split(labels, 0.1, 0.1, seed=1)
    assert first == tables.stratified_split(labels, 0.1, 0.1, seed=1)
    assert first != tables.stratified_split(labels, 0.1, 0.1, seed=2)
    assert sorted(i for rows in first.values() for i in rows) == list(range(100))
    test_labels = [labels[i] for i in first["test"]]
    assert test_labels.count("a") == 8 and test_labels.count("b") == 2


def test_labels_sort_numerically_when_integers() -> None:
    assert tables.sorted_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert tables.sorted_labels(["pos", "neg"]) == ["neg", "pos"]


def test_fingerprint_is_content_sha256(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f.csv"
    path.write_bytes(b"text,label\nx,1\n")
    assert tables.fingerprint(path) == hashlib.sha256(b"text,label\nx,1\n").hexdigest()


def test_token_budget_batches_respect_budget_and_cover_all_rows() -> None:
    lengths = [5, 50, 7, 120, 3, 64, 64, 9] * 10
    batches = batching.token_budget_batches(lengths, max_tokens=256, max_batch_size=16)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 256


def test_length_grouped_batches_cover_all_rows_once() -> None:
    lengths = list(range(1, 1001))
    batches = batching.length_grouped_batches(lengths, batch_size=32, seed=0, group_factor=4)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == batching.length_grouped_batches(lengths, batch_size=32, seed=0, group_factor=4)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 400  # sorted inside groups of 128 rows: ~250, against ~940 for random batches of 32


def test_collate_pads_and_masks() -> None:
    ids, mask = batching.collate([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_metrics_match_hand_computation() -> None:
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"], prefix="test_")
    assert m["test_accuracy"] == pytest.approx(0.6)
    assert m["test_precision_b"] == pytest.approx(2 / 3) and m["test_recall_b"] == pytest.approx(1.0)
    assert m["test_f1_c"] == 0.0
    assert m["test_macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_cli_help_lists_every_step() -> None:
    out = subprocess.run([sys.executable, "-m", "ml", "--help"], capture_output=True, text=True, check=True).stdout
    for step in ("load-training-data", "train", "evaluate", "register", "promote", "load-inference-data",
                 "load-model", "predict", "save-predictions", "demo-data", "init-storage", "run-training",
                 "run-inference"):
        assert f"\n    {step}" in out


def test_progress_lines_in_logs_are_separate(capfd) -> None:
    from ml.core import progress

    with progress.bar(3, "work") as bar:
        for _ in range(3):
            bar.update(1)
            time.sleep(0.01)
    err = capfd.readouterr().err
    assert "\r" not in err and "work: 100%" in err


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("mlpipes/ml:abc1234", True),
        ("localhost:5000/ml:v1", True),
        ("registry.example/ml@sha256:" + "0" * 64, True),
        ("localhost:5000/ml", False),  # the port is not a tag
        ("mlpipes/ml:latest", False),
        ("mlpipes/ml", False),
    ],
)
def test_pod_image_must_be_immutable_with_if_not_present(image: str, ok: bool, monkeypatch) -> None:
    from ml.core.errors import BadInputError
    from ml.launch.kube import PodSettings

    settings = PodSettings()
    if ok:
        assert settings.check_image(image) == image
    else:
        with pytest.raises(BadInputError, match="moving tag"):
            settings.check_image(image)
    monkeypatch.setenv("ML_K8S_IMAGE_PULL_POLICY", "Always")
    assert PodSettings().check_image(image) == image  # every start pulls: a moving tag is fine


def test_pod_settings_from_env_and_their_one_line_errors(monkeypatch) -> None:
    from ml.core.errors import BadInputError
    from ml.launch.kube import load_pod_settings

    monkeypatch.setenv("ML_K8S_GPUS", "1")
    monkeypatch.setenv("ML_K8S_GPU_NODE_SELECTOR", '{"pool": "a100"}')
    monkeypatch.setenv("ML_K8S_CONFIG_MAP", "")
    settings = load_pod_settings()
    assert settings.node_selector() == {"pool": "a100"}
    assert settings.resources()["limits"]["nvidia.com/gpu"] == "1"
    assert settings.env_from() == [{"secretRef": {"name": "ml-pipeline-secrets"}}]
    monkeypatch.setenv("ML_K8S_GPU_TOLERATIONS", '[{"key": "gpu", "effect": "NoSchedule", "color": "red"}]')
    with pytest.raises(BadInputError, match=r"invalid setting ML_K8S_GPU_TOLERATIONS=.*'color'"):
        load_pod_settings()
