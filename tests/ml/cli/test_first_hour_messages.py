"""Issue 26, items 4, 5, 7 and 8: what a new user reads: safe error lines, hints for their mode, `--help`, drift.

- item 4: no control byte of a user's file reaches the terminal; a folder or a binary file is
  named as such; an s3:// error names the URI (tested with item 2 in test_first_hour_preflight.py);
- item 5: every hint names a command of the user's mode (`python -m ml ...` embedded, `make ...`
  with the stack); `rollback` takes `--new-task` as its hint says; the history names a rejected version;
- item 7: `--help` shows real default values, TSV, and the column and model-name variables;
- item 8: drift on a small sample says so, at WARNING.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from ml.core import hints, logs
from ml.core.config import Settings
from ml.core.errors import EXIT_BAD_INPUT, BadInputError
from ml.lifecycle import champion
from ml.monitoring import drift
from tests.ml.cli_helpers import error_line, run_cli

ROOT = Path(__file__).resolve().parents[3]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
EMBEDDED, STACK = Settings(), Settings(s3_endpoint="http://minio:9000")


# --- item 4: what reaches the terminal ---------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "is an executable program, not CSV text"),
    (b"id,text,label\x00\x00\x1b[2J\n1,\x00\x07,a\n", "is a binary file (NUL bytes"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "ZIP archive (or an Excel .xlsx workbook)"),
    (b"\xff\xfet\x00e\x00x\x00t\x00", "UTF-16 text, not CSV text; save it as UTF-8"),
])
def test_a_binary_file_named_csv_is_named_and_no_control_byte_is_printed(local_env: Path, capsys, content: bytes,
                                                                          expected: str) -> None:
    path = local_env / "tickets.csv"
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "run-training", "--dataset-uri", str(path))
    assert code == EXIT_BAD_INPUT and expected in error_line(err), err
    assert CONTROL.search(err + out) is None, repr(err)


def test_control_bytes_quoted_by_a_parser_are_escaped(local_env: Path, capsys) -> None:
    """A text file the CSV parser rejects, quoting a row with ESC and BEL in it: the bytes arrive escaped."""
    path = local_env / "tickets.csv"
    path.write_bytes(b"text,label\nok,a\n\x1b[2J\x1b]0;pwned\x07,b,c\n")
    code, _, err = run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", str(path))
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and "cannot read" in line, err
    assert CONTROL.search(err) is None and "\\x1b[2J" in line, repr(line)


def test_log_records_carry_no_control_bytes() -> None:
    stream = io.StringIO()
    handler = logs._handler()
    handler.setStream(stream)
    record = logging.LogRecord("ml.data", logging.WARNING, __file__, 1, "dropped rows of %s", ("a\x1b[31mb\x00",), None)
    handler.emit(record)
    assert CONTROL.search(stream.getvalue().rstrip("\n")) is None and "a\\x1b[31mb\\x00" in stream.getvalue()


def test_a_directory_as_dataset_is_named_a_directory(local_env: Path, capsys) -> None:
    folder = local_env / "exports"
    folder.mkdir()
    (folder / "tickets.csv").write_text("text,label\nx,a\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run-training", "--dataset-uri", str(folder))
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and "is a directory, not a data file" in line and "tickets.csv" in line, line
    assert "unknown data format" not in line


def test_an_s3_folder_is_named_a_folder(local_env: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "load-inference-data", "--run-id", "r1", "--input-uri", "s3://datasets/inference/")
    assert code == EXIT_BAD_INPUT and "s3://datasets/inference/ is a folder" in error_line(err)


# --- item 5: hints for the user's mode -----------------------------------------------------------


def test_hints_name_the_command_of_the_mode() -> None:
    assert hints.command(EMBEDDED, "rollback", version=3, reason="bad labels") == \
        "python -m ml rollback --version 3 --reason 'bad labels'"
    assert hints.command(STACK, "rollback", version=3, reason="bad labels") == "make rollback VERSION=3 REASON='bad labels'"
    assert hints.command(EMBEDDED, "approve", version=2, new_task=True) == "python -m ml approve --version 2 --new-task"
    assert hints.command(STACK, "approve", version=2, new_task=True) == "make approve VERSION=2 NEW_TASK=1"
    assert hints.command(EMBEDDED, "train") == "python -m ml run-training"


def _message_strings(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings (f-string parts included)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_message_in_ml_spells_a_make_target_itself() -> None:
    """Hints come from `ml.core.hints` only; a literal `make rollback ...` in a message would be wrong in embedded mode."""
    target = re.compile(r"\bmake (history|versions|rollback|unpin|approve|reject|train|infer)\b")
    found = [f"{path.relative_to(ROOT)}: {text}" for path in sorted((ROOT / "ml").rglob("*.py")) if path.name != "hints.py"
             for text in _message_strings(path) if target.search(text)]
    assert found == []


@pytest.mark.parametrize(("settings", "expected", "absent"), [(EMBEDDED, "python -m ml rollback --version 2", "make "),
                                                              (STACK, "make rollback VERSION=2", "python -m ml")])
def test_another_task_hint_is_the_rollback_of_the_mode(settings: Settings, expected: str, absent: str) -> None:
    from tests.ml.lifecycle.test_champion_rule import STARS, state, version

    s = state(version(1, 0.8), version(2, 0.9, STARS), champ="1")
    with pytest.raises(BadInputError) as caught:
        champion._checked(settings, s, "2", action="rollback", reason="back to stars")
    message = str(caught.value)
    assert expected in message and ("--new-task" in message or "NEW_TASK=1" in message), message
    assert absent not in message, message


def test_a_missing_version_points_to_the_versions_command_of_the_mode() -> None:
    from tests.ml.lifecycle.test_champion_rule import state, version

    s = state(version(1, 0.8), champ="1")
    with pytest.raises(BadInputError, match=r"pick one from python -m ml versions"):
        champion._checked(EMBEDDED, s, "7")


def test_rollback_takes_new_task(local_env: Path, capsys) -> None:
    from ml.core.config import get_settings
    from tests.ml.lifecycle.test_registry import STARS, _new_version

    v1 = _new_version(0.8)
    champion.promote(v1, get_settings())
    stars = _new_version(0.9, STARS)
    code, _, err = run_cli(capsys, "rollback", "--version", stars, "--reason", "the model rates stars now")
    line = error_line(err)
    assert code == EXIT_BAD_INPUT and f"python -m ml rollback --version {stars}" in line and "--new-task" in line, line
    assert "make " not in line
    code, _, err = run_cli(capsys, "rollback", "--version", stars, "--reason", "the model rates stars now", "--new-task")
    assert code == 0, err
    assert champion.read_state(get_settings()).champion == stars


def test_history_names_the_rejected_version(local_env: Path, capsys) -> None:
    from ml.core.config import get_settings
    from tests.ml.lifecycle.test_registry import _new_version

    v1 = _new_version(0.8)
    champion.promote(v1, get_settings())
    v2 = _new_version(0.7)
    assert run_cli(capsys, "reject", "--version", v2, "--reason", "leaked labels")[0] == 0
    code, _, err = run_cli(capsys, "history")
    assert code == 0
    [row] = [line for line in err.splitlines() if " reject " in line]
    assert f"rejected v{v2}" in row and "leaked labels" in row, err


# --- item 7: --help ------------------------------------------------------------------------------


def _help(capsys, command: str) -> str:
    with pytest.raises(SystemExit):
        run_cli(capsys, command, "--help")
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_default_values_not_variable_names(local_env: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ML_EPOCHS", "7")
    text = _help(capsys, "run-training")
    assert "(default: 7, env: ML_EPOCHS)" in text and "(default: tiny, env: ML_BASE_MODEL)" in text, text
    assert "$ML_EPOCHS" not in text and "Default training dataset of a run" not in text


def test_help_lists_the_column_and_model_name_variables(local_env: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ML_TEXT_COLUMN", "body")
    for command in ("run-training", "run-inference"):
        text = _help(capsys, command)
        assert "ML_TEXT_COLUMN=body" in text and "ML_MODEL_NAME=text-classifier" in text and "ML_ID_COLUMN=id" in text
    assert "ML_LABEL_COLUMN=label" in _help(capsys, "run-training")


def test_inference_input_help_names_tsv(local_env: Path, capsys) -> None:
    assert "CSV, TSV, JSONL or Parquet" in _help(capsys, "run-inference")


# --- item 8: drift on a small sample -------------------------------------------------------------


def _profile() -> dict:
    texts = [f"order {i} arrived late and the box was damaged" if i % 2 else f"great service number {i}" for i in range(400)]
    labels = ["complaint" if i % 2 else "praise" for i in range(400)]
    return drift.build_profile(texts, labels, texts[:50])


def test_drift_on_a_small_sample_says_so() -> None:
    profile, thresholds = _profile(), drift.Thresholds(0.1, 0.25)
    small = drift.counter_for(profile)
    small.add(["great service number 3", "order 5 arrived late and the box was damaged"] * 5)
    verdict = drift.compare(profile, small, {"praise": 5, "complaint": 5}, thresholds)
    assert verdict["small_sample"] and "small sample: on 10 rows" in verdict["summary"], verdict["summary"]
    large = drift.counter_for(profile)
    large.add(["great service number 3", "order 5 arrived late and the box was damaged"] * 500)
    assert not drift.compare(profile, large, {"praise": 500, "complaint": 500}, thresholds)["small_sample"]


def test_drift_is_logged_as_a_warning(local_env: Path, capsys, caplog) -> None:
    from tests.ml.training.test_first_hour_training import separable_csv

    data = separable_csv(local_env / "tickets.csv", rows=120)
    assert run_cli(capsys, "run-training", "--dataset-uri", str(data), "--epochs", "1")[0] == 0
    few = local_env / "few.csv"
    few.write_text("text\n" + "\n".join(["une phrase en français sans rapport"] * 10) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="ml.monitoring.monitor"):
        code, _, err = run_cli(capsys, "run-inference", "--input-uri", str(few))
    assert code == 0, err
    [record] = [r for r in caplog.records if r.name == "ml.monitoring.monitor" and "drift check" in r.getMessage()]
    assert record.levelno == logging.WARNING and "small sample: on 10 rows" in record.getMessage()
