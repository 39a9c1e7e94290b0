"""Calling the `python -m ml` CLI in-process from tests: its exit code, stdout, and its one error line."""

from __future__ import annotations

import pytest

from ml.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`python -m ml *argv` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(stderr: str) -> str:
    """The one `error: ...` line of a failed command (the contract: exactly one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]
