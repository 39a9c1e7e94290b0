"""Issue 17, item 10: a Hub model that cannot be had is one line: offline or not found exit 2 without a retry,
a network fault exit 75 after the retries ML_RETRY_ATTEMPTS allows."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ml.core.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT
from tests.ml.cli.test_first_hour_logs import run_step
from tests.ml.training.test_first_hour_training import separable_csv


@pytest.fixture
def staged(tmp_path: Path) -> str:
    """A loaded training split (the train step's input) in `tmp_path`."""
    loaded = run_step(tmp_path, "load-training-data", "--run-id", "r1", "--dataset-uri",
                      str(separable_csv(tmp_path / "small.csv", rows=60)))
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.splitlines()[-1])["data_uri"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_offline_unknown_hub_model_is_one_line_bad_input_without_retries(tmp_path: Path, staged: str) -> None:
    done = run_step(tmp_path, "train", "--run-id", "r1", "--data-uri", staged, "--base-model", "nobody/no-such-model",
                    HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and "HF_HUB_OFFLINE=1" in lines[0] and "nobody/no-such-model" in lines[0], done.stderr
    assert done.stderr.strip().splitlines()[-1] == lines[0], "the error is the last line, nothing after it"
    assert "Traceback" not in done.stderr
    assert "retrying" not in done.stderr  # the cache is asked, never the network (it was about 50 s of retries)


def test_unreachable_hub_is_transient_within_a_bound(tmp_path: Path, staged: str) -> None:
    """The bound is the retry policy's: ML_RETRY_ATTEMPTS=2 is two requests with one wait between them."""
    done = run_step(tmp_path, "train", "--run-id", "r1", "--data-uri", staged, "--base-model", "nobody/no-such-model",
                    HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HOME=str(tmp_path / "hf"))
    assert done.returncode == EXIT_TRANSIENT, done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and "unreachable" in lines[0] and "after 2 attempts" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("; retrying") == 1, done.stderr  # one wait, then the second and last attempt
