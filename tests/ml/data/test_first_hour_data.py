"""Issue 17, a new user's first hour with data: tiny files, unquoted TSV exports, JSONL line numbers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml.core.config import load_settings
from ml.core.errors import EXIT_BAD_INPUT, EXIT_FAILURE, BadInputError
from ml.data import staging, tables
from tests.ml.cli_helpers import error_line, run_cli


def run_files(home: Path) -> list[Path]:
    """Every file under the embedded run workspace (empty when nothing was published)."""
    runs = home / ".ml" / "work" / "runs"
    return sorted(p for p in runs.rglob("*") if p.is_file()) if runs.exists() else []


def write_rows(path: Path, labels: str, header: str = "text,label", sep: str = ",") -> Path:
    path.write_text(header + "\n" + "".join(f"text {i}{sep}{label}\n" for i, label in enumerate(labels)))
    return path


def split_labels(data_uri: str) -> dict[str, list[str]]:
    return {name: pq.read_table(Path(data_uri) / f"{name}.parquet")["label"].to_pylist()
            for name in ("train", "validation", "test")}


# --- item 4: 3-6 row training files -------------------------------------------------------------


TINY = ["aab", "abb", "aaab", "aabb", "aaaab", "aaabb", "ababa", "aaaaab", "aaabbb", "aabbab"]


@pytest.mark.parametrize("fraction", [None, "0.45"])
@pytest.mark.parametrize("labels", TINY)
def test_tiny_training_file_is_a_valid_split_or_one_line_bad_input(
    local_env: Path, capsys, monkeypatch, labels: str, fraction: str | None
) -> None:
    if fraction:  # the largest allowed fractions: a small class must still keep a training row
        monkeypatch.setenv("ML_VALIDATION_FRACTION", fraction)
        monkeypatch.setenv("ML_TEST_FRACTION", fraction)
    path = write_rows(local_env / "tiny.csv", labels)
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "t", "--dataset-uri", str(path))
    assert "Traceback" not in err
    if code == EXIT_BAD_INPUT:
        assert "no rows in" in error_line(err) and out == ""
        assert run_files(local_env) == []
        return
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    splits = split_labels(result["data_uri"])
    assert all(splits.values()), splits
    assert sum(len(v) for v in splits.values()) == len(labels)
    assert set(splits["train"]) == set(labels)  # every class is trained on


def test_take_rows_accepts_no_indices() -> None:
    table = pa.table({"id": ["1", "2"], "text": ["x", "y"]})
    assert tables.take_rows(table, []).num_rows == 0
    assert tables.take_rows(table, []).schema == table.schema
    assert tables.take_rows(table, [1])["text"].to_pylist() == ["y"]


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.45, 0.49])
def test_every_class_keeps_a_training_row(n: int, fraction: float) -> None:
    labels = ["a"] * n + ["b"] * 3
    splits = tables.stratified_split(labels, fraction, fraction, seed=7)
    for label, count in (("a", n), ("b", 3)):
        per_split = {name: sum(labels[i] == label for i in idx) for name, idx in splits.items()}
        assert per_split["train"] >= 1, (label, per_split)
        assert sum(per_split.values()) == count
        if count >= 3:
            assert per_split["validation"] >= 1 and per_split["test"] >= 1, (label, per_split)


def test_a_failing_split_write_publishes_nothing(local_env: Path, capsys, monkeypatch) -> None:
    """Every split is written before any is published: a fault on the last one leaves no train.parquet."""
    real = tables.take_rows
    calls: list[int] = []

    def third_fails(table: pa.Table, indices: list[int]) -> pa.Table:
        calls.append(len(indices))
        if len(calls) == 3:
            raise pa.ArrowNotImplementedError("Function 'array_take' has no kernel matching input types")
        return real(table, indices)

    monkeypatch.setattr(tables, "take_rows", third_fails)
    path = write_rows(local_env / "ok.csv", "ab" * 15)
    code, _, _ = run_cli(capsys, "load-training-data", "--run-id", "t", "--dataset-uri", str(path))
    assert code == EXIT_FAILURE and len(calls) == 3
    assert run_files(local_env) == []


# --- item 6: TSV without quoting, CSV line/row mismatches reported ---------------------------------


SMS = ['"lol see you', "ok then", 'he said "hi', "fine", 'bye"', 'say "what"', "last one", '""']


def test_tsv_with_stray_quotes_keeps_every_line_as_a_row(local_env: Path, capsys, caplog) -> None:
    texts = SMS * 4
    path = local_env / "sms.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{'ab'[i % 2]}\n" for i, t in enumerate(texts)))
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "t", "--dataset-uri", str(path))
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert sum(result["rows"].values()) == len(texts)
    read = [t for name in ("train", "validation", "test")
            for t in pq.read_table(Path(result["data_uri"]) / f"{name}.parquet")["text"].to_pylist()]
    assert sorted(read) == sorted(texts)  # quotes kept as typed
    assert "data lines were read as" not in caplog.text


def test_tsv_inference_input_keeps_every_line(local_env: Path) -> None:
    path = local_env / "sms.tsv"
    path.write_text("id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(SMS)))
    staged = staging.stage(str(path), local_env / "staged.parquet", load_settings())
    assert staged.rows == len(SMS)
    assert pq.read_table(local_env / "staged.parquet")["text"].to_pylist() == SMS


def test_tsv_with_a_tab_in_a_text_is_bad_input_not_a_merged_row(tmp_path: Path) -> None:
    path = tmp_path / "tabs.tsv"
    path.write_text("text\tlabel\nfine\ta\nhas\ta tab\tb\n")
    with pytest.raises(BadInputError, match=r"cannot read .* as TSV"):
        tables.read_table(path, "tsv", str(path))


def test_fully_quoted_tsv_is_read_with_quoting(tmp_path: Path) -> None:
    """A CSV writer's TSV (every field quoted, header too) keeps its quoted tabs and newlines."""
    path = tmp_path / "quoted.tsv"
    path.write_text('"text"\t"label"\n"has\ta tab"\t"a"\n"two\nlines"\t"b"\n"say ""hi"""\t"a"\n')
    assert tables.read_table(path, "tsv", str(path))["text"].to_pylist() == ["has\ta tab", "two\nlines", 'say "hi"']


