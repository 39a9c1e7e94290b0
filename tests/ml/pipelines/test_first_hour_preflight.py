"""Issue 26, items 2 and 3: what the embedded chain cannot do fails before its first step, with nothing left behind.

A bare `run-training` names a local default (the demo set) or says how to get one; a base model
that cannot be had (`Tiny`, a Hub id on a machine that cannot reach the Hub) fails at once with
exit 2, before any data is read and before torch is imported; an inference before any training
leaves no staged input and no empty `mlflow.db`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core.errors import EXIT_BAD_INPUT
from tests.ml.cli.test_first_hour_logs import step_env
from tests.ml.cli_helpers import error_line, run_cli
from tests.ml.training.test_first_hour_training import separable_csv

HEAVY = ("torch", "transformers", "mlflow", "pyarrow")


def files_under(home: Path) -> list[str]:
    """Every file an embedded run left under `ML_HOME` (`home/.ml`)."""
    root = home / ".ml"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def cli_in_fresh_process(home: Path, *argv: str, **env: str) -> dict[str, object]:
    """`python -m ml *argv` in a new interpreter: its exit code, stderr, and which heavy libraries it imported."""
    code = ("import json, sys; from ml.cli import main; rc = main(sys.argv[1:]); "
            f"print(json.dumps({{'rc': rc, 'imported': [m for m in {HEAVY!r} if m in sys.modules]}}))")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=home, env=step_env(home, **env),
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout.splitlines()[-1])
    return {**report, "stderr": done.stderr}


# --- item 2: the default dataset of embedded mode ---------------------------------------------


def test_bare_run_training_says_how_to_get_data_not_s3(local_env: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "run-training")
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and out == ""
    assert "ML_S3_ENDPOINT" not in line and "s3://" not in line, line
    assert "--dataset-uri" in line and "python -m ml demo-data --output-uri" in line, line
    assert files_under(local_env) == []


def test_embedded_default_dataset_is_the_demo_set(local_env: Path, capsys) -> None:
    demo = local_env / ".ml" / "demo" / "train.csv"
    assert run_cli(capsys, "demo-data", "--output-uri", str(demo), "--rows", "60")[0] == 0
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "r1")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["dataset_uri"] == str(demo)


def test_help_shows_the_embedded_default_dataset(local_env: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        run_cli(capsys, "run-training", "--help")
    text = "".join(capsys.readouterr().out.split())  # argparse wraps long paths (at hyphens too)
    assert f"default:{local_env / '.ml' / 'demo' / 'train.csv'},env:ML_DATASET_URI" in text


def test_an_s3_uri_in_embedded_mode_names_the_uri(local_env: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", "s3://tickets/2026/train.csv")
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and "s3://tickets/2026/train.csv" in line and "ML_S3_ENDPOINT" in line, line


# --- item 3: the base model before any data -----------------------------------------------------


@pytest.mark.parametrize("name", ["Tiny", "TINY", "tiny ", "tiyn", "tin"])
def test_a_misspelled_preset_is_bad_input_before_any_data(tmp_path: Path, name: str) -> None:
    data = separable_csv(tmp_path / "tickets.csv", rows=60)
    report = cli_in_fresh_process(tmp_path, "run-training", "--dataset-uri", str(data), "--base-model", name)
    assert report["rc"] == EXIT_BAD_INPUT, report["stderr"]
    assert "did you mean 'tiny'?" in error_line(str(report["stderr"]))
    assert report["imported"] == [], "decided before torch, transformers, MLflow or the data reader load"
    assert files_under(tmp_path) == []


def test_a_hub_id_on_a_machine_that_cannot_resolve_the_hub_is_bad_input_at_once(tmp_path: Path) -> None:
    """`.invalid` never resolves (RFC 2606): like a laptop offline, no retry can help, so no retries and exit 2."""
    data = separable_csv(tmp_path / "tickets.csv", rows=60)
    report = cli_in_fresh_process(tmp_path, "run-training", "--dataset-uri", str(data), "--base-model",
                                  "someone/misspelled-model", HF_ENDPOINT="http://hub.example.invalid",
                                  HF_HOME=str(tmp_path / "hf"), ML_RETRY_ATTEMPTS="5")
    assert report["rc"] == EXIT_BAD_INPUT, report["stderr"]
    line = error_line(str(report["stderr"]))
    assert "someone/misspelled-model" in line and "cannot be resolved" in line, line
    assert "retrying" not in str(report["stderr"]), "an unknown host is not retried"
    assert "torch" not in report["imported"]
    assert files_under(tmp_path) == []


def test_a_hub_id_missing_from_the_cache_offline_stages_nothing(tmp_path: Path) -> None:
    data = separable_csv(tmp_path / "tickets.csv", rows=60)
    report = cli_in_fresh_process(tmp_path, "run-training", "--dataset-uri", str(data), "--base-model",
                                  "nobody/no-such-model", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    assert report["rc"] == EXIT_BAD_INPUT, report["stderr"]
    assert "HF_HUB_OFFLINE=1" in error_line(str(report["stderr"]))
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("folder", ["missing", "no-checkpoint"])
def test_a_base_model_folder_is_checked_before_any_data(local_env: Path, capsys, folder: str) -> None:
    data = separable_csv(local_env / "tickets.csv", rows=60)
    (local_env / "no-checkpoint").mkdir()
    code, _, err = run_cli(capsys, "run-training", "--dataset-uri", str(data), "--base-model", f"./{folder}")
    expected = "does not exist" if folder == "missing" else "has no config.json"
    assert code == EXIT_BAD_INPUT and expected in error_line(err), err
    assert files_under(local_env) == []


def test_the_train_step_checks_the_preset_name_too(local_env: Path, capsys) -> None:
    """Orchestrated runs call the step, not the chain: `Tiny` is bad input there as well, not a Hub lookup."""
    data = separable_csv(local_env / "tickets.csv", rows=60)
    loaded = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", str(data))
    data_uri = json.loads(loaded[1].splitlines()[-1])["data_uri"]
    code, _, err = run_cli(capsys, "train", "--run-id", "r1", "--data-uri", data_uri, "--base-model", "Tiny")
    assert code == EXIT_BAD_INPUT and "did you mean 'tiny'?" in error_line(err), err


# --- item 3: inference before any training -------------------------------------------------------


def test_inference_before_any_training_leaves_nothing(local_env: Path, capsys) -> None:
    texts = local_env / "new.csv"
    texts.write_text("text\nmy order never arrived\nthanks, all good\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run-inference", "--input-uri", str(texts))
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and "train one first: python -m ml run-training" in line, line
    assert files_under(local_env) == [], "no staged input.parquet, no empty mlflow.db"


def test_load_model_before_any_training_creates_no_registry(local_env: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "load-model", "--run-id", "r1")
    assert code == EXIT_BAD_INPUT and "no registered model 'text-classifier' yet" in error_line(err)
    assert not (local_env / ".ml" / "mlflow.db").exists()


def test_inference_without_input_names_the_missing_day_file(local_env: Path, capsys) -> None:
    (local_env / ".ml").mkdir()
    (local_env / ".ml" / "mlflow.db").touch()  # past the registry check; the input is checked before any model lookup
    code, _, err = run_cli(capsys, "run-inference")
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and "no --input-uri given" in line and str(local_env / ".ml" / "inference") in line
    assert "s3://" not in line
