"""Issue 17, a new user's first hour: `--help` that explains, options that validate at once, readable outputs."""

from __future__ import annotations

import argparse
import functools
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml import cli, steps
from ml.core import storage, workspace
from ml.core.config import Settings
from ml.core.errors import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[3]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest != "help"}


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{command} --{dest}" for command, parser in subparsers().items()
               for dest, action in options(parser).items() if not (action.help or "").strip()]
    assert missing == []


def test_settings_backed_option_help_is_the_field_description_and_its_variable() -> None:
    text = "".join(subparsers()["run-training"].format_help().split())
    assert "env:ML_EPOCHS)" in text and "env:ML_DATASET_URI)" in text
    help_of = {dest: action.help for dest, action in options(subparsers()["train"]).items()}
    assert help_of["base_model"].startswith(Settings.model_fields["base_model"].description)
    assert help_of["run_id"] == cli.STEP_OPTION_HELP["run_id"]


def test_step_option_with_own_default_shows_it_not_the_setting() -> None:
    help_of = {dest: action.help for dest, action in options(subparsers()["demo-data"]).items()}
    assert "(default: 7)" in help_of["seed"] and "$ML_SEED" not in help_of["seed"]


def test_run_training_has_the_training_knobs() -> None:
    assert {"learning_rate", "batch_size", "seed", "max_train_samples"} <= set(options(subparsers()["run-training"]))


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    """The training steps replaced by recorders: what run-training passes, without training."""
    calls: dict[str, dict[str, Any]] = {}

    def record(name: str, result: dict[str, Any]) -> None:
        @functools.wraps(getattr(steps, name))  # the CLI still reads the real signature
        def fake(**kwargs: Any) -> dict[str, Any]:
            calls[name] = kwargs
            return result
        monkeypatch.setattr(steps, name, fake)

    record("load_training_data", {"data_uri": "/d"})
    record("train", {"model_uri": "/m", "mlflow_run_id": "abc"})
    record("evaluate", {"metrics": {}})
    record("register", {"model_name": "m", "version": "1"})
    record("promote", {"promoted": True, "champion_version": "1", "decision": "first"})
    yield calls


def test_run_training_passes_the_knobs_to_train(local_env: Path, fake_steps, capsys) -> None:
    (local_env / "tickets.csv").write_text("text,label\nx,a\n", encoding="utf-8")  # the chain checks it exists first
    code = cli.main(["run-training", "--run-id", "r1", "--dataset-uri", "tickets.csv", "--learning-rate", "0.01",
                     "--batch-size", "8", "--seed", "3", "--max-train-samples", "50"])
    assert code == 0, capsys.readouterr().err
    train = fake_steps["train"]
    assert (train["learning_rate"], train["batch_size"], train["seed"], train["max_train_samples"]) == (0.01, 8, 3, 50)


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--batch-size", "0"], ["--learning-rate", "2"],
                                  ["--max-train-samples", "0"]])
def test_bad_setting_option_fails_before_any_step(local_env: Path, fake_steps, capsys, argv: list[str]) -> None:
    code = cli.main(["run-training", "--run-id", "r1", *argv])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting "), err
    assert fake_steps == {}, "nothing may run before the options are valid"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_published_local_file_is_readable_by_others(tmp_path: Path, umask_022) -> None:
    src = tmp_path / "src.parquet"
    src.write_bytes(b"x")
    target = tmp_path / "out" / "predictions.parquet"
    storage.publish(src, str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_published_local_file_respects_a_stricter_umask(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x")
    old = os.umask(0o077)
    try:
        storage.publish(src, str(tmp_path / "private"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_published_local_folder_has_normal_modes(tmp_path: Path, umask_022) -> None:
    (tmp_path / "model").mkdir(mode=0o700)  # like a TemporaryDirectory, whose mode copytree copies
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    storage.publish_dir(tmp_path / "model", str(tmp_path / "published"))
    assert stat.S_IMODE((tmp_path / "published").stat().st_mode) == 0o755


def test_readme_says_where_predictions_land_as_the_code_does(local_env: Path) -> None:
    from ml.core.config import get_settings

    run_id = "manual__2026-11-25T06:34:22+00:00"
    uri = workspace.results_uri(get_settings(), run_id)
    folder = Path(uri).parent.name
    assert re.fullmatch(r"manual__2026-11-25T06_34_22_00_00-[0-9a-f]{8}", folder), folder
    assert Path(uri).name == "predictions.parquet"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`<run>-<hash>/predictions.parquet`" in readme
    assert "`<run>/predictions.parquet`" not in readme


def test_run_training_offers_every_run_parameter_of_the_orchestrators() -> None:
    """run-training and run-inference offer exactly the run parameters Airflow and Dagster offer, plus
    the model and its columns (orchestrated runs take those from the model catalog)."""
    from ml.pipelines.spec import pipeline

    model = {"training": {"model_name", "text_column", "label_column", "id_column"},
             "inference": {"model_name", "text_column", "id_column"}}
    for name in ("training", "inference"):
        spec = pipeline(name)
        offered = set(options(subparsers()[spec.cli])) - {"run_id", "orchestrator", "as_of", "_json"}
        assert offered == {p.name for p in spec.params()} | model[name], name