def test_csv_lines_merged_by_a_stray_quote_are_reported(tmp_path: Path, caplog) -> None:
    path = tmp_path / "stray.csv"
    path.write_text('text,label\n"hi there,a\nok then,b\nanother,a\nfine,b\nwhat",a\nlast one,b\n')
    with caplog.at_level(logging.WARNING, logger="ml.data.tables"):
        table = tables.read_table(path, "csv", str(path))
    assert table.num_rows == 2
    assert "6 data lines were read as 2 CSV rows" in caplog.text


def test_csv_quoted_newline_is_read_and_reported(tmp_path: Path, caplog) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text('text,label\n"two\nlines",a\none line,b\n\n')
    with caplog.at_level(logging.WARNING, logger="ml.data.tables"):
        table = tables.read_table(path, "csv", str(path))
    assert table["text"].to_pylist() == ["two\nlines", "one line"]
    assert "3 data lines were read as 2 CSV rows" in caplog.text


def test_plain_csv_reports_no_mismatch(tmp_path: Path, caplog) -> None:
    path = write_rows(tmp_path / "plain.csv", "abab")
    path.write_text(path.read_text() + "\n\n")  # trailing blank lines are not rows
    with caplog.at_level(logging.WARNING, logger="ml.data.tables"):
        assert tables.read_table(path, "csv", str(path)).num_rows == 4
    assert "data lines were read as" not in caplog.text


# --- item 11: JSONL errors name the line -----------------------------------------------------------


def jsonl(path: Path, bad_line: int, bad: str, total: int = 300) -> Path:
    lines = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(total)]
    lines[bad_line - 1] = bad
    lines.insert(10, "")  # a blank line still counts as a line
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"text": "oops, "label": "a"}', "is not valid JSON: Expecting ',' delimiter at column 18"),
        ('{"text": "cut off"', "is not valid JSON: Expecting ',' delimiter at column 19"),
        ("[1, 2]", 'is not a JSON object like {"text": ...} (got a list)'),
    ],
)
def test_malformed_jsonl_line_is_reported_by_line_number(local_env: Path, capsys, bad: str, reason: str) -> None:
    path = jsonl(local_env / "bad.jsonl", 200, bad)
    code, out, err = run_cli(capsys, "load-training-data", "--run-id", "t", "--dataset-uri", str(path))
    assert code == EXIT_BAD_INPUT and out == ""
    line = error_line(err)
    assert line == f"error: cannot read {path} as JSONL: line 201 {reason}; fix or remove that line"
    assert "position" not in line
    assert run_files(local_env) == []


def test_malformed_jsonl_line_in_a_later_chunk(local_env: Path, monkeypatch) -> None:
    monkeypatch.setenv("ML_CHUNK_ROWS", "7")
    path = jsonl(local_env / "bad.jsonl", 250, "{nope}")
    with pytest.raises(BadInputError, match=r"line 251 is not valid JSON"):
        staging.stage(str(path), local_env / "staged.parquet", load_settings())
