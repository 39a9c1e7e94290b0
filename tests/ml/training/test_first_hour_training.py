"""Issue 17, item 5: the defaults reach the quality gate on small easy data, and the log says why it trained longer."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
from pathlib import Path

import pytest

from ml.core.config import Settings
from ml.training.train import plan_epochs
from tests.ml.cli_helpers import run_cli

STOPWORDS = ["the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "with", "as", "it", "at", "by",
             "this", "that", "from"]
KEYWORDS = {
    "sports": ["football", "goal", "match", "team", "league", "coach", "referee", "stadium"],
    "food": ["pizza", "pasta", "salad", "bread", "soup", "cheese", "recipe", "dinner"],
    "tech": ["laptop", "software", "chip", "server", "keyboard", "code", "router", "kernel"],
}


def separable_csv(path: Path, rows: int = 300, seed: int = 1) -> Path:
    """`rows` texts of 10-25 shared filler words plus one keyword of their class: separable by that word alone."""
    rng = random.Random(seed)
    filler = [*STOPWORDS, *(f"w{i}" for i in range(200))]
    records = []
    for i in range(rows):
        label = list(KEYWORDS)[i % len(KEYWORDS)]
        words = rng.choices(filler, k=rng.randint(10, 25))
        words.insert(rng.randrange(len(words)), rng.choice(KEYWORDS[label]))
        records.append({"text": " ".join(words), "label": label})
    rng.shuffle(records)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(records)
    return path


def test_small_dataset_gets_the_minimum_steps_and_no_early_stop_before() -> None:
    plan = plan_epochs(rows=240, batch_size=32, epochs=3, min_steps=150)
    assert (plan.steps_per_epoch, plan.epochs, plan.min_epochs) == (8, 19, 19)
    assert plan.total_steps >= 150
    assert not plan.stops_early(epoch=3, stale=2, patience=2), "no early stop on the initial plateau"


def test_large_dataset_keeps_its_epochs_and_early_stopping() -> None:
    plan = plan_epochs(rows=1600, batch_size=32, epochs=3, min_steps=150)
    assert (plan.epochs, plan.min_epochs) == (3, 3)
    big = plan_epochs(rows=64_000, batch_size=32, epochs=5, min_steps=150)
    assert (big.epochs, big.min_epochs) == (5, 1)
    assert big.stops_early(epoch=3, stale=2, patience=2)
    assert plan_epochs(rows=240, batch_size=32, epochs=3, min_steps=0).epochs == 3


def test_no_early_stop_reported_at_the_last_epoch() -> None:
    """Stopping after the last epoch is not early: 'early stopping after epoch 3' of 3 was the bug."""
    plan = plan_epochs(rows=1000, batch_size=10, epochs=3, min_steps=0)
    assert not plan.stops_early(epoch=3, stale=2, patience=2)
    assert plan.stops_early(epoch=2, stale=2, patience=2)


def test_min_train_steps_default_is_documented() -> None:
    default = Settings.model_fields["min_train_steps"].default
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert f"| `ML_MIN_TRAIN_STEPS` | {default} |" in readme


@pytest.fixture
def default_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Embedded mode with every training setting at its default (no test shortcuts)."""
    for key in list(os.environ):
        if key.startswith("ML_") or key == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ML_HOME", str(tmp_path / ".ml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_separable_300_rows_pass_the_gate_with_the_defaults(default_env: Path, capsys, caplog) -> None:
    path = separable_csv(default_env / "easy.csv")
    with caplog.at_level(logging.INFO, logger="ml"):
        code, out, err = run_cli(capsys, "run-training", "--dataset-uri", str(path))
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["summary"]["metrics"]["test_macro_f1"] >= Settings.model_fields["min_test_macro_f1"].default
    messages = [r.getMessage() for r in caplog.records]
    assert any("ML_MIN_TRAIN_STEPS 150: training 19 epochs" in m for m in messages), messages
    assert not any("early stopping after epoch 19" in m for m in messages)


def test_an_explicit_epoch_count_is_kept(default_env: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """--epochs 1 trains one epoch even where ML_MIN_TRAIN_STEPS would ask for more (only defaults are raised)."""
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0")  # one epoch on 240 rows does not pass the gate: not the point here
    path = separable_csv(default_env / "easy.csv")
    code, out, err = run_cli(capsys, "run-training", "--dataset-uri", str(path), "--epochs", "1")
    assert code == 0, err
    from mlflow.tracking import MlflowClient

    from ml.core.config import get_settings

    run = MlflowClient().get_run(json.loads(out.splitlines()[-1])["summary"]["mlflow_run_id"])
    assert run.data.metrics["best_epoch"] == 1.0
    assert [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "train_loss")] == [1]
    assert get_settings().min_train_steps == 150
